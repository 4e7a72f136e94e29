"""Counts and context samples of a chunk of text, mergeable in any order.

Sampling is bottom-k ("reservoir with random keys"): every (word, sentence) pair
gets a 63-bit key hashed from the seed, the word and the sentence text, and a word
keeps the `cap` pairs with the smallest keys. That is a uniform random sample
without replacement, deterministic for a seed, independent of the order in which
text arrives, and mergeable: the sample of a union is the bottom-k of the samples.
So a corpus indexed in one process, in parallel partitions, or in several runs gives
the same contexts, and memory stays bounded by vocabulary size x cap.
"""
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

import numpy

_MIX_1 = numpy.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = numpy.uint64(0x94D049BB133111EB)


def sentence_id(text: str) -> int:
    """A signed 64-bit id of a sentence's text (its SQLite row id, used to dedupe)."""
    digest = blake2b(text.encode("utf8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _mix(values: numpy.ndarray) -> numpy.ndarray:
    """splitmix64's finaliser: a fast, well-spread 64-bit hash of 64-bit ints."""
    x = values.astype(numpy.uint64, copy=True)
    x ^= x >> numpy.uint64(30)
    x *= _MIX_1
    x ^= x >> numpy.uint64(27)
    x *= _MIX_2
    x ^= x >> numpy.uint64(31)
    return x


def sample_keys(word_hashes: numpy.ndarray, sentence_ids: numpy.ndarray, seed: int) -> numpy.ndarray:
    """Non-negative int64 sampling keys of (word, sentence) pairs for a seed."""
    seeded = _mix(numpy.full(1, seed % 2**64, dtype=numpy.uint64))[0]
    words = _mix(word_hashes.astype(numpy.uint64) ^ seeded)
    mixed = _mix(words ^ sentence_ids.astype(numpy.int64).view(numpy.uint64))
    return (mixed >> numpy.uint64(1)).astype(numpy.int64)


def _bottom_k(groups: numpy.ndarray, keys: numpy.ndarray, cap: int) -> numpy.ndarray:
    """Indices of the rows with the `cap` smallest keys per group, sorted by (group, key)."""
    order = numpy.lexsort((keys, groups))
    return order[_first_of_runs(groups[order], cap)]


def _first_of_runs(sorted_groups: numpy.ndarray, cap: int) -> numpy.ndarray:
    """Mask of the first `cap` rows of each run of equal values in a sorted array."""
    if not len(sorted_groups):
        return numpy.zeros(0, bool)
    starts = numpy.flatnonzero(numpy.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    run_lengths = numpy.diff(numpy.r_[starts, len(sorted_groups)])
    ranks = numpy.arange(len(sorted_groups)) - numpy.repeat(starts, run_lengths)
    return ranks < cap


@dataclass
class CorpusSample:
    """Word counts and bottom-k context samples of some text.

    words/counts are aligned, in the order of word_hashes (ascending); pair_word
    indexes `words`; pair_key and pair_sentence give each sampled pair's key and
    sentence id; pairs are sorted by (pair_word, pair_key), so merging and writing
    need no full sort; `sentences` maps the sampled sentence ids to their text.
    """

    cap: int
    seed: int
    words: List[str] = field(default_factory=list)
    word_hashes: numpy.ndarray = field(default_factory=lambda: numpy.zeros(0, numpy.uint64))
    counts: numpy.ndarray = field(default_factory=lambda: numpy.zeros(0, numpy.int64))
    pair_word: numpy.ndarray = field(default_factory=lambda: numpy.zeros(0, numpy.int64))
    pair_key: numpy.ndarray = field(default_factory=lambda: numpy.zeros(0, numpy.int64))
    pair_sentence: numpy.ndarray = field(default_factory=lambda: numpy.zeros(0, numpy.int64))
    sentences: Dict[int, str] = field(default_factory=dict)
    n_tokens: int = 0
    n_sentences: int = 0

    @property
    def n_pairs(self) -> int:
        return len(self.pair_key)

    @classmethod
    def from_token_arrays(
        cls,
        sentences: Sequence[str],
        lower_hashes: Sequence[numpy.ndarray],
        lookup: Callable[[int], str],
        *,
        cap: int,
        seed: int,
        is_word: Callable[[str], bool],
        is_space: Callable[[str], bool],
    ) -> "CorpusSample":
        """Build a batch from sentences and their tokens' LOWER hashes (spaCy's)."""
        batch = cls(cap=cap, seed=seed, n_sentences=len(sentences))
        if not sentences:
            return batch
        ids = numpy.fromiter((sentence_id(s) for s in sentences), numpy.int64, len(sentences))
        lengths = numpy.fromiter((len(a) for a in lower_hashes), numpy.int64, len(sentences))
        if not lengths.sum():
            return batch
        hashes = numpy.concatenate(lower_hashes).astype(numpy.uint64)
        unique_ids, sentence_index = numpy.unique(ids, return_inverse=True)
        token_sentence = numpy.repeat(sentence_index, lengths)
        unique_hashes, token_word = numpy.unique(hashes, return_inverse=True)
        texts = [lookup(int(h)) for h in unique_hashes]
        word_mask = numpy.fromiter((is_word(t) for t in texts), bool, len(texts))
        space_mask = numpy.fromiter((is_space(t) for t in texts), bool, len(texts))
        all_counts = numpy.bincount(token_word, minlength=len(texts)).astype(numpy.int64)
        batch.n_tokens = int(all_counts[~space_mask].sum())
        # Re-index the word tokens onto the kept words only.
        new_index = numpy.cumsum(word_mask) - 1
        keep_tokens = word_mask[token_word]
        token_word = new_index[token_word[keep_tokens]]
        token_sentence = token_sentence[keep_tokens]
        batch.words = [t for t, keep in zip(texts, word_mask) if keep]
        batch.word_hashes = unique_hashes[word_mask]
        batch.counts = all_counts[word_mask]
        n_unique = numpy.int64(len(unique_ids))
        pairs = numpy.unique(token_word * n_unique + token_sentence)
        pair_word, pair_sentence_index = numpy.divmod(pairs, n_unique)
        pair_sentence = unique_ids[pair_sentence_index]
        pair_key = sample_keys(batch.word_hashes[pair_word], pair_sentence, seed)
        keep = _bottom_k(pair_word, pair_key, cap)
        batch.pair_word = pair_word[keep]
        batch.pair_key = pair_key[keep]
        batch.pair_sentence = pair_sentence[keep]
        text_of = dict(zip(ids.tolist(), sentences))
        batch.sentences = {int(i): text_of[int(i)] for i in numpy.unique(batch.pair_sentence)}
        return batch

    @classmethod
    def merge(cls, batches: Iterable["CorpusSample"]) -> "CorpusSample":
        """One batch with the summed counts and the bottom-k of all samples."""
        batches = [b for b in batches]
        if not batches:
            raise ValueError("CorpusSample.merge needs at least one batch.")
        cap, seed = batches[0].cap, batches[0].seed
        for other in batches[1:]:
            if (other.cap, other.seed) != (cap, seed):
                raise ValueError(
                    f"Cannot merge batches sampled with different settings: cap/seed "
                    f"{cap}/{seed} vs {other.cap}/{other.seed}. Index with one setting."
                )
        merged = cls(cap=cap, seed=seed)
        merged.n_tokens = sum(b.n_tokens for b in batches)
        merged.n_sentences = sum(b.n_sentences for b in batches)
        all_hashes = numpy.concatenate([b.word_hashes for b in batches])
        if not len(all_hashes):
            return merged
        unique_hashes, first, inverse = numpy.unique(all_hashes, return_index=True, return_inverse=True)
        all_words: List[str] = [w for b in batches for w in b.words]
        merged.words = [all_words[i] for i in first]
        merged.word_hashes = unique_hashes
        merged.counts = numpy.zeros(len(unique_hashes), numpy.int64)
        numpy.add.at(merged.counts, inverse, numpy.concatenate([b.counts for b in batches]))
        offsets = numpy.cumsum([0] + [len(b.words) for b in batches[:-1]])
        pair_word = numpy.concatenate([inverse[b.pair_word + off] for b, off in zip(batches, offsets)])
        pair_key = numpy.concatenate([b.pair_key for b in batches])
        pair_sentence = numpy.concatenate([b.pair_sentence for b in batches])
        order = numpy.lexsort((pair_key, pair_word))
        pair_word, pair_key, pair_sentence = pair_word[order], pair_key[order], pair_sentence[order]
        # The same pair from two batches (a repeated sentence) has the same key: keep one.
        distinct = numpy.r_[True, (pair_word[1:] != pair_word[:-1]) | (pair_key[1:] != pair_key[:-1])]
        pair_word, pair_key, pair_sentence = pair_word[distinct], pair_key[distinct], pair_sentence[distinct]
        keep = _first_of_runs(pair_word, cap)
        merged.pair_word = pair_word[keep]
        merged.pair_key = pair_key[keep]
        merged.pair_sentence = pair_sentence[keep]
        texts: Dict[int, str] = {}
        for b in batches:
            texts.update(b.sentences)
        merged.sentences = {int(i): texts[int(i)] for i in numpy.unique(merged.pair_sentence)}
        return merged

    def pair_rows(self, keep: numpy.ndarray) -> List[Tuple[str, int, int]]:
        """(word, key, sentence_id) rows of the pairs selected by a boolean mask, sorted
        by word text, then key: each word's run of pairs, the runs in text order."""
        words = self.words
        pair_word, pair_key, pair_sentence = self.pair_word[keep], self.pair_key[keep], self.pair_sentence[keep]
        by_text = numpy.array(sorted(range(len(words)), key=words.__getitem__), dtype=numpy.int64)
        starts = numpy.searchsorted(pair_word, by_text, side="left")
        lengths = numpy.searchsorted(pair_word, by_text, side="right") - starts
        before = numpy.cumsum(lengths) - lengths
        order = numpy.repeat(starts - before, lengths) + numpy.arange(int(lengths.sum()))
        return list(
            zip(
                map(words.__getitem__, pair_word[order].tolist()),
                pair_key[order].tolist(),
                pair_sentence[order].tolist(),
            )
        )
