import multiprocessing
import pickle
import random
import sqlite3

import numpy
import pytest
import spacy

from spacy_bertram.contexts import ContextStore
from spacy_bertram.contexts.batch import sample_keys, sentence_id
from spacy_bertram.contexts.store import english_tokenizer


def _sentences(n, word="pivot"):
    return [f"Sentence number {i} has the {word} in it." for i in range(n)]


def test_round_trip_counts_and_original_text(tmp_path):
    with ContextStore(tmp_path / "s.db") as store:
        added = store.add_sentences(["The Cat sat on the mat.", "  A cat, a CAT!  ", "", "Dogs bark."])
        assert added == 3
        assert store.count("cat") == store.count("CAT") == 3
        assert store.count("the") == 2 and store.count("unseen") == 0
        assert set(store.contexts("Cat")) == {"The Cat sat on the mat.", "A cat, a CAT!"}
        assert store.count(".") == 0 and store.contexts(",") == []  # only words with letters
        assert dict(store.counts(min_count=2)) == {"cat": 3, "the": 2, "a": 2}
        assert list(store.counts(min_count=2))[0] == ("cat", 3)
        stats = store.stats()
        assert stats["sentences_added"] == 3 and stats["sentences_stored"] == 3
        assert stats["tokens"] == 16 and stats["words"] == 8 and stats["schema_version"] == 1
    reopened = ContextStore(tmp_path / "s.db", read_only=True)
    assert reopened.count("cat") == 3
    with pytest.raises(ValueError, match="read-only"):
        reopened.add_sentences(["more text"])


def test_duplicate_sentences_are_stored_once_but_counted(tmp_path):
    store = ContextStore(tmp_path / "s.db")
    store.add_sentences(["Echo echo."] * 5)
    store.add_sentences(["Echo echo."])
    assert store.count("echo") == 12
    assert store.contexts("echo") == ["Echo echo."]
    assert store.stats()["sentences_stored"] == 1


def test_cap_keeps_exact_counts_and_the_bottom_k_sample(tmp_path):
    texts = _sentences(300)
    store = ContextStore(tmp_path / "s.db", max_contexts_per_word=16, seed=3)
    store.add_sentences(texts, batch_size=37)
    assert store.count("pivot") == 300
    got = store.contexts("pivot")
    assert len(got) == 16
    # The sample is exactly the 16 smallest seeded keys of all 300 sentences.
    word_hash = numpy.array([english_tokenizer().vocab.strings["pivot"]] * 300, dtype=numpy.uint64)
    keys = sample_keys(word_hash, numpy.array([sentence_id(t) for t in texts], dtype=numpy.int64), seed=3)
    expected = [texts[i] for i in numpy.argsort(keys)[:16]]
    assert got == expected
    assert store.contexts("pivot", limit=5) == expected[:5]
    assert store.contexts("pivot", limit=0) == []
    assert store.compact() > 0  # sentences no word samples any more
    assert store.contexts("pivot") == expected
    with pytest.raises(ValueError, match="non-negative"):
        store.contexts("pivot", limit=-1)


def test_sampling_is_deterministic_whatever_the_order(tmp_path):
    texts = _sentences(200) + _sentences(50, word="other")
    shuffled = list(texts)
    random.Random(1).shuffle(shuffled)
    a = ContextStore(tmp_path / "a.db", max_contexts_per_word=10, seed=7)
    b = ContextStore(tmp_path / "b.db", max_contexts_per_word=10, seed=7)
    c = ContextStore(tmp_path / "c.db", max_contexts_per_word=10, seed=8)
    a.add_sentences(texts, batch_size=1000)
    for i in range(0, len(shuffled), 13):
        b.add_sentences(shuffled[i : i + 13])
    c.add_sentences(texts)
    for word in ("pivot", "other", "sentence", "17"):
        assert a.contexts(word) == b.contexts(word)
        assert a.count(word) == b.count(word)
    assert a.contexts("pivot") != c.contexts("pivot")
    assert sorted(a.counts()) == sorted(b.counts())


def test_contexts_many_is_one_query(tmp_path):
    store = ContextStore(tmp_path / "s.db", max_contexts_per_word=8)
    store.add_sentences(_sentences(40) + ["A lonely kumquat.", "Another Kumquat here."])
    words = ["pivot", "Kumquat", "missing", "has", "PIVOT"]
    statements = []
    store._connection().set_trace_callback(statements.append)
    many = store.contexts_many(words, limit=3)
    store._connection().set_trace_callback(None)
    assert len(statements) == 1
    assert list(many) == words
    for word in words:
        assert many[word] == store.contexts(word, limit=3)
    assert many["missing"] == [] and len(many["pivot"]) == 3
    assert store.contexts_many(["kumquat"]) == {"kumquat": store.contexts("kumquat")}


def test_add_docs_uses_sentences(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    docs = list(nlp.pipe(["First one here. Second kumquat here.", "No split kumquat"]))
    store = ContextStore(tmp_path / "s.db")
    assert store.add_docs(docs) == 3
    assert set(store.contexts("kumquat")) == {"Second kumquat here.", "No split kumquat"}
    assert store.count("here") == 2
    unsplit = spacy.blank("en")("Whole doc. Is one context.")
    store.add_docs([unsplit])
    assert store.contexts("whole") == ["Whole doc. Is one context."]
    with pytest.raises(TypeError, match="spaCy Doc"):
        store.add_docs(["not a doc"])
    with pytest.raises(TypeError, match="expects strings"):
        store.add_sentences([b"bytes"])


def test_pickles_as_its_path(tmp_path):
    store = ContextStore(tmp_path / "s.db")
    store.add_sentences(["Pickled kumquat."])
    clone = pickle.loads(pickle.dumps(store))
    assert clone._conn is None
    assert clone.contexts("kumquat") == ["Pickled kumquat."]


def _write_in_process(store, worker):
    for start in range(0, 1000, 50):
        store.add_sentences(
            [f"Shared word from worker{worker} line{i}." for i in range(start, start + 50)], batch_size=25
        )
    store.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "s.db"
    parent = ContextStore(path, max_contexts_per_word=64)
    parent.add_sentences(["The parent connection is open."])
    # Forked children inherit the parent's open store; each must open its own connection.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    workers = [ctx.Process(target=_write_in_process, args=(parent, w)) for w in (0, 1)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    store = ContextStore(path, max_contexts_per_word=64, read_only=True)
    assert store.count("shared") == 2000
    assert store.count("worker0") == store.count("worker1") == 1000
    stats = store.stats()
    assert stats["sentences_added"] == 2001
    assert parent.count("shared") == 2000
    assert len(store.contexts("shared")) == 64
    assert store.count("line999") == 2
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM words WHERE word LIKE 'line%'").fetchone()[0] == 1000


def test_corrupt_file_gives_clear_error_and_is_kept(tmp_path):
    path = tmp_path / "notes.db"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a spacy-bertram context store"):
        ContextStore(path)
    assert path.read_bytes() == content


def test_other_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="another application"):
        ContextStore(path)
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("things",)]


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.db"
    ContextStore(path).add_sentences(["Keep me."])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ValueError, match="schema version 99.*Upgrade spacy-bertram"):
        ContextStore(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    assert ContextStore(path).contexts("keep") == ["Keep me."]


def test_bad_settings_and_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="spacy_bertram index"):
        ContextStore(tmp_path / "missing.db", read_only=True)
    with pytest.raises(ValueError, match="max_contexts_per_word"):
        ContextStore(tmp_path / "s.db", max_contexts_per_word=0)
    with pytest.raises(ValueError, match="directory"):
        ContextStore(tmp_path)
    ContextStore(tmp_path / "s.db", max_contexts_per_word=4, seed=1).close()
    with pytest.warns(UserWarning, match="keeps those settings"):
        store = ContextStore(tmp_path / "s.db")
    assert (store.max_contexts_per_word, store.seed) == (4, 1)


def test_samples_keep_pairs_sorted_and_rows_in_text_order():
    """Merging and writing rely on each sample's pairs being sorted by (word, key)."""
    from spacy_bertram.contexts.batch import CorpusSample
    from spacy_bertram.contexts.store import make_batch

    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(40)] + ["Zeta", "alpha", "ümlaut"]
    tokenizer = english_tokenizer()
    batches = []
    for b in range(4):
        sentences = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 12))) + f" s{b}x{i}"
                     for i in range(60)]
        arrays = [doc.to_array("LOWER") for doc in tokenizer.pipe(sentences)]
        batches.append(make_batch(sentences, arrays, tokenizer.vocab.strings.__getitem__, 5, 0))
    merged = CorpusSample.merge(batches)
    for sample in batches + [merged]:
        pairs = list(zip(sample.pair_word.tolist(), sample.pair_key.tolist()))
        assert pairs == sorted(pairs)
        keep = sample.pair_key % 2 == 0
        rows = sample.pair_rows(keep)
        assert len(rows) == int(keep.sum()) and rows == sorted(rows, key=lambda r: (r[0], r[1]))
    assert merged.pair_rows(merged.pair_key >= 0) == CorpusSample.merge(batches[::-1]).pair_rows(merged.pair_key >= 0)
