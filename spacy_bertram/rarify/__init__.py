"""Rarification: test sets in which the words a classifier relies on become rare."""
from .candidates import split_candidates, substitutable_tokens
from .greedy_masking import MaskingResult, find_masks
from .rarifier import RarifyStats, Replacement, rarify, read_replacements, write_replacements
from .substitutions import Substitute, SubstitutionDictionary
from .tagging import load_tagger, tag_docs
from .wordnet import WordNet, load_wordnet

__all__ = [
    "MaskingResult", "RarifyStats", "Replacement", "Substitute", "SubstitutionDictionary",
    "WordNet", "find_masks", "load_tagger", "load_wordnet", "rarify",
    "read_replacements", "split_candidates", "substitutable_tokens", "tag_docs", "write_replacements",
]
