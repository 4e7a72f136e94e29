"""The contexts the `bertram` component reads: its corpus store plus the batch's own text.

The corpus store is opened read-only and never modified; `ContextStore` keeps one
connection per process, so the component pickles and forks without it. In-domain
text (the text around the rare tokens of the batch being processed) is sampled by
the store's own rule, as if it had been indexed into the store: a word gets the
`limit` contexts with the smallest sampling keys among its corpus contexts and the
batch's. Nothing carries over from one batch to the next, so a doc's vectors depend
only on the docs of its batch and on the store: not on earlier batches, on
`n_process`, or on the order of the docs within the batch.
"""
import sqlite3
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy
from spacy.strings import get_string_id
from spacy.tokens import Doc

from .batch import sample_keys, sentence_id
from .store import DEFAULT_MAX_CONTEXTS, DEFAULT_SEED, ContextStore, english_tokenizer, is_indexed_word, word_key

# Tokens on each side of a rare word that make its in-domain context when the doc
# has no sentence boundaries (bertram runs before any parser or senter).
CONTEXT_WINDOW = 32


class PipelineStore:
    """The corpus store of a pipeline (or none), read-only, with in-domain sampling.

    path: the store file: the configured `store_path` or the copy saved with the
        pipeline; None for no corpus store.
    """

    def __init__(self, path: Optional[Union[str, Path]]) -> None:
        self.path = None if path is None else Path(path)
        self._store: Optional[ContextStore] = None

    def open(self) -> Optional[ContextStore]:
        """The corpus store, opened read-only on first use; None when there is none."""
        if self._store is None and self.path is not None:
            if not self.path.exists():
                raise ValueError(
                    f"bertram: the context store '{self.path}' does not exist. Build it with "
                    f"`python -m spacy_bertram index CORPUS --store {self.path}`, fix store_path "
                    "in [components.bertram], or set store_path = null (with in_domain = true, "
                    "contexts then come from the texts the pipeline sees only)."
                )
            # None: keep the cap and seed recorded in the store.
            self._store = ContextStore(self.path, max_contexts_per_word=None, seed=None, read_only=True)
        return self._store

    def close(self) -> None:
        """Close the store; it reopens on next use."""
        if self._store is not None:
            self._store.close()
        self._store = None

    def contexts(self, words: Sequence[str], limit: int, in_domain: Sequence[str] = ()) -> Dict[str, List[str]]:
        """Up to `limit` contexts per word, from the store and the `in_domain` texts.

        Without in-domain text that is the store's own sample; with it, the sample
        the store would give had the texts been added to it (each text one sentence).
        """
        if not words:
            return {}
        store = self.open()
        found = store.contexts_many(words, limit=limit) if store is not None else {w: [] for w in words}
        texts = list(dict.fromkeys(t for t in (text.strip() for text in in_domain) if t))
        if not texts:
            return found
        cap, seed = (DEFAULT_MAX_CONTEXTS, DEFAULT_SEED) if store is None else (store.max_contexts_per_word, store.seed)
        tokens = [{token.lower_ for token in doc} for doc in english_tokenizer().pipe(texts)]
        for word in words:
            key = word_key(word)
            seen = [text for text, words_in in zip(texts, tokens) if key in words_in]
            if seen and is_indexed_word(key):
                found[word] = _smallest_keys(key, found[word] + seen, seed, min(limit, cap))
        return found

    def batch_contexts(
        self, words: Sequence[str], limit: int, docs: Sequence[Doc], rare: Optional[Sequence[Sequence[int]]]
    ) -> Dict[str, List[str]]:
        """The contexts a batch gives `words`: the store's, plus the text around the
        batch's rare tokens (`rare`: per doc, token indices; None: no in-domain text)."""
        in_domain = [] if rare is None else [c for doc, i in zip(docs, rare) for c in doc_contexts(doc, i)]
        return self.contexts(words, limit, in_domain)

    def copy_to(self, target: Union[str, Path]) -> None:
        """Copy the store consistently (even while open) into a self-contained file."""
        store = self.open()
        if store is None:
            raise ValueError("bertram: there is no context store to copy.")
        target = Path(target)
        if target.exists():
            if target.resolve() == store.path.resolve():  # saving where it was loaded from
                return
            target.unlink()
        source = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True)
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            source.close()
            copy.close()

    def __getstate__(self) -> Dict[str, Optional[Path]]:
        return {"path": self.path}

    def __setstate__(self, state: Dict[str, Optional[Path]]) -> None:
        self.__init__(state["path"])


def _smallest_keys(key: str, texts: List[str], seed: int, limit: int) -> List[str]:
    """The `limit` texts with the smallest sampling keys for the word, in key order."""
    texts = list(dict.fromkeys(texts))
    ids = numpy.fromiter((sentence_id(text) for text in texts), numpy.int64, len(texts))
    word_hashes = numpy.full(len(texts), get_string_id(key), dtype=numpy.uint64)
    order = numpy.argsort(sample_keys(word_hashes, ids, seed), kind="stable")[:limit]
    return [texts[i] for i in order]


def doc_contexts(doc: Doc, indices: Sequence[int]) -> List[str]:
    """The distinct in-domain contexts of a doc's tokens at `indices`."""
    return list(dict.fromkeys(_context_of(doc, i) for i in indices))


def _context_of(doc: Doc, i: int) -> str:
    """The token's sentence, else the doc, else (when too long) a window around it."""
    longest = 2 * CONTEXT_WINDOW + 1
    if doc.has_annotation("SENT_START"):
        sentence = doc[i].sent
        if len(sentence) <= longest:
            return sentence.text
    if len(doc) <= longest:
        return doc.text
    return doc[max(0, i - CONTEXT_WINDOW) : i + CONTEXT_WINDOW + 1].text
