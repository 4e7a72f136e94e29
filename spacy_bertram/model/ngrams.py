"""Character n-gram vocabulary for BERTRAM's form part.

A word is wrapped as `<word>` and cut into its n-grams (n = ngram_min..ngram_max).
An n-gram is kept when it occurs in at least `min_count` distinct word types. Id 0 is
padding, id 1 stands for every n-gram outside the vocabulary.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Union

PAD_ID = 0
UNK_ID = 1
NGRAMS_NAME = "ngrams.txt"
_HEADER = "#bertram-ngrams"


def word_ngrams(word: str, n_min: int = 3, n_max: int = 5, lowercase: bool = True) -> List[str]:
    """The character n-grams of `<word>`, shortest first, in order of position."""
    _check_word(word)
    text = "<" + (word.lower() if lowercase else word) + ">"
    return [text[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(text) - n + 1)]


class NgramVocab:
    """Maps character n-grams to embedding ids; saved as a plain text file."""

    def __init__(
        self, ngrams: Iterable[str], n_min: int = 3, n_max: int = 5, lowercase: bool = True
    ) -> None:
        self.n_min, self.n_max, self.lowercase = n_min, n_max, lowercase
        self.ngrams: List[str] = []
        self.index: Dict[str, int] = {}
        for ngram in ngrams:
            if not isinstance(ngram, str) or not ngram or "\n" in ngram or "\r" in ngram:
                raise ValueError(
                    f"An n-gram must be a non-empty one-line string, got {ngram!r}."
                )
            if ngram not in self.index:
                self.index[ngram] = len(self.ngrams) + 2
                self.ngrams.append(ngram)

    @classmethod
    def build(
        cls,
        words: Iterable[str],
        min_count: int = 2,
        n_min: int = 3,
        n_max: int = 5,
        lowercase: bool = True,
    ) -> "NgramVocab":
        """Keep the n-grams seen in at least `min_count` distinct word types of `words`."""
        if isinstance(words, str):
            raise TypeError("`words` must be an iterable of words, not a single string.")
        types = {w.lower() if lowercase else w for w in words if _check_word(w)}
        counts: Counter = Counter()
        for word in types:
            counts.update(set(word_ngrams(word, n_min, n_max, lowercase)))
        kept = sorted(
            (g for g, c in counts.items() if c >= min_count and "\n" not in g and "\r" not in g),
            key=lambda g: (-counts[g], g),
        )
        return cls(kept, n_min=n_min, n_max=n_max, lowercase=lowercase)

    def __len__(self) -> int:
        """Number of embedding rows, PAD and UNK included."""
        return len(self.ngrams) + 2

    def __contains__(self, ngram: str) -> bool:
        return ngram in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NgramVocab) and (
            self.ngrams, self.n_min, self.n_max, self.lowercase
        ) == (other.ngrams, other.n_min, other.n_max, other.lowercase)

    def encode(self, word: str) -> List[int]:
        """Ids of the word's n-grams (UNK for unseen ones); never empty."""
        grams = word_ngrams(word, self.n_min, self.n_max, self.lowercase)
        return [self.index.get(g, UNK_ID) for g in grams] or [UNK_ID]

    def encode_batch(self, words: Sequence[str]) -> List[List[int]]:
        return [self.encode(w) for w in words]

    def save(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / NGRAMS_NAME
        header = f"{_HEADER} n_min={self.n_min} n_max={self.n_max} lowercase={int(self.lowercase)}"
        path.write_text("\n".join([header, *self.ngrams]) + "\n", encoding="utf8")
        return path

    @classmethod
    def load(cls, path: Union[str, Path]) -> "NgramVocab":
        path = Path(path)
        if path.is_dir():
            path = path / NGRAMS_NAME
        if not path.is_file():
            raise FileNotFoundError(f"No n-gram vocabulary at {path}; re-save the model.")
        try:
            lines = path.read_text(encoding="utf8").split("\n")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path} is not UTF-8 text ({err}); re-save the model.") from err
        head = lines[0].split()
        try:
            if head[0] != _HEADER:
                raise ValueError
            opts = dict(item.split("=", 1) for item in head[1:])
            n_min, n_max, lowercase = int(opts["n_min"]), int(opts["n_max"]), opts["lowercase"]
        except (ValueError, KeyError, IndexError):
            raise ValueError(
                f"{path} does not start with a '{_HEADER} n_min=.. n_max=.. lowercase=..' "
                f"header line; it is not an n-gram vocabulary written by NgramVocab.save."
            ) from None
        ngrams = lines[1:-1] if lines[-1] == "" else lines[1:]
        return cls(ngrams, n_min=n_min, n_max=n_max, lowercase=lowercase == "1")


def _check_word(word: object) -> bool:
    if not isinstance(word, str):
        raise TypeError(f"A word must be a string, got {type(word).__name__} {word!r}.")
    if not word.strip():
        raise ValueError(f"A word must be non-empty and not only whitespace, got {word!r}.")
    return True
