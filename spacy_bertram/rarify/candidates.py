"""Test candidates: docs with at least one content word that has a rare substitute.

Stop words are never substituted: a misspelled "the" says nothing about rare words.

Following BERTRAM section 4, docs holding a substitutable word are test candidates and
the rest train the baseline. If candidates would leave train with less than
`min_train_share` of the data, a seeded random part of them goes to train instead.
"""
import random
from typing import List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Token
from tqdm import tqdm

from .substitutions import Substitute, SubstitutionDictionary


def token_tag(token: Token) -> Optional[str]:
    """The token's in-sentence Penn Treebank tag when the doc is tagged, else None (the
    word's most frequent WordNet POS decides). A tag that names no WordNet POS (NNP,
    IN, ...) gives the word no synonym."""
    return token.tag_ or None


def token_substitutes(token: Token, substitutions: SubstitutionDictionary, misspelled: bool) -> List[Substitute]:
    """The token's rare stand-ins: misspellings if its position takes one, else synonyms."""
    return substitutions.substitutes(token.text, token_tag(token), misspelled)


def substitutable_tokens(doc: Doc, substitutions: SubstitutionDictionary) -> List[int]:
    """Indices of the doc's content words (no stop words) that have a rare substitute."""
    misspelled = substitutions.misspelled_positions(doc)
    return [t.i for t in doc if not t.is_stop and token_substitutes(t, substitutions, t.i in misspelled)]


def split_candidates(
    docs: Sequence[Doc],
    substitutions: SubstitutionDictionary,
    min_train_share: float = 1 / 3,
    seed: int = 0,
) -> Tuple[List[Doc], List[Doc]]:
    """Split docs into (train, test candidates), train keeping >= `min_train_share`."""
    if not 0.0 <= min_train_share <= 1.0:
        raise ValueError(f"min_train_share must lie in [0, 1], got {min_train_share}.")
    train: List[Doc] = []
    candidates: List[Doc] = []
    for doc in tqdm(docs, desc="candidates", unit="doc", disable=None):
        (candidates if substitutable_tokens(doc, substitutions) else train).append(doc)
    shortfall = int(-(-min_train_share * len(docs) // 1)) - len(train)
    if shortfall > 0:
        order = list(range(len(candidates)))
        random.Random(seed).shuffle(order)
        moved = set(order[:shortfall])
        train.extend(candidates[i] for i in sorted(moved))
        candidates = [doc for i, doc in enumerate(candidates) if i not in moved]
    return train, candidates
