"""Training words: frequent words with their contexts, from a context store or a TSV file.

BERTRAM learns to mimic the encoder's own embeddings of frequent words, so training
needs words that occur often (count >= 100 by default) and a few contexts for each.
Both sources go through `read_training_words`, which returns `{word: [context, ...]}`
in a deterministic order.
"""
import random
import re
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

WordContexts = Dict[str, List[str]]

_HAS_LETTER = re.compile(r"[^\W\d_]")


def is_trainable_word(word: str) -> bool:
    """Words worth mimicking: at least one letter, no whitespace (skips numbers, punctuation)."""
    return bool(word) and _HAS_LETTER.search(word) is not None and not any(c.isspace() for c in word)


def read_tsv_word_contexts(path: Union[str, Path]) -> Iterator[Tuple[str, List[str]]]:
    """Yield `(word, contexts)` from a `word<TAB>context<TAB>context...` file (UTF-8)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Training-word file not found: {path}. Pass a `word<TAB>context...` file "
            "or a context store built with `python -m spacy_bertram index`."
        )
    with path.open(encoding="utf8") as file:
        for line_no, line in enumerate(file, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            word, *contexts = line.split("\t")
            if not word.strip():
                raise ValueError(
                    f"{path}:{line_no}: empty word. Each line must be "
                    "`word<TAB>context<TAB>context...`."
                )
            yield word.strip().lower(), [c for c in contexts if c.strip()]


def _from_tsv(path: Path, min_contexts: int) -> Tuple[List[str], WordContexts]:
    merged: WordContexts = {}
    for word, contexts in read_tsv_word_contexts(path):
        merged.setdefault(word, []).extend(contexts)
    words = [w for w, c in merged.items() if is_trainable_word(w) and len(c) >= min_contexts]
    return words, merged


def _from_store(store, min_count: int) -> List[str]:
    return [word for word, _ in store.counts(min_count=min_count) if is_trainable_word(word)]


def read_training_words(
    source,
    *,
    min_count: int = 100,
    max_words: Optional[int] = None,
    max_contexts: Optional[int] = 32,
    min_contexts: int = 1,
    seed: int = 0,
    keep: Optional[Callable[[str], bool]] = None,
    stratum: Optional[Callable[[str], bool]] = None,
    stratum_share: Optional[float] = None,
) -> WordContexts:
    """Frequent words and up to `max_contexts` contexts each, from a store or a TSV file.

    `source` is a `ContextStore`, a path to a store (`*.sqlite`, `*.db`) or a path to a
    `word<TAB>context...` file. For a store, words with `count >= min_count` qualify; a
    TSV file is taken as already filtered (words with fewer than `min_contexts`
    contexts are dropped either way). `keep` filters the qualifying words before
    sampling (the trainer keeps only words the tokenizer splits: a word kept whole sits
    at its own row, which is its target). With `max_words`, a seeded random sample is
    kept, so training sees frequent words of every frequency band, not only function
    words; with `stratum` and `stratum_share` too, the words in the stratum (the
    trainer's: words the tokenizer splits) fill up to that share of the sample, the
    others the rest, so a scarce kind of word is not left to chance.
    The result is sorted by word, so the same inputs always give the same order.
    """
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be positive or None, got {max_words}.")
    if stratum_share is not None and not 0 <= stratum_share <= 1:
        raise ValueError(f"stratum_share must be in [0, 1] or None, got {stratum_share}.")
    if hasattr(source, "contexts_many"):
        words, contexts = _from_store(source, min_count), None
        store = source
    else:
        path = Path(source)
        if path.suffix.lower() in (".sqlite", ".sqlite3", ".db"):
            from ..contexts.store import ContextStore

            if not path.is_file():
                raise FileNotFoundError(
                    f"Context store not found: {path}. Build it with "
                    "`python -m spacy_bertram index CORPUS... --store PATH`."
                )
            with ContextStore(path, read_only=True) as opened:
                return read_training_words(
                    opened,
                    min_count=min_count,
                    max_words=max_words,
                    max_contexts=max_contexts,
                    min_contexts=min_contexts,
                    seed=seed,
                    keep=keep,
                    stratum=stratum,
                    stratum_share=stratum_share,
                )
        words, contexts = _from_tsv(path, min_contexts)
        store = None
    words = sorted({w for w in words if keep is None or keep(w)})
    if max_words is not None and len(words) > max_words:
        words = _sample(words, max_words, seed, stratum, stratum_share)
    if store is not None:
        contexts = store.contexts_many(words, limit=max_contexts)
    result: WordContexts = {}
    for word in words:
        kept = list(contexts.get(word, []))
        if max_contexts is not None:
            kept = kept[:max_contexts]
        if len(kept) >= min_contexts:
            result[word] = kept
    if not result:
        raise ValueError(
            f"No training words found in {source!r} (min_count={min_count}, "
            f"min_contexts={min_contexts}{', after the word filter' if keep else ''}). "
            "Index a larger corpus or lower --min-count."
        )
    return result


def _sample(
    words: List[str],
    size: int,
    seed: int,
    stratum: Optional[Callable[[str], bool]],
    share: Optional[float],
) -> List[str]:
    """A seeded sample of `size` sorted words; with a `stratum` and its `share`, the
    stratum's words fill up to that share of it (all of them if fewer), others the rest."""
    rng = random.Random(seed)
    if stratum is None or share is None:
        return sorted(rng.sample(words, size))
    inside, outside = _partition(words, stratum)
    return sorted(_sample_strata(inside, outside, size, round(share * size), rng))


def _partition(words: List[str], stratum: Callable[[str], bool]) -> Tuple[List[str], List[str]]:
    """(the words in the stratum, the others), each in the given order."""
    return [w for w in words if stratum(w)], [w for w in words if not stratum(w)]


def _sample_strata(inside: List[str], outside: List[str], size: int, wanted: int, rng: random.Random) -> List[str]:
    """`size` words: `wanted` of `inside` (as many as there are), `outside` the rest; where
    `outside` is short too, `inside` gives more."""
    n_outside = min(len(outside), size - min(len(inside), wanted))
    return rng.sample(inside, size - n_outside) + rng.sample(outside, n_outside)


def split_held_out(
    words_contexts: WordContexts,
    held_out: Union[int, float],
    seed: int = 0,
    stratum: Optional[Callable[[str], bool]] = None,
) -> Tuple[WordContexts, WordContexts]:
    """Split off held-out words (a count, or a fraction in (0, 1)) for evaluation.

    With a `stratum` predicate, the words in it and the others are held out in the
    same proportion (to rounding), so a scarce kind of word is held out at its share.
    """
    words = sorted(words_contexts)
    n = int(round(held_out * len(words))) if isinstance(held_out, float) and held_out < 1 else int(held_out)
    if n < 0 or n >= len(words):
        raise ValueError(
            f"held_out={held_out} leaves no training words out of {len(words)}; "
            "use a smaller held-out count or fraction."
        )
    rng = random.Random(seed)
    if stratum is None:
        chosen = set(rng.sample(words, n))
    else:
        inside, outside = _partition(words, stratum)
        chosen = set(_sample_strata(inside, outside, n, round(n * len(inside) / len(words)), rng))
    train = {w: words_contexts[w] for w in words if w not in chosen}
    held = {w: words_contexts[w] for w in words if w in chosen}
    return train, held
