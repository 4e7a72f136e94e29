"""Rarification: test sets in which the words a classifier relies on become rare."""
from .candidates import split_candidates, substitutable_tokens
from .masking import MaskingResult, find_masks
from .pairs import make_pair_doc, pair_texts
from .rarifier import Replacement, RarifyStats, rarify, read_replacements, write_replacements
from .substitutions import Substitute, SubstitutionDictionary
from .wordnet import WordNet, load_wordnet

__all__ = [
    "MaskingResult", "RarifyStats", "Replacement", "Substitute", "SubstitutionDictionary",
    "WordNet", "find_masks", "load_wordnet", "make_pair_doc", "pair_texts", "rarify",
    "read_replacements", "split_candidates", "substitutable_tokens", "write_replacements",
]
