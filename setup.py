"""Packaging for spacy-bertram: BERTRAM rare-word vectors for spaCy transformer pipelines."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="spacy-bertram",
    version="0.1.0",
    description="BERTRAM rare-word input vectors for spaCy transformer pipelines",
    long_description=(HERE / "README.md").read_text(encoding="utf8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["spacy_bertram", "spacy_bertram.*"]),
    include_package_data=True,
    install_requires=[
        "spacy>=3.7,<4.1",
        "spacy-transformers>=1.4,<1.5",
        "transformers>=4.30,<4.53.3",
        "torch>=2.1",
        "thinc>=8.2,<9.0",
        "wordfreq>=3.0",
        "safetensors>=0.4",
        "numpy>=1.24",
        "tqdm>=4.60",
        "typer>=0.9",
    ],
    extras_require={
        "test": [
            "pytest>=7", "scipy>=1.10", "matplotlib>=3.7", "dask[distributed]>=2024.1", "nltk>=3.8", "build>=1.0",
            "ruff>=0.6", "codespell>=2.2",
        ],
        "eval": ["scipy>=1.10", "matplotlib>=3.7", "nltk>=3.8", "codespell>=2.2"],
        "dask": ["dask[distributed]>=2024.1"],
        "gpu": ["cupy-cuda12x>=12"],
    },
    entry_points={
        "spacy_factories": [
            "bertram = spacy_bertram.pipeline_component:make_bertram",
        ],
        "spacy_architectures": [
            "bertram.TransformerModel.v1 = spacy_bertram.layers.transformer_model:bertram_transformer_model_v1",
            "bertram.Tok2VecTransformer.v1 = spacy_bertram.layers.transformer_model:bertram_tok2vec_transformer_v1",
        ],
        "spacy_misc": [
            "bertram.WordfreqFrequency.v1 = spacy_bertram.frequency:make_wordfreq_frequency",
            "bertram.CorpusFrequency.v1 = spacy_bertram.frequency:make_corpus_frequency",
            "bertram.RareWordFilter.v1 = spacy_bertram.frequency:make_rare_word_filter",
            "bertram.RareWordFilter.v2 = spacy_bertram.frequency:make_rare_word_filter_v2",
            "bertram.SubstitutionDictionary.v1 = spacy_bertram.rarify.substitutions:make_substitution_dictionary",
        ],
        "spacy_augmenters": [
            "bertram.mask_slash_augmenter.v1 = spacy_bertram.augment:create_mask_slash_augmenter",
        ],
        "spacy_callbacks": [
            "bertram.prepare_transformers.v1 = spacy_bertram.attach:make_prepare_transformers",
        ],
        "console_scripts": ["spacy-bertram = spacy_bertram.cli:main"],
    },
    classifiers=[
        "Framework :: spaCy",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
