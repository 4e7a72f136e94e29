"""What counts as a rare word: frequency sources and the filter of candidate tokens.

A `FrequencySource` answers `frequency(word)` (relative frequency, occurrences per
word of running text) and `is_rare(word)`. Two are provided:

- `WordfreqFrequency` (default): the `wordfreq` package's large multi-source lists.
  The default English threshold is Zipf 2.0, i.e. fewer than 100 occurrences per
  billion words. The paper calls a word rare when it occurs fewer than 100 times in
  its reference corpus, the ~1-billion-word Westbury Wikipedia Corpus; Zipf 2.0 is
  that same rate. Words wordfreq does not know have frequency 0 and are rare.
- `CorpusFrequency`: exact counts of the user's own corpus from a context store
  (`python -m spacy_bertram index`); rare means fewer than `min_count` (100, as in
  the paper) occurrences.

`RareWordFilter` decides which tokens may be rare at all (never punctuation,
numbers, URLs, e-mails or the encoder's special tokens).
"""
import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Union

import spacy
from spacy.lexeme import Lexeme
from spacy.tokens import Doc, Token

from .contexts.store import ContextStore, english_tokenizer
from .model.encoder import load_tokenizer

DEFAULT_ZIPF_THRESHOLD = 2.0
DEFAULT_MIN_COUNT = 100


class FrequencySource(ABC):
    """How often a word occurs, and whether that makes it rare."""

    @abstractmethod
    def frequency(self, word: str) -> float:
        """Occurrences of the word per word of running text (0.0 when unseen)."""

    @abstractmethod
    def is_rare(self, word: str) -> bool:
        """Whether the word is below the rarity threshold."""


class WordfreqFrequency(FrequencySource):
    """Frequencies from the `wordfreq` package.

    Give the threshold either as a Zipf value (`zipf_threshold`: log10 of
    occurrences per billion words) or as `count_threshold` occurrences per
    `per_words` words; a word is rare when strictly below it. Neither given:
    Zipf 2.0 (100 per billion words, the paper's definition).
    """

    def __init__(
        self,
        lang: str = "en",
        zipf_threshold: Optional[float] = None,
        count_threshold: Optional[float] = None,
        per_words: float = 1e9,
        wordlist: str = "best",
    ) -> None:
        import wordfreq

        available = wordfreq.available_languages(wordlist)
        if lang not in available:
            raise ValueError(
                f"wordfreq has no {wordlist!r} word list for language {lang!r}. "
                f"Choose one of: {', '.join(sorted(available))}."
            )
        if zipf_threshold is not None and count_threshold is not None:
            raise ValueError(
                "Give the rarity threshold either as zipf_threshold or as count_threshold "
                "(occurrences per per_words words), not both."
            )
        if per_words <= 0:
            raise ValueError(f"per_words must be positive, got {per_words}.")
        if count_threshold is not None:
            if count_threshold < 0:
                raise ValueError(f"count_threshold must be >= 0, got {count_threshold}.")
            self.max_frequency = count_threshold / per_words
        else:
            zipf = DEFAULT_ZIPF_THRESHOLD if zipf_threshold is None else zipf_threshold
            self.max_frequency = 10.0 ** zipf / 1e9
        self.lang = lang
        self.wordlist = wordlist
        self._cache: Dict[str, float] = {}

    @property
    def zipf_threshold(self) -> float:
        return math.log10(self.max_frequency * 1e9) if self.max_frequency > 0 else -math.inf

    def frequency(self, word: str) -> float:
        value = self._cache.get(word)
        if value is None:
            import wordfreq

            value = wordfreq.word_frequency(word, self.lang, wordlist=self.wordlist)
            self._cache[word] = value
        return value

    def zipf(self, word: str) -> float:
        """log10 of the word's occurrences per billion words (0.0 when unseen)."""
        freq = self.frequency(word)
        return math.log10(freq * 1e9) if freq > 0 else 0.0

    def is_rare(self, word: str) -> bool:
        return self.frequency(word) < self.max_frequency

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": {}}


class CorpusFrequency(FrequencySource):
    """Exact counts of the user's corpus, read from a context store.

    Counts are read once per word and kept, so a word's status stays stable while
    a pipeline adds in-domain text to the same store.
    """

    def __init__(self, store: Union[str, Path, ContextStore], min_count: int = DEFAULT_MIN_COUNT) -> None:
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {min_count!r}.")
        self.store = store if isinstance(store, ContextStore) else ContextStore(store, read_only=True)
        self.min_count = min_count
        self._counts: Dict[str, int] = {}
        self._total: Optional[int] = None

    def count(self, word: str) -> int:
        """Exact occurrences of the word in the indexed corpus."""
        value = self._counts.get(word)
        if value is None:
            value = self._counts[word] = self.store.count(word)
        return value

    def frequency(self, word: str) -> float:
        if self._total is None:
            self._total = self.store.total_tokens()
        return self.count(word) / self._total if self._total else 0.0

    def is_rare(self, word: str) -> bool:
        return self.count(word) < self.min_count

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_counts": {}, "_total": None}


def encoder_special_tokens(name_or_path: Union[str, Path]) -> List[str]:
    """The tokenizer's special tokens ([CLS], <s>, [MASK], ...)."""
    return list(load_tokenizer(name_or_path).all_special_tokens)


class RareWordFilter:
    """Which tokens may be rare at all.

    Callable on a spaCy Token or a plain string. Never rare: whitespace,
    punctuation, numbers, URLs, e-mail addresses and the encoder's special tokens.
    alpha_only (default): only purely alphabetic words; otherwise any word with a
    letter in it (e.g. "covid-19", "o'clock").
    """

    def __init__(self, alpha_only: bool = True, special_tokens: Iterable[str] = ()) -> None:
        self.alpha_only = alpha_only
        self.special_tokens = frozenset(special_tokens)

    @classmethod
    def from_encoder(cls, name_or_path: Union[str, Path], alpha_only: bool = True) -> "RareWordFilter":
        """A filter that never flags the encoder tokenizer's special tokens."""
        return cls(alpha_only=alpha_only, special_tokens=encoder_special_tokens(name_or_path))

    def __call__(self, word: Union[Token, str]) -> bool:
        if isinstance(word, Token):
            lex: Union[Token, Lexeme] = word
        elif isinstance(word, str):
            lex = english_tokenizer().vocab[word]
        else:
            raise TypeError(f"RareWordFilter takes a spaCy Token or a string, got {type(word).__name__}.")
        text = lex.text
        if not text or text in self.special_tokens:
            return False
        if lex.is_space or lex.is_punct or lex.like_num or lex.like_url or lex.like_email:
            return False
        if self.alpha_only:
            return text.isalpha()
        return any(c.isalpha() for c in text)


class RareTokens:
    """A pipeline's rarity decisions: a token is rare when the filter lets it be and the
    frequency source calls its text rare; decided once per text (the cache is bounded
    by the texts seen, and cleared with the component's)."""

    def __init__(self, frequency: FrequencySource, rare_filter: Callable[[Token], bool]) -> None:
        self.frequency, self.rare_filter = frequency, rare_filter
        self.known: Dict[str, bool] = {}

    def is_rare(self, text: str, token: Optional[Token] = None) -> bool:
        """Whether the word (the `token` of that text, when there is one) is rare."""
        if "\x00" in text:  # a NUL byte cannot be a store key (SQLite cuts strings there)
            return False
        return bool(self.rare_filter(text if token is None else token) and self.frequency.is_rare(text))

    def indices(self, doc: Doc) -> List[int]:
        """The indices of the doc's rare tokens."""
        known = self.known
        for token in doc:
            if token.text not in known:
                known[token.text] = self.is_rare(token.text, token)
        return [token.i for token in doc if known[token.text]]


@spacy.registry.misc("bertram.WordfreqFrequency.v1")
def make_wordfreq_frequency(
    lang: str = "en",
    zipf_threshold: Optional[float] = None,
    count_threshold: Optional[float] = None,
    per_words: float = 1e9,
    wordlist: str = "best",
) -> WordfreqFrequency:
    return WordfreqFrequency(lang, zipf_threshold, count_threshold, per_words, wordlist)


@spacy.registry.misc("bertram.CorpusFrequency.v1")
def make_corpus_frequency(store_path: str, min_count: int = DEFAULT_MIN_COUNT) -> CorpusFrequency:
    return CorpusFrequency(store_path, min_count=min_count)


@spacy.registry.misc("bertram.RareWordFilter.v2")
def make_rare_word_filter_v2(
    alpha_only: bool = True,
    encoder: Optional[str] = None,
    special_tokens: Optional[List[str]] = None,
) -> RareWordFilter:
    """With `encoder`, its tokenizer's special tokens are never rare either."""
    specials = list(special_tokens or [])
    if encoder is not None:
        specials += encoder_special_tokens(encoder)
    return RareWordFilter(alpha_only=alpha_only, special_tokens=specials)


@spacy.registry.misc("bertram.RareWordFilter.v1")
def make_rare_word_filter(
    alpha_only: bool = True,
    lowercase: Optional[bool] = None,
    encoder: Optional[str] = None,
    special_tokens: Optional[List[str]] = None,
) -> RareWordFilter:
    """v2 as configs saved by 0.1.0 name it; their `lowercase` never had an effect."""
    return make_rare_word_filter_v2(alpha_only, encoder, special_tokens)
