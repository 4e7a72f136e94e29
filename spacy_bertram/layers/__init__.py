"""Injection of BERTRAM vectors into spacy-transformers models."""
from .transformer_model import (
    BertramTransformerModel,
    bertram_tok2vec_transformer_v1,
    bertram_transformer_model_v1,
)
from .wordpiece_edit import EditPieces, VectorSlots, insert_vector_slots, truncate_with_slots

__all__ = [
    "BertramTransformerModel",
    "bertram_transformer_model_v1",
    "bertram_tok2vec_transformer_v1",
    "EditPieces",
    "VectorSlots",
    "insert_vector_slots",
    "truncate_with_slots",
]
