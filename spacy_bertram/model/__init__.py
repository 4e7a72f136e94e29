"""The BERTRAM model: n-gram form embedding, frozen encoder, attentive mimicking."""
from .configuration_bertram import BertramConfig
from .inference import encode_context_vectors, infer_vectors
from .masking import ContextBatch, ContextTokenizer
from .modeling_bertram import BertramBatch, BertramModel, group_contexts
from .ngrams import NgramVocab, word_ngrams

__all__ = [
    "BertramBatch",
    "BertramConfig",
    "BertramModel",
    "ContextBatch",
    "ContextTokenizer",
    "NgramVocab",
    "encode_context_vectors",
    "group_contexts",
    "infer_vectors",
    "word_ngrams",
]
