"""The substitution dictionary: rare stand-ins for a word, as synonyms or misspellings.

Synonyms come from the word's most frequent WordNet sense under its own part of speech,
inflected like the original and kept only if the frequency source calls them rare.
As in BERTRAM (section 4), a seeded random `misspelling_share` (10%) of each sentence's
words take a misspelling instead: a rare one from a list of real misspellings
(`real_misspellings.py`), never from the generators that make training misspellings.
Results are cached: a word's substitutes never change.
"""
import random
import zlib
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.util import registry

from .inflection import analyse, inflect
from .real_misspellings import load_real_misspellings
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
    """Rare synonyms and real misspellings for the words of a sentence, deterministic under `seed`.

    misspellings: correction -> real misspellings (default: codespell's list).
    """

    def __init__(
        self,
        frequency: Any,
        wordnet: Optional[WordNet] = None,
        misspelling_share: float = 0.1,
        misspellings: Optional[Mapping[str, Sequence[str]]] = None,
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
        self.misspellings = misspellings if misspellings is not None else (
            load_real_misspellings() if misspelling_share > 0 else {}
        )
        self.seed = seed
        self._cache: Dict[Tuple[str, Optional[str], bool], List[Substitute]] = {}

    def misspelled_positions(self, doc: Doc) -> FrozenSet[int]:
        """The doc's words that take a misspelling: a seeded `misspelling_share` of its
        alphabetic tokens (rounded half up), the same for the same text."""
        words = [token.i for token in doc if token.is_alpha]
        k = int(self.misspelling_share * len(words) + 0.5)
        rng = random.Random(zlib.crc32(f"{self.seed}\t{doc.text}".encode("utf8")))
        return frozenset(rng.sample(words, k))

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

    def misspellings_of(self, word: str) -> List[str]:
        """The word's rare real misspellings, cased like the word."""
        typos = self.misspellings.get(word.lower(), ())
        return [_match_case(typo, word) for typo in typos if self.frequency.is_rare(typo)]

    def substitutes(self, word: str, tag: Optional[str] = None, misspelled: bool = False) -> List[Substitute]:
        """The word's rare stand-ins: its real misspellings if `misspelled`, else its rare synonyms."""
        key = (word, tag, misspelled)
        if key not in self._cache:
            if misspelled:
                texts, kind = self.misspellings_of(word), MISSPELLING
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
    misspelling_share: float = 0.1,
    seed: int = 0,
) -> SubstitutionDictionary:
    """Config entry point: `[rarify.substitutions]` with a `frequency` source block."""
    return SubstitutionDictionary(frequency, load_wordnet(wordnet_path), misspelling_share, seed=seed)
