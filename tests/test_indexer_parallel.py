"""The local engine's worker processes build exactly the store that one process builds."""
import sqlite3
import sys
from pathlib import Path

import pytest

from spacy_bertram.contexts import index_corpus
from spacy_bertram.contexts import indexer as indexer_module

BROWN = Path(__file__).parents[2] / "shared" / "data" / "nltk" / "brown.zip"
if not BROWN.exists():
    BROWN = Path("/work/shared/data/nltk/brown.zip")
SUBSET = "brown/ca0*"

pytestmark = [
    pytest.mark.skipif(not BROWN.exists(), reason="shared Brown corpus not available"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes fork (Linux)"),
]


def _tables(path: Path):
    """Every row of the store, in a fixed order (the time a source was indexed aside)."""
    with sqlite3.connect(path) as conn:
        return {
            "meta": sorted(conn.execute("SELECT key, value FROM meta")),
            "words": sorted(conn.execute("SELECT word, count FROM words")),
            "contexts": sorted(conn.execute("SELECT word, key, sentence_id FROM contexts")),
            "sentences": sorted(conn.execute("SELECT id, text FROM sentences")),
            "sources": sorted(conn.execute("SELECT digest, name, sentences, tokens FROM sources")),
        }


@pytest.fixture
def corpus(tmp_path):
    """A Brown subset (a zip, read by several processes at once) and a plain-text file."""
    text = tmp_path / "corpus" / "notes.txt"
    text.parent.mkdir()
    text.write_text("The jury met. It said nothing!\n\nA second paragraph, with the jury again.\n" * 50)
    return [BROWN, text.parent]


@pytest.mark.parametrize("flush_pairs", [1, indexer_module.FLUSH_PAIRS])
def test_workers_build_the_same_store(tmp_path, monkeypatch, corpus, flush_pairs):
    reference = tmp_path / "one.db"
    one = index_corpus(corpus, reference, members=SUBSET, progress=False, max_contexts_per_word=8, workers=1)
    monkeypatch.setattr(indexer_module, "TASK_BYTES", 20_000)  # several tasks per worker
    assert len(indexer_module._tasks(indexer_module.list_sources(corpus, members=SUBSET))) > 4
    parallel = tmp_path / "three.db"
    three = index_corpus(
        corpus, parallel, members=SUBSET, progress=False, max_contexts_per_word=8, workers=3, flush_pairs=flush_pairs
    )
    assert three["sources_indexed"] == one["sources_indexed"] == 10
    assert three["tokens"] == one["tokens"] and three["sentences"] == one["sentences"]
    assert _tables(parallel) == _tables(reference)
    assert len(_tables(reference)["contexts"]) > 5_000


def test_a_worker_error_reaches_the_caller_and_records_nothing_partial(tmp_path, monkeypatch, corpus):
    monkeypatch.setattr(indexer_module, "TASK_BYTES", 20_000)
    original = indexer_module.source_sentences

    def failing(source):
        if source.name.endswith("ca05"):
            raise RuntimeError("disk unplugged")
        yield from original(source)

    monkeypatch.setattr(indexer_module, "source_sentences", failing)
    broken = tmp_path / "broken.db"
    with pytest.raises(RuntimeError, match="disk unplugged"):
        index_corpus(corpus, broken, members=SUBSET, progress=False, max_contexts_per_word=8, workers=2, flush_pairs=1)
    recorded = {name for _, name, _, _ in _tables(broken)["sources"]}
    assert not any(name.endswith("ca05") for name in recorded)
    monkeypatch.setattr(indexer_module, "source_sentences", original)
    index_corpus(corpus, broken, members=SUBSET, progress=False, workers=2)
    reference = tmp_path / "clean.db"
    index_corpus(corpus, reference, members=SUBSET, progress=False, max_contexts_per_word=8, workers=1)
    assert _tables(broken) == _tables(reference)


def test_workers_must_be_positive(tmp_path, corpus):
    with pytest.raises(ValueError, match="workers must be positive"):
        index_corpus(corpus, tmp_path / "s.db", members=SUBSET, progress=False, workers=0)


def test_by_default_one_worker_per_usable_cpu(tmp_path, monkeypatch, corpus):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert indexer_module.default_workers() == 3
    monkeypatch.setattr(indexer_module, "TASK_BYTES", 20_000)
    summary = index_corpus(corpus, tmp_path / "auto.db", members=SUBSET, progress=False, max_contexts_per_word=8)
    assert summary["workers"] == 3
    index_corpus(corpus, tmp_path / "one.db", members=SUBSET, progress=False, max_contexts_per_word=8, workers=1)
    assert _tables(tmp_path / "auto.db") == _tables(tmp_path / "one.db")
