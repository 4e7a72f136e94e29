"""The corpus indexer: counts every word of a corpus and samples its contexts into a store.

Each source (a file or zip member) is read, sentence-split, tokenized in batches,
and reduced to a `CorpusSample` (exact counts + bottom-k samples, so memory stays
bounded by vocabulary x cap whatever the corpus size). Samples are merged into the
store together with the record of their sources in one transaction, which claims
the sources' content digests: a re-run skips what is indexed, an interrupted run
loses or doubles nothing, and when several processes index the same sources at
once, the one that writes second re-reads only the sources still unclaimed. A
content given twice (the same path twice, identical files) counts once.

A source whose name the store records with other content (an edited file) is
refused: a store holds sums, not per-source contributions, so the old text cannot
be taken out. Rebuild the store (a new store path) from the current corpus.
The store's own files are never read as corpus, even when it lies inside it.

Engines: "local" (this machine: tasks of sources counted and sampled by `workers`
forked processes while this one merges and writes, by default one per CPU this
process may use; or all in this process with one worker) and "dask" (partitions
of sources counted and sampled on a Dask cluster, merged into the store as they
finish). Bottom-k samples are order-independent, so
every engine and worker count gives the same store.
"""
import multiprocessing
import os
import sys
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, LOWER, ORTH
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc
from tqdm import tqdm

from .batch import CorpusSample
from .readers import Source, is_presplit, list_sources, read_docs, read_texts
from .store import (
    ContextStore,
    SourceRecord,
    SourcesAlreadyIndexed,
    doc_sentences,
    english_tokenizer,
    make_batch,
    store_files,
)

ENGINES = ("local", "dask")
DEFAULT_BATCH_SIZE = 5_000
# Pending samples are written to the store once they hold this many pairs.
FLUSH_PAIRS = 1_000_000
# Text bytes per task of a local worker process; less text than two tasks is indexed in-process.
TASK_BYTES = 1 << 20


def index_corpus(
    paths: Union[str, Path, Iterable[Union[str, Path]]],
    store_path: Union[str, Path],
    *,
    format: str = "auto",
    members: Union[str, Sequence[str], None] = None,
    max_contexts_per_word: Optional[int] = None,
    seed: Optional[int] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    engine: str = "local",
    scheduler: Any = None,
    n_partitions: Optional[int] = None,
    flush_pairs: int = FLUSH_PAIRS,
    workers: Optional[int] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Index corpus files, folders or zips into the context store at `store_path`.

    format/members: see `readers.py`. max_contexts_per_word/seed: settings of a new
    store (None: 256 and 0); an existing store keeps its own. engine "dask" needs `scheduler` (an address
    such as "tcp://host:8786", or a `distributed.Client`). flush_pairs: sampled
    pairs held in memory before they are written (local engine; smaller means
    less memory and more, smaller transactions). workers: forked processes of the
    local engine (Linux only; 1: all in this process; None: `default_workers()`).
    Returns a summary (sources indexed and skipped, sentences, tokens, seconds,
    tokens per second, workers).
    """
    if engine not in ENGINES:
        raise ValueError(f"Unknown engine {engine!r}; choose one of {', '.join(ENGINES)}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if flush_pairs < 1:
        raise ValueError(f"flush_pairs must be positive, got {flush_pairs}.")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be positive, got {workers}.")
    if workers > 1 and not sys.platform.startswith("linux"):
        raise ValueError("workers > 1 needs forked processes (Linux); use --workers 1 here, or the dask engine.")
    sources = list_sources(paths, format=format, members=members, exclude=store_files(store_path))
    store = ContextStore(store_path, max_contexts_per_word=max_contexts_per_word, seed=seed)
    todo = _unindexed(sources, store)
    start = time.perf_counter()
    bar = tqdm(desc="Indexing", unit="tok", unit_scale=True, disable=not progress)
    try:
        if engine == "local":
            done = _index_local(todo, store, batch_size, flush_pairs, bar, workers)
        else:
            if scheduler is None:
                raise ValueError("The dask engine needs a scheduler: pass --scheduler tcp://HOST:PORT (or a Client).")
            done = _index_dask(todo, store, batch_size, bar, scheduler, n_partitions)
    finally:
        bar.close()
    store.compact()
    seconds = time.perf_counter() - start
    tokens = sum(r.tokens for r in done)
    summary = {
        "sources_indexed": len(done),
        "sources_skipped": len(sources) - len(done),
        "sentences": sum(r.sentences for r in done),
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds) if seconds > 0 else 0,
        "workers": workers if engine == "local" else None,
        "store": store.stats(),
    }
    store.close()
    return summary


def default_workers() -> int:
    """The local engine's processes when none are given: one per CPU this process may
    use on Linux (workers fork), else 1."""
    if not sys.platform.startswith("linux"):
        return 1
    return max(1, len(os.sched_getaffinity(0)))


def _unindexed(sources: Sequence[Source], store: ContextStore) -> List[Source]:
    """The sources whose content the store lacks, each distinct content once;
    refuses a source whose name the store records with other content."""
    distinct: Dict[str, Source] = {}
    for source in sources:
        distinct.setdefault(source.digest, source)
    recorded = store.recorded_sources(distinct, [s.name for s in sources])
    by_name = {s.name: s for s in sources}
    for record in recorded:
        if record.digest not in distinct and record.name in by_name:
            raise ValueError(
                f"{record.name} changed since it was indexed into {store.path}; a store cannot take "
                f"the old text out, so re-indexing would count its unchanged text twice. Index the "
                f"corpus into a new store path (or delete {store.path} and rebuild it)."
            )
    indexed = {record.digest for record in recorded}
    return [source for digest, source in distinct.items() if digest not in indexed]


def source_sentences(source: Source) -> Iterator[Tuple[str, numpy.ndarray, int]]:
    """(text, LOWER hashes, number of non-space tokens) of each sentence of a source."""
    tokenizer = english_tokenizer()
    if source.format == "docbin":
        for doc in read_docs(source, tokenizer.vocab):
            if doc.has_annotation("SENT_START"):
                spaces = doc.to_array(IS_SPACE)
                for text, lowers, start, end in doc_sentences(doc):
                    yield text, lowers, int(end - start - spaces[start:end].sum())
            else:
                yield from split_sentences([doc.text], [doc])
    elif is_presplit(source):
        for texts in _chunks(read_texts(source), 1000):
            # The tokenizer keeps every character, so a text is its doc's text.
            for text, doc in zip(texts, tokenizer.pipe(texts)):
                columns = doc.to_array([LOWER, IS_SPACE])
                yield text, columns[:, 0], len(doc) - int(columns[:, 1].sum())
    else:
        for texts in _chunks(read_texts(source), 1000):
            yield from split_sentences(texts, list(tokenizer.pipe(texts)))


def _chunks(items: Iterable[str], size: int) -> Iterator[List[str]]:
    chunk: List[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_SPLIT_ATTRS = [LOWER, ORTH, IS_PUNCT, IS_SPACE, IDX, LENGTH]


def split_sentences(texts: Sequence[str], docs: Sequence[Doc]) -> Iterator[Tuple[str, numpy.ndarray, int]]:
    """Sentences of tokenized texts, split exactly where spaCy's rule-based
    `sentencizer` splits, but on the token arrays of many docs at once: no
    pipeline, no Python per token.

    A sentence starts at each doc's first token and at the first non-punctuation
    token after a sentence-final character ("." "!" "?" ...), so closing quotes
    and brackets stay with the sentence they end.
    """
    kept = [(text, doc) for text, doc in zip(texts, docs) if len(doc)]
    if not kept:
        return
    columns = numpy.concatenate([doc.to_array(_SPLIT_ATTRS) for _, doc in kept])
    lengths = numpy.array([len(doc) for _, doc in kept])
    doc_starts = numpy.r_[0, numpy.cumsum(lengths)[:-1]]
    final = numpy.isin(columns[:, 1], _final_punct_hashes(kept[0][1].vocab.strings))
    seen = numpy.cumsum(final)
    words = numpy.flatnonzero(~(columns[:, 2].astype(bool) | final))
    word_doc = numpy.searchsorted(doc_starts, words, side="right") - 1
    # Final characters seen before each word, since the previous word of the same doc.
    seen_before_doc = seen[doc_starts] - final[doc_starts]
    previous = numpy.r_[-1, words[:-1]]
    same_doc = numpy.r_[False, word_doc[1:] == word_doc[:-1]]
    baseline = numpy.where(same_doc, seen[numpy.maximum(previous, 0)], seen_before_doc[word_doc])
    starts = numpy.union1d(doc_starts, words[seen[words] > baseline])
    ends = numpy.r_[starts[1:], len(columns)]
    sentence_doc = numpy.searchsorted(doc_starts, starts, side="right") - 1
    for start, end, d in zip(starts.tolist(), ends.tolist(), sentence_doc.tolist()):
        last = end - 1
        sentence = kept[d][0][columns[start, 4] : columns[last, 4] + columns[last, 5]].strip()
        if sentence:
            yield sentence, columns[start:end, 0], int(end - start - columns[start:end, 3].sum())


def _final_punct_hashes(strings: Any) -> numpy.ndarray:
    return numpy.array([strings.add(c) for c in Sentencizer.default_punct_chars], dtype=numpy.uint64)


class _PendingBatches:
    """Batches waiting for the store, merged (pruned to the cap) whenever their pairs
    have doubled since the last merge: memory stays bounded, merging cost linear."""

    def __init__(self, cap: int, seed: int) -> None:
        self.cap, self.seed = cap, seed
        self.batches: List[CorpusSample] = []
        self.pairs = self.merged_pairs = 0

    def add(self, batch: CorpusSample) -> None:
        self.batches.append(batch)
        self.pairs += batch.n_pairs
        if self.pairs > max(FLUSH_PAIRS, 2 * self.merged_pairs):
            self.batches = [self.merged()]
            self.pairs = self.merged_pairs = self.batches[0].n_pairs

    def merged(self) -> CorpusSample:
        return CorpusSample.merge(self.batches) if self.batches else CorpusSample(cap=self.cap, seed=self.seed)


Flush = Callable[[CorpusSample, List[SourceRecord]], None]


def _index_into(
    sources: Sequence[Source],
    cap: int,
    seed: int,
    batch_size: int,
    flush: Flush,
    flush_pairs: float,
    bar: Optional[tqdm] = None,
) -> None:
    """Read, tokenize and sample sources in batches that may span sources; hand the
    merged samples to `flush` at source boundaries with the records of whole sources
    (once `flush_pairs` pairs are pending)."""
    strings = english_tokenizer().vocab.strings
    pending = _PendingBatches(cap, seed)
    records: List[SourceRecord] = []
    texts: List[str] = []
    arrays: List[numpy.ndarray] = []
    chunk_tokens = 0

    def close_chunk() -> None:
        nonlocal texts, arrays, chunk_tokens
        if texts:
            pending.add(make_batch(texts, arrays, strings.__getitem__, cap, seed))
            if bar is not None:
                bar.update(chunk_tokens)
        texts, arrays, chunk_tokens = [], [], 0

    for source in sources:
        n_sentences = n_tokens = 0
        for text, lowers, tokens in source_sentences(source):
            texts.append(text)
            arrays.append(lowers)
            chunk_tokens += tokens
            n_sentences += 1
            n_tokens += tokens
            if len(texts) >= batch_size:
                close_chunk()
        records.append(SourceRecord(source.digest, source.name, n_sentences, n_tokens))
        if bar is not None:
            bar.set_postfix(sources=len(records), refresh=False)
        if pending.pairs + chunk_tokens >= flush_pairs:  # a chunk has fewer pairs than tokens
            close_chunk()
            flush(pending.merged(), records)
            pending, records = _PendingBatches(cap, seed), []
    close_chunk()
    if records:
        flush(pending.merged(), records)


def index_sources(
    sources: Sequence[Source], cap: int, seed: int, batch_size: int
) -> Tuple[CorpusSample, List[SourceRecord]]:
    """One merged batch for some sources, and their records (a Dask partition's task)."""
    results: List[Tuple[CorpusSample, List[SourceRecord]]] = []
    _index_into(sources, cap, seed, batch_size, lambda b, r: results.append((b, r)), float("inf"))
    return results[0] if results else (CorpusSample(cap=cap, seed=seed), [])


def _store_sample(
    store: ContextStore, batch: CorpusSample, records: List[SourceRecord], todo: Sequence[Source], batch_size: int
) -> List[SourceRecord]:
    """Write a sample with its sources' records; if another process claimed some of
    them meanwhile, re-read the others and write them alone. Returns what was written."""
    by_digest = {source.digest: source for source in todo}
    while records:
        try:
            store.add_batch(batch, records)
            return records
        except SourcesAlreadyIndexed as taken:
            rest = [by_digest[r.digest] for r in records if r.digest not in taken.digests]
            batch, records = index_sources(rest, store.max_contexts_per_word, store.seed, batch_size)
    return []


def _index_local(
    todo: Sequence[Source], store: ContextStore, batch_size: int, flush_pairs: int, bar: tqdm, workers: int
) -> List[SourceRecord]:
    done: List[SourceRecord] = []

    def flush(batch: CorpusSample, records: List[SourceRecord]) -> None:
        done.extend(_store_sample(store, batch, records, todo, batch_size))

    cap, seed = store.max_contexts_per_word, store.seed
    tasks = _tasks(todo)
    if workers == 1 or len(tasks) < 2:
        _index_into(todo, cap, seed, batch_size, flush, flush_pairs, bar)
        return done
    pending, records = _PendingBatches(cap, seed), []
    for batch, task_records in _forked_results(tasks, min(workers, len(tasks)), cap, seed, batch_size):
        pending.add(batch)
        records.extend(task_records)
        bar.update(sum(r.tokens for r in task_records))
        if pending.pairs >= flush_pairs:
            flush(pending.merged(), records)
            pending, records = _PendingBatches(cap, seed), []
    if records:
        flush(pending.merged(), records)
    return done


def _tasks(sources: Sequence[Source]) -> List[List[Source]]:
    """Runs of consecutive sources of about TASK_BYTES each."""
    tasks: List[List[Source]] = []
    size = TASK_BYTES
    for source in sources:
        if size >= TASK_BYTES:
            tasks.append([])
            size = 0
        tasks[-1].append(source)
        size += source.size
    return tasks


def _forked_results(
    tasks: Sequence[List[Source]], workers: int, cap: int, seed: int, batch_size: int
) -> Iterator[Tuple[CorpusSample, List[SourceRecord]]]:
    """`index_sources` of each task in forked worker processes, in task order, with
    at most two tasks per worker in flight (bounded memory)."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    futures: "deque[Future]" = deque()
    try:
        for task in tasks:
            futures.append(pool.submit(index_sources, task, cap, seed, batch_size))
            if len(futures) > 2 * workers:
                yield futures.popleft().result()
        while futures:
            yield futures.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _partitions(sources: Sequence[Source], n: int) -> List[List[Source]]:
    """Split sources into n groups of similar size (largest first, into the lightest)."""
    groups: List[List[Source]] = [[] for _ in range(n)]
    loads = [0] * n
    for source in sorted(sources, key=lambda s: -s.size):
        lightest = loads.index(min(loads))
        groups[lightest].append(source)
        loads[lightest] += source.size
    return [g for g in groups if g]


def _index_dask(
    todo: Sequence[Source],
    store: ContextStore,
    batch_size: int,
    bar: tqdm,
    scheduler: Any,
    n_partitions: Optional[int],
) -> List[SourceRecord]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as err:
        raise ImportError("The dask engine needs dask.distributed: pip install 'spacy-bertram[dask]'.") from err
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        if n_partitions is None:
            n_partitions = 4 * max(1, sum(client.nthreads().values()))
        groups = _partitions(todo, min(n_partitions, len(todo))) if todo else []
        futures = [
            client.submit(index_sources, group, store.max_contexts_per_word, store.seed, batch_size, pure=False)
            for group in groups
        ]
        done: List[SourceRecord] = []
        for future in as_completed(futures):
            batch, records = future.result()
            done.extend(_store_sample(store, batch, records, todo, batch_size))
            bar.update(sum(r.tokens for r in records))
            future.release()
    finally:
        if client is not scheduler:
            client.close()
    return done
