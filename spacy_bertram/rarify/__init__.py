"""Rarification: test sets in which the words a classifier relies on become rare."""
from .candidates import split_candidates, substitutable_tokens
from .greedy_masking import MaskingResult, find_masks
from .rarifier import RarifyStats, Replacement, rarify, read_replacements, write_replacements
from .substitutions import Substitute, SubstitutionDictionary
from .wordnet import WordNet, load_wordnet

__all__ = [
    "MaskingResult", "RarifyStats", "Replacement", "Substitute", "SubstitutionDictionary",
    "WordNet", "find_masks", "load_wordnet", "rarify",
    "read_replacements", "split_candidates", "substitutable_tokens", "write_replacements",
]
