"""The `bertram` component under bad input: untrusted bytes, incomplete saved pipelines,
missing or foreign stores, odd tokens, and in-domain results that must not depend on
how the docs reach it."""
import shutil
import sqlite3
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from test_component import bertram_dir, make_nlp, store_path  # noqa: F401  (fixtures)

from spacy_bertram.contexts.store import ContextStore

FIXTURE = Path(__file__).parent / "fixtures" / "saved-0.1.0" / "pipeline"
IN_DOMAIN = [
    "the zorblat ate my homework .",
    "a snorkel and a zorblat met .",
    "quibbling is what a zorblat does best .",
    "my snorkel leaks .",
    "no zorblat was harmed .",
    "the quibbling snorkel .",
]


@spacy.registry.misc("test.ZorWords.v1")
def zor_words():
    class ZorWords:
        def frequency(self, word: str) -> float:
            return 0.0

        def is_rare(self, word: str) -> bool:
            return "zor" in word

    return ZorWords()


def assert_same_vectors(docs, expected):
    for doc, reference in zip(docs, expected):
        assert doc._.bertram_rare == reference._.bertram_rare
        assert set(doc._.bertram_vectors) == set(reference._.bertram_vectors)
        for i, vector in reference._.bertram_vectors.items():
            numpy.testing.assert_allclose(doc._.bertram_vectors[i], vector, rtol=1e-5, atol=1e-6)


# -- bytes are untrusted ---------------------------------------------------------


def _evil_names(tmp_path):
    return {
        str(tmp_path / "absolute.txt"): tmp_path / "absolute.txt",
        "../" * 12 + str(tmp_path / "climbed.txt").lstrip("/"): tmp_path / "climbed.txt",
        "model/../../" + "../" * 12 + str(tmp_path / "inner.txt").lstrip("/"): tmp_path / "inner.txt",
        "notes.txt": None,
    }


def test_component_from_bytes_refuses_names_it_never_writes(bertram_dir, tmp_path):
    component = make_nlp(bertram_dir).get_pipe("bertram")
    for name, outside in _evil_names(tmp_path).items():
        data = srsly.msgpack_dumps({"model/config.json": b"{}", name: b"pwned"})
        with pytest.raises(ValueError, match="refusing serialized data with the entry") as error:
            component.from_bytes(data)
        assert repr(name) in str(error.value)
        assert outside is None or not outside.exists()


def test_nlp_from_bytes_with_a_doctored_bertram_entry_writes_nothing(bertram_dir, store_path, tmp_path):
    nlp = make_nlp(bertram_dir, store_path, include_store=True)
    expected = nlp("the zorblat")
    data = srsly.msgpack_loads(nlp.to_bytes())
    loaded = make_nlp(bertram_dir, model_path=None).from_bytes(srsly.msgpack_dumps(data))
    assert_same_vectors([loaded("the zorblat")], [expected])
    for name, outside in _evil_names(tmp_path).items():
        data["bertram"] = srsly.msgpack_dumps({name: b"pwned"})
        with pytest.raises(ValueError, match="refusing serialized data"):
            make_nlp(bertram_dir).from_bytes(srsly.msgpack_dumps(data))
        assert outside is None or not outside.exists()


# -- a saved pipeline loads only what it bundles ---------------------------------


@pytest.mark.parametrize("missing", ["model", "model/encoder"])
def test_saved_pipeline_missing_its_bundled_model_fails_naming_the_folder(bertram_dir, tmp_path, missing):
    nlp = make_nlp(bertram_dir)  # model_path names a folder that exists on this machine
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(tmp_path / "pipeline" / "bertram" / missing)
    with pytest.raises(ValueError, match=f"bundles {tmp_path / 'pipeline' / 'bertram' / missing}, which is missing"):
        spacy.load(tmp_path / "pipeline")


def test_pipeline_saved_without_a_model_takes_one_given_when_loading(bertram_dir, tmp_path):
    make_nlp(bertram_dir, model_path=None).to_disk(tmp_path / "pipeline")
    assert spacy.load(tmp_path / "pipeline").get_pipe("bertram").bertram_model is None
    loaded = spacy.load(tmp_path / "pipeline", config={"components.bertram.model_path": str(bertram_dir)})
    assert loaded.get_pipe("bertram").bertram_model is not None


def test_pipeline_saved_by_0_1_0_never_falls_back_to_the_saving_machines_model(bertram_dir, tmp_path):
    copy = tmp_path / "pipeline"
    shutil.copytree(FIXTURE, copy)
    shutil.rmtree(copy / "bertram" / "model" / "encoder")
    with pytest.raises(ValueError, match=f"bundles {copy / 'bertram' / 'model' / 'encoder'}, which is missing"):
        spacy.load(copy)
    shutil.rmtree(copy / "bertram" / "model")
    # As if loaded on the machine that saved it: its model_path exists there.
    config = (copy / "config.cfg").read_text().replace("/tmp/fixgen/out/bertram-model", str(bertram_dir))
    (copy / "config.cfg").write_text(config)
    assert spacy.load(copy).get_pipe("bertram").bertram_model is None


# -- the configured store is never created or modified ---------------------------


def test_in_domain_with_a_missing_store_fails_and_creates_nothing(bertram_dir, tmp_path):
    missing = tmp_path / "typo.sqlite"
    nlp = make_nlp(bertram_dir, missing, in_domain=True)
    with pytest.raises(ValueError, match=f"context store '{missing}' does not exist.*store_path = null"):
        nlp("the zorblat")
    assert not missing.exists()


def test_a_non_store_file_gives_an_error_naming_the_configured_path(bertram_dir, tmp_path):
    junk = tmp_path / "notes.sqlite"
    junk.write_bytes(b"these are my notes, not a database " * 100)
    for in_domain in (True, False):
        with pytest.raises(ValueError, match=f"{junk} is not a spacy-bertram context store"):
            make_nlp(bertram_dir, junk, in_domain=in_domain)("the zorblat")
    assert junk.read_bytes() == b"these are my notes, not a database " * 100


def test_a_newer_store_gives_an_error_naming_the_configured_path(bertram_dir, store_path):
    with sqlite3.connect(str(store_path)) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ValueError, match=f"{store_path} is a context store of schema version 99"):
        make_nlp(bertram_dir, store_path, in_domain=True)("the zorblat")


# -- odd tokens --------------------------------------------------------------------


def test_a_token_with_nul_is_never_rare(bertram_dir, store_path):
    nlp = make_nlp(
        bertram_dir,
        store_path,
        frequency={"@misc": "test.ZorWords.v1"},
        rare_filter={"@misc": "bertram.RareWordFilter.v1", "alpha_only": False},
    )
    doc = nlp("a zor\x00blat and a zorblat")
    assert doc[1].text == "zor\x00blat"
    assert doc._.bertram_rare == [4] and set(doc._.bertram_vectors) == {4}


# -- in-domain vectors depend only on the batch and the store -----------------------


def test_in_domain_vectors_do_not_depend_on_n_process_or_earlier_batches(bertram_dir, store_path):
    texts = IN_DOMAIN * 2
    nlp = make_nlp(bertram_dir, store_path, in_domain=True)
    single = list(nlp.pipe(texts, batch_size=2))
    assert_same_vectors(list(nlp.pipe(texts, batch_size=2, n_process=2)), single)
    fresh = make_nlp(bertram_dir, store_path, in_domain=True)
    assert_same_vectors(list(fresh.pipe(texts[4:6], batch_size=2)), single[4:6])
    assert_same_vectors(list(fresh.pipe(texts[:2][::-1], batch_size=2))[::-1], single[:2])


def test_in_domain_contexts_are_sampled_as_if_the_batch_were_indexed(bertram_dir, store_path, tmp_path):
    in_domain = list(make_nlp(bertram_dir, store_path, in_domain=True, max_contexts=3).pipe(IN_DOMAIN, batch_size=6))
    indexed = tmp_path / "indexed.sqlite"
    shutil.copy(store_path, indexed)
    with ContextStore(indexed) as store:
        store.add_sentences(IN_DOMAIN)
    reference = list(make_nlp(bertram_dir, indexed, in_domain=False, max_contexts=3).pipe(IN_DOMAIN, batch_size=6))
    assert_same_vectors(in_domain, reference)


def test_a_garbled_bundle_record_is_refused(bertram_dir, tmp_path):
    make_nlp(bertram_dir).to_disk(tmp_path / "pipeline")
    for junk in (b"[1, 2]", b"not json", b'{"model": "yes", "store.sqlite": false}'):
        (tmp_path / "pipeline" / "bertram" / "cfg").write_bytes(junk)
        with pytest.raises(ValueError, match="does not say what the saved component bundles"):
            spacy.load(tmp_path / "pipeline")
