"""The substitution dictionary: rare stand-ins for a word, as synonyms or misspellings.

Synonyms come from the word's most frequent WordNet sense under its own part of speech,
inflected like the original and kept only if the frequency source calls them rare.
A fixed share of word types (chosen by a seeded hash, so the same word always gets the
same kind) is misspelled instead. Results are cached: a word's substitutes never change.
"""
import random
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.util import registry

from .inflection import analyse, inflect
from .misspell import MISSPELLERS, misspell, misspellable
from .wordnet import WordNet, load_wordnet

SYNONYM = "synonym"
MISSPELLING = "misspelling"


@dataclass(frozen=True)
class Substitute:
    """A rare stand-in for a word, with its kind and its frequency (None if unknown)."""

    text: str
    kind: str
    frequency: Optional[float]


PER_BILLION = 1e9


def word_frequency(source: Any, word: str) -> Optional[float]:
    """The word's count on the paper's scale: `source.count` (corpus counts) when the
    source has it, else `source.frequency` as occurrences per billion words (the size
    of BERTRAM's reference corpus); None for a source with neither."""
    count = getattr(source, "count", None)
    if callable(count):
        return float(count(word))
    frequency = getattr(source, "frequency", None)
    if callable(frequency):
        return round(float(frequency(word)) * PER_BILLION, 3)
    return None


def _match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class SubstitutionDictionary:
    """Rare synonyms and misspellings for words, deterministic under `seed`."""

    def __init__(
        self,
        frequency: Any,
        wordnet: Optional[WordNet] = None,
        misspelling_share: float = 0.5,
        misspelling_kinds: Sequence[str] = tuple(MISSPELLERS),
        seed: int = 0,
    ):
        if not callable(getattr(frequency, "is_rare", None)):
            raise TypeError(
                f"The frequency source {frequency!r} has no `is_rare(word)` method. Pass a "
                "FrequencySource such as the one built by \"bertram.WordfreqFrequency.v1\"."
            )
        if not 0.0 <= misspelling_share <= 1.0:
            raise ValueError(f"misspelling_share must lie in [0, 1], got {misspelling_share}.")
        self.frequency = frequency
        self.wordnet = wordnet if wordnet is not None else load_wordnet()
        self.misspelling_share = misspelling_share
        self.misspelling_kinds = tuple(misspelling_kinds)
        self.seed = seed
        self._cache: Dict[Tuple[str, Optional[str]], List[Substitute]] = {}

    def _hash(self, word: str) -> int:
        return zlib.crc32(f"{self.seed}\t{word.lower()}".encode("utf8"))

    def gets_misspelled(self, word: str) -> bool:
        """Whether this word type is misspelled rather than replaced by a synonym."""
        return self._hash(word) / 2**32 < self.misspelling_share

    def synonyms(self, word: str, tag: Optional[str] = None) -> List[str]:
        """Rare single-word synonyms of the word's most frequent sense, inflected alike."""
        if not word.isalpha():
            return []
        analysis = analyse(word, self.wordnet, tag)
        if analysis is None:
            return []
        found: List[str] = []
        for lemma in self.wordnet.first_sense_synonyms(analysis.lemma, analysis.pos):
            if not (lemma.isalpha() and lemma.islower()):
                continue  # multiword, hyphenated or proper-noun lemmas
            form = inflect(lemma, analysis, self.wordnet)
            if form and form != word.lower() and self.frequency.is_rare(form) and form not in found:
                found.append(form)
        return [_match_case(form, word) for form in found]

    def misspelling(self, word: str) -> Optional[str]:
        """A rare misspelling of the word (the same one on every call)."""
        if not misspellable(word):
            return None
        rng = random.Random(self._hash(word))
        return misspell(word, rng, self.misspelling_kinds, accept=self.frequency.is_rare)

    def substitutes(self, word: str, tag: Optional[str] = None) -> List[Substitute]:
        """The word's rare stand-ins: one misspelling, or its rare synonyms (maybe none)."""
        key = (word, tag)
        if key not in self._cache:
            if self.gets_misspelled(word):
                typo = self.misspelling(word)
                texts, kind = ([typo] if typo else []), MISSPELLING
            else:
                texts, kind = self.synonyms(word, tag), SYNONYM
            self._cache[key] = [
                Substitute(text, kind, word_frequency(self.frequency, text)) for text in texts
            ]
        return self._cache[key]


@registry.misc("bertram.SubstitutionDictionary.v1")
def make_substitution_dictionary(
    frequency: Any,
    wordnet_path: Optional[str] = None,
    misspelling_share: float = 0.5,
    misspelling_kinds: List[str] = list(MISSPELLERS),
    seed: int = 0,
) -> SubstitutionDictionary:
    """Config entry point: `[rarify.substitutions]` with a `frequency` source block."""
    return SubstitutionDictionary(
        frequency, load_wordnet(wordnet_path), misspelling_share, misspelling_kinds, seed
    )
