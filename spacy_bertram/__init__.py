"""spacy-bertram: BERTRAM rare-word input vectors for spaCy transformer pipelines."""

__version__ = "0.1.0"
