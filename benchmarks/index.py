"""Benchmark the corpus indexer and the context store's bulk lookup.

Prints (1) indexing throughput in tokens/s on the demo corpus (Brown + movie
reviews), as a ratio to spaCy's tokenizer alone over the same text units, timed in
the same run; (2) `contexts_many` latency for 1,000 words, against 1,000 single
`contexts` calls.

    cd /work/main && PYTHONPATH=. python benchmarks/index.py --every 4
"""
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import typer

from spacy_bertram.contexts import ContextStore, index_corpus
from spacy_bertram.contexts.readers import list_sources, read_texts
from spacy_bertram.contexts.store import english_tokenizer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nltk"
DEMO_CORPUS = [DATA / "brown.zip", DATA / "movie_reviews.zip"]


def main(
    corpus: List[Path] = typer.Argument(None, help="Corpus paths (default: Brown + movie_reviews)."),
    every: int = typer.Option(1, "--every", help="Index every n-th source only, for a shorter run."),
    n_words: int = typer.Option(1000, "--words", help="Words per contexts_many call."),
    limit: int = typer.Option(32, "--limit", help="Contexts per word in the lookup benchmark."),
    repeats: int = typer.Option(5, "--repeats"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Indexer processes (default: one per usable CPU)."),
) -> None:
    paths = corpus or DEMO_CORPUS
    sources = list_sources(paths)[::every]
    english_tokenizer()  # load spaCy before timing anything
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        units = [list(read_texts(s)) for s in sources]
        read_seconds = time.perf_counter() - start
        start = time.perf_counter()
        tokens = 0
        for texts in units:
            tokens += sum(len(doc) for doc in english_tokenizer().pipe(texts, batch_size=1000))
        tokenizer_seconds = time.perf_counter() - start + read_seconds

        store_path = Path(tmp) / "bench.db"
        members = sorted({s.member for s in sources if s.member is not None})
        summary = index_corpus(paths, store_path, members=members, workers=workers, progress=False)
        if summary["sources_indexed"] != len(sources):
            raise RuntimeError(f"indexed {summary['sources_indexed']} sources, expected {len(sources)}")
        index_seconds = summary["seconds"]
        print(f"corpus: {len(sources)} sources, {summary['tokens']:,} tokens, {summary['sentences']:,} sentences")
        print(f"spaCy tokenizer alone (incl. reading): {tokens / tokenizer_seconds:,.0f} tokens/s ({tokenizer_seconds:.1f} s)")
        print(f"index_corpus (read, split, tokenize, count, sample, write; {summary['workers']} worker(s)): "
              f"{summary['tokens'] / index_seconds:,.0f} tokens/s ({index_seconds:.1f} s)")
        print(f"throughput ratio index / tokenizer: {tokenizer_seconds / index_seconds:.2f}")
        stats = summary["store"]
        print(f"store: {stats['words']:,} words, {stats['contexts']:,} contexts, "
              f"{stats['sentences_stored']:,} sentences, {stats['file_bytes'] / 2**20:.1f} MiB")

        store = ContextStore(store_path, read_only=True)
        vocabulary = [w for w, _ in store.counts(min_count=1)]
        words = random.Random(0).sample(vocabulary, min(n_words, len(vocabulary)))
        bulk, single = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            many = store.contexts_many(words, limit=limit)
            bulk.append(time.perf_counter() - start)
            start = time.perf_counter()
            one_by_one = {w: store.contexts(w, limit=limit) for w in words}
            single.append(time.perf_counter() - start)
        assert many == one_by_one
        n_contexts = sum(len(v) for v in many.values())
        print(f"contexts_many({len(words)} words, limit={limit}; {n_contexts:,} contexts): "
              f"median {statistics.median(bulk) * 1000:.1f} ms")
        print(f"{len(words)} x contexts(): median {statistics.median(single) * 1000:.1f} ms "
              f"(bulk is {statistics.median(single) / statistics.median(bulk):.1f}x faster)")
        store.close()


if __name__ == "__main__":
    typer.run(main)
