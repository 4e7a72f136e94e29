"""Precomputed vector tables: the `precompute` command, the format, and the component reading them."""
import json

import numpy
import pytest
import torch
from typer.testing import CliRunner

from spacy_bertram import pipeline_component, precompute
from spacy_bertram.cli import load_commands
from spacy_bertram.contexts.store import ContextStore
from spacy_bertram.model import BertramModel, infer_vectors
from spacy_bertram.pipeline_component import component_table_identity
from spacy_bertram.precompute import bertram_component, precompute_vectors
from spacy_bertram.vector_table import VectorTable

from conftest import WORDS
from test_component import RARE, bertram_dir, count_calls, make_nlp, store_path  # noqa: F401  (fixtures)

CHOSEN = {"@misc": "test.ChosenRareWords.v1"}
STORE_RARE = ["quibbling", "zorblat"]  # the rare words of SENTENCES ("snorkel" is not in the store)


@pytest.fixture(scope="module")
def other_model_dir(tiny_bert_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("bertram") / "other"
    BertramModel.from_encoder(tiny_bert_path, words=WORDS + RARE, seed=1).save_pretrained(path)
    return path


def make_table(model_dir, store_path, out, **options):
    component = bertram_component(model_dir, store_path, frequency=CHOSEN)
    return precompute_vectors(component, out, show_progress=False, **options)


def expected_vectors(model_dir, store_path, words):
    with ContextStore(store_path, read_only=True) as store:
        contexts = store.contexts_many(words, limit=32)
    return infer_vectors(BertramModel.from_pretrained(model_dir), contexts, max_contexts=32)


def table_of(model_dir, store_path, out) -> VectorTable:
    return VectorTable(out, component_table_identity(bertram_component(model_dir, store_path, frequency=CHOSEN)))


def test_round_trip_holds_the_component_vectors_of_the_rare_store_words(bertram_dir, store_path, tmp_path):
    summary = make_table(bertram_dir, store_path, tmp_path / "table")
    assert summary["rare_words"] == 2 and summary["inferred"] == 2
    assert sorted(p.name for p in (tmp_path / "table").iterdir()) == [
        "table.json", "vectors-00000.safetensors", "words-00000.json"
    ]
    table = table_of(bertram_dir, store_path, tmp_path / "table")
    assert sorted(table.rows) == STORE_RARE  # not "the", "dog", ...: only rare words
    expected = expected_vectors(bertram_dir, store_path, STORE_RARE)
    for word in STORE_RARE:
        vector = table.get(word)
        assert vector.dtype == numpy.float32
        numpy.testing.assert_allclose(vector, expected[word], rtol=1e-5, atol=1e-6)
    assert table.get("snorkel") is None


def test_table_words_cost_no_model_call(bertram_dir, store_path, tmp_path, monkeypatch):
    make_table(bertram_dir, store_path, tmp_path / "table")
    nlp = make_nlp(bertram_dir, store_path, vectors_path=str(tmp_path / "table"))
    calls = count_calls(monkeypatch, pipeline_component, "infer_vectors")
    doc = nlp("a zorblat and a quibbling")
    assert calls == []
    expected = expected_vectors(bertram_dir, store_path, STORE_RARE)
    numpy.testing.assert_allclose(doc[1]._.bertram_vector, expected["zorblat"], rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(doc[4]._.bertram_vector, expected["quibbling"], rtol=1e-5, atol=1e-6)
    nlp("a snorkel")
    assert [list(c) for (_, c), _ in calls] == [["snorkel"]]  # words outside the table still do


def test_in_domain_text_entering_a_sample_goes_to_the_model(bertram_dir, store_path, tmp_path, monkeypatch):
    make_table(bertram_dir, store_path, tmp_path / "table")
    nlp = make_nlp(bertram_dir, store_path, vectors_path=str(tmp_path / "table"), in_domain=True)
    calls = count_calls(monkeypatch, pipeline_component, "infer_vectors")
    nlp("the zorblat was very good .")  # a store sentence: the sample stays the store's
    assert calls == []
    nlp("my zorblat swam across the cold river today .")  # new text: the sample changes
    assert [list(c) for (_, c), _ in calls] == [["zorblat"]]


def test_a_table_of_another_model_is_refused_naming_both(bertram_dir, other_model_dir, store_path, tmp_path):
    make_table(other_model_dir, store_path, tmp_path / "table")
    nlp = make_nlp(bertram_dir, store_path, vectors_path=str(tmp_path / "table"))
    with pytest.raises(ValueError, match="stale") as err:
        nlp("a zorblat")
    assert str(other_model_dir) in str(err.value) and str(bertram_dir) in str(err.value)
    with pytest.raises(ValueError, match="stale"):  # nor does precompute mix two models in one folder
        make_table(bertram_dir, store_path, tmp_path / "table")


def test_a_table_of_another_store_is_refused(bertram_dir, store_path, tmp_path):
    make_table(bertram_dir, store_path, tmp_path / "table")
    with ContextStore(store_path) as store:
        store.add_sentences(["one more zorblat ."])
    with pytest.raises(ValueError, match="context store"):
        make_nlp(bertram_dir, store_path, vectors_path=str(tmp_path / "table"))("a zorblat")


def test_an_interrupted_run_resumes_after_its_last_chunk(bertram_dir, store_path, tmp_path, monkeypatch):
    out = tmp_path / "table"
    original = precompute.infer_vectors

    def fail_second(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(list(args[1]))
        return original(*args, **kwargs)

    calls: list = []
    monkeypatch.setattr(precompute, "infer_vectors", fail_second)
    with pytest.raises(KeyboardInterrupt):
        make_table(bertram_dir, store_path, out, chunk_words=1)
    assert calls == [["quibbling"]]
    monkeypatch.setattr(precompute, "infer_vectors", original)
    resumed = count_calls(monkeypatch, precompute, "infer_vectors")
    summary = make_table(bertram_dir, store_path, out, chunk_words=1)
    assert summary["already_done"] == 1 and summary["inferred"] == 1
    assert [list(c) for (_, c), _ in resumed] == [["zorblat"]]
    assert make_table(bertram_dir, store_path, out)["inferred"] == 0
    expected = expected_vectors(bertram_dir, store_path, STORE_RARE)
    table = table_of(bertram_dir, store_path, out)
    for word in STORE_RARE:
        numpy.testing.assert_allclose(table.get(word), expected[word], rtol=1e-5, atol=1e-6)


def test_a_corrupt_chunk_is_a_clear_error(bertram_dir, store_path, tmp_path):
    make_table(bertram_dir, store_path, tmp_path / "table")
    (tmp_path / "table" / "vectors-00000.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="vectors-00000.safetensors"):
        table_of(bertram_dir, store_path, tmp_path / "table")


def test_cli_precompute_with_threads(bertram_dir, store_path, tmp_path, monkeypatch):
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    out = tmp_path / "table"
    args = ["--threads", "1", "precompute", "--store", str(store_path), "--model", str(bertram_dir), "--out", str(out)]
    result = CliRunner().invoke(load_commands(), args)
    assert result.exit_code == 0, result.output
    assert threads == [1]
    # the component's default rarity (wordfreq Zipf < 2): the nonce word only
    assert json.loads((out / "words-00000.json").read_text()) == ["zorblat"]
    bad = CliRunner().invoke(load_commands(), ["--threads", "0", "precompute", "--help"])
    assert bad.exit_code != 0 and "--threads" in bad.output
