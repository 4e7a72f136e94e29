"""Doc and Token attributes that the `bertram` component writes and the injection layer reads.

`Doc._.bertram_vectors` is the single source of truth: token index -> float32 vector
in the encoder's input-embedding space. `Doc._.bertram_rare` lists the token indices
flagged rare (a rare word may have no vector, e.g. when no model is loaded).
"""
from typing import Dict, List, Optional

import numpy
from spacy.tokens import Doc, Token


def _token_is_rare(token: Token) -> bool:
    return token.i in (token.doc._.bertram_rare or ())


def _token_vector(token: Token) -> Optional[numpy.ndarray]:
    vectors: Optional[Dict[int, numpy.ndarray]] = token.doc._.bertram_vectors
    return None if not vectors else vectors.get(token.i)


def register_extensions() -> None:
    """Register the attributes (done once, when this module is imported)."""
    if not Doc.has_extension("bertram_vectors"):
        Doc.set_extension("bertram_vectors", default=None)
    if not Doc.has_extension("bertram_rare"):
        Doc.set_extension("bertram_rare", default=None)
    if not Token.has_extension("is_rare"):
        Token.set_extension("is_rare", getter=_token_is_rare)
    if not Token.has_extension("bertram_vector"):
        Token.set_extension("bertram_vector", getter=_token_vector)


def doc_vectors(doc: Doc) -> Dict[int, numpy.ndarray]:
    """The doc's rare-word vectors ({} when the component has not run or found none)."""
    return doc._.bertram_vectors or {}


def set_doc_vectors(doc: Doc, rare: List[int], vectors: Dict[int, numpy.ndarray]) -> None:
    doc._.bertram_rare = list(rare)
    doc._.bertram_vectors = dict(vectors)


register_extensions()
