"""Indexing counts each distinct source content once: duplicates in one run, several
processes at once, a process killed mid-run; the store's own files, binary files and
edited sources are never counted."""
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_indexer import _store_snapshot

from spacy_bertram.contexts import ContextStore, index_corpus
from spacy_bertram.contexts import indexer as indexer_module

WORDS = "cat dog mat sun rain tree river stone bread apple zorb quill ember frost".split()


def _write_corpus(folder: Path, n_files: int, sentences: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(n_files):
        lines = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(sentences)]
        (folder / f"part{i:03d}.txt").write_text("\n".join(lines) + "\n")
    return folder


def _index(paths, store, **kwargs):
    return index_corpus(paths, store, progress=False, max_contexts_per_word=8, **kwargs)


def test_a_source_given_twice_or_copied_counts_once(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus", 2, 20)
    _index([corpus], tmp_path / "once.db")
    twice = _index([corpus, corpus / "part000.txt", corpus], tmp_path / "twice.db")
    assert twice["sources_indexed"] == 2 and twice["sources_skipped"] == 3
    assert _store_snapshot(tmp_path / "twice.db") == _store_snapshot(tmp_path / "once.db")
    shutil.copy(corpus / "part001.txt", corpus / "copy.txt")
    copied = _index([corpus], tmp_path / "copied.db")
    assert copied["sources_indexed"] == 2
    assert _store_snapshot(tmp_path / "copied.db") == _store_snapshot(tmp_path / "once.db")


def test_a_source_claimed_by_another_writer_meanwhile_is_not_counted_again(tmp_path, monkeypatch):
    """Another process indexes the same corpus between this run's check and its write."""
    corpus = _write_corpus(tmp_path / "corpus", 3, 20)
    _index([corpus], tmp_path / "sequential.db")
    store = tmp_path / "raced.db"
    original = indexer_module.source_sentences
    raced = {}

    def racing(source):
        if not raced:
            raced["other"] = None
            raced["other"] = _index([corpus / "part001.txt"], store)  # the other writer
        yield from original(source)

    monkeypatch.setattr(indexer_module, "source_sentences", racing)
    summary = _index([corpus], store)
    assert raced["other"]["sources_indexed"] == 1
    assert summary["sources_indexed"] == 2 and summary["sources_skipped"] == 1
    assert _store_snapshot(store) == _store_snapshot(tmp_path / "sequential.db")


def test_a_store_inside_its_corpus_and_binary_files_are_not_indexed(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus", 2, 20)
    _index([corpus], tmp_path / "outside.db")
    (corpus / "noise.bin").write_bytes(random.Random(0).randbytes(5000))
    (corpus / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me for the cat.\n".encode("latin-1"))
    with pytest.warns(UserWarning, match=r"Skipping .*noise\.bin: it looks binary"):
        first = _index([corpus], corpus / "inside.sqlite")
    assert first["sources_indexed"] == 3  # the two parts and the latin-1 text
    with pytest.warns(UserWarning, match="noise.bin"):
        again = _index([corpus], corpus / "inside.sqlite")
    assert again["sources_indexed"] == 0
    inside = ContextStore(corpus / "inside.sqlite", read_only=True)
    assert inside.count("café") == 1
    counts = dict(inside.counts())
    del counts["café"], counts["crème"], counts["for"], counts["the"]
    counts["cat"] -= 1
    assert counts == dict(_store_snapshot(tmp_path / "outside.db")[0])


def test_an_edited_source_is_refused_with_the_way_out(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus", 2, 20)
    store = tmp_path / "s.db"
    _index([corpus], store)
    before = _store_snapshot(store)
    with open(corpus / "part001.txt", "a") as handle:
        handle.write("One more sentence about the zorb.\n")
    with pytest.raises(ValueError, match=r"part001\.txt changed since it was indexed into .*s\.db.*new store path"):
        _index([corpus], store)
    assert _store_snapshot(store) == before
    os.rename(corpus / "part001.txt", corpus / "renamed.txt")  # same content, new name: already indexed
    (corpus / "part001.txt").write_text("A new file under the old name.\n")
    _index([corpus / "renamed.txt"], store)
    assert _store_snapshot(store) != before and ContextStore(store, read_only=True).count("new") == 0


def _cli(corpus: Path, store: Path, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "spacy_bertram", "index", str(corpus), "--store", str(store)]
    command += ["--max-contexts", "8"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen(command + list(options), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _sources_in(store: Path) -> int:
    try:
        with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM sources").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture
def corpus_and_expected(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus", 30, 200)
    _index([corpus], tmp_path / "sequential.db")
    return corpus, _store_snapshot(tmp_path / "sequential.db")


def test_two_processes_indexing_at_once_give_the_sequential_store(tmp_path, corpus_and_expected):
    corpus, expected = corpus_and_expected
    both = tmp_path / "both.db"
    runs = [_cli(corpus, both), _cli(corpus, both, "--flush-pairs", "1")]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()
    assert _store_snapshot(both) == expected


def test_a_run_killed_mid_way_then_rerun_gives_the_sequential_store(tmp_path, corpus_and_expected):
    corpus, expected = corpus_and_expected
    killed = tmp_path / "killed.db"
    run = _cli(corpus, killed, "--flush-pairs", "1")
    deadline = time.monotonic() + 60
    while _sources_in(killed) < 3 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    run.communicate()
    assert 3 <= _sources_in(killed) < 30  # the kill landed mid-run
    _index([corpus], killed)
    assert _store_snapshot(killed) == expected
