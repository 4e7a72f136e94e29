"""Contexts of words: the SQLite context store and the corpus indexer that fills it."""
from .batch import CorpusSample
from .indexer import index_corpus
from .store import ContextStore, english_tokenizer, word_key

__all__ = ["ContextStore", "CorpusSample", "english_tokenizer", "index_corpus", "word_key"]
