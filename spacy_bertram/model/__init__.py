"""The BERTRAM model: n-gram form embedding, frozen encoder, attentive mimicking."""
from .configuration_bertram import BertramConfig
from .encoder import load_encoder, load_tokenizer, word_pieces
from .inference import encode_context_vectors, infer_vectors
from .masking import ContextTokenizer, EncodedContexts
from .modeling_bertram import BertramBatch, BertramModel, WordpieceBase, group_contexts
from .ngrams import NgramVocab, word_ngrams

__all__ = [
    "BertramBatch",
    "BertramConfig",
    "BertramModel",
    "ContextTokenizer",
    "EncodedContexts",
    "NgramVocab",
    "WordpieceBase",
    "encode_context_vectors",
    "group_contexts",
    "infer_vectors",
    "load_encoder",
    "load_tokenizer",
    "word_ngrams",
    "word_pieces",
]
