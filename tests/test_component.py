"""The `bertram` component on its own: flags, vectors, caching, batching, saving, errors."""
import pickle
from typing import List

import numpy
import pytest
import spacy
from spacy.language import Language

import spacy_bertram.layers.transformer_model  # noqa: F401  (registers the architectures)
from spacy_bertram.contexts.pipeline_store import PipelineStore
from spacy_bertram.contexts.store import ContextStore
from spacy_bertram.frequency import FrequencySource
from spacy_bertram import pipeline_component
from spacy_bertram.model import BertramModel, infer_vectors
from spacy_bertram.pipeline_component import Bertram, make_bertram  # noqa: F401

from conftest import WORDS

RARE = ["zorblat", "quibbling", "snorkel"]
SENTENCES = [
    "the zorblat was very good .",
    "a zorblat and a dog in the house .",
    "she loved the quibbling actors .",
    "they hated quibbling about the plot .",
]


class ChosenRareWords(FrequencySource):
    """Exactly the given words are rare."""

    def __init__(self, words: List[str]):
        self.words = {word.lower() for word in words}

    def frequency(self, word: str) -> float:
        return 0.0 if word.lower() in self.words else 1e-3

    def is_rare(self, word: str) -> bool:
        return word.lower() in self.words


@spacy.registry.misc("test.ChosenRareWords.v1")
def chosen_rare_words(words: List[str] = RARE) -> ChosenRareWords:
    return ChosenRareWords(words)


@pytest.fixture(scope="module")
def bertram_dir(tiny_bert_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("bertram") / "model"
    BertramModel.from_encoder(tiny_bert_path, words=WORDS + RARE).save_pretrained(path)
    return path


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "contexts.sqlite"
    with ContextStore(path) as store:
        store.add_sentences(SENTENCES)
    return path


def make_nlp(bertram_dir, store_path=None, **config) -> Language:
    nlp = spacy.blank("en")
    settings = {
        "model_path": str(bertram_dir),
        "store_path": None if store_path is None else str(store_path),
        "frequency": {"@misc": "test.ChosenRareWords.v1"},
        "in_domain": False,
        **config,
    }
    nlp.add_pipe("bertram", config=settings)
    return nlp


def count_calls(monkeypatch, obj, method: str) -> list:
    calls = []
    original = getattr(obj, method)

    def counted(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, method, counted)
    return calls


def test_flags_rare_tokens_and_sets_their_vectors(bertram_dir, store_path):
    nlp = make_nlp(bertram_dir, store_path)
    doc = nlp("I saw a zorblat , 42 and Zorblat and the snorkel .")
    assert doc._.bertram_rare == [3, 7, 10]
    assert [t.i for t in doc if t._.is_rare] == [3, 7, 10]
    model = nlp.get_pipe("bertram").bertram_model
    with ContextStore(store_path, read_only=True) as store:
        contexts = store.contexts_many(["zorblat", "snorkel"], limit=32)
    expected = infer_vectors(model, contexts, max_contexts=32)
    assert set(doc._.bertram_vectors) == {3, 7, 10}
    for i, word in [(3, "zorblat"), (7, "zorblat"), (10, "snorkel")]:
        vector = doc[i]._.bertram_vector
        assert vector.dtype == numpy.float32 and vector.shape == (model.embedding_dim,)
        numpy.testing.assert_allclose(vector, expected[word], rtol=1e-5, atol=1e-6)
    assert not numpy.allclose(doc[3]._.bertram_vector, doc[10]._.bertram_vector)
    assert doc[0]._.bertram_vector is None


def test_rare_words_the_tokenizer_keeps_whole_get_no_vector(tiny_bert_path, bertram_dir, store_path, tmp_path, monkeypatch):
    nlp = make_nlp(bertram_dir, store_path, frequency={"@misc": "test.ChosenRareWords.v1", "words": ["zorblat", "dog"]})
    model = nlp.get_pipe("bertram").bertram_model
    assert model.wordpiece_base(["zorblat", "dog"]).own_row == [False, True]
    calls = count_calls(monkeypatch, pipeline_component, "infer_vectors")
    doc = nlp("a zorblat and a dog")
    assert doc._.bertram_rare == [1, 4] and set(doc._.bertram_vectors) == {1}
    assert [list(c) for (_, c), _ in calls] == [["zorblat"]]  # the whole word cost nothing
    # the component's setting, not the model's, decides (tests/test_keep_whole_words.py)
    every = tmp_path / "every"
    BertramModel.from_encoder(tiny_bert_path, words=WORDS + RARE, keep_whole_words=False).save_pretrained(every)
    nlp = make_nlp(every, store_path, frequency={"@misc": "test.ChosenRareWords.v1", "words": ["zorblat", "dog"]})
    assert set(nlp("a zorblat and a dog")._.bertram_vectors) == {1}


def test_no_model_flags_without_vectors(store_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("bertram", config={"frequency": {"@misc": "test.ChosenRareWords.v1"}})
    doc = nlp("a zorblat")
    assert doc._.bertram_rare == [1] and doc._.bertram_vectors == {}


def test_cache_hits_and_invalidates_when_contexts_change(bertram_dir, store_path, monkeypatch):
    nlp = make_nlp(bertram_dir, store_path)
    calls = count_calls(monkeypatch, pipeline_component, "infer_vectors")
    first = nlp("the zorblat")[1]._.bertram_vector
    again = nlp("one more zorblat")[2]._.bertram_vector
    assert len(calls) == 1
    numpy.testing.assert_array_equal(first, again)
    with ContextStore(store_path) as store:
        store.add_sentences(["my zorblat ran fast to the river ."])
    changed = nlp("the zorblat")[1]._.bertram_vector
    assert len(calls) == 2
    assert list(calls[1][0][1]) == ["zorblat"]
    assert not numpy.allclose(first, changed)


def test_in_domain_contexts_come_from_the_batch_and_feed_the_cache(bertram_dir, monkeypatch):
    nlp = make_nlp(bertram_dir, in_domain=True)
    calls = count_calls(monkeypatch, pipeline_component, "infer_vectors")
    nlp("the zorblat was good")
    assert calls[-1][0][1] == {"zorblat": ["the zorblat was good"]}
    nlp("the zorblat was good")
    assert len(calls) == 1
    nlp("a blue zorblat")  # a new batch: the earlier text is not kept
    assert len(calls) == 2 and calls[-1][0][1] == {"zorblat": ["a blue zorblat"]}
    list(nlp.pipe(["a blue zorblat", "the zorblat was good"], batch_size=2))
    assert len(calls) == 3
    assert sorted(calls[-1][0][1]["zorblat"]) == ["a blue zorblat", "the zorblat was good"]


def test_doc_without_rare_words_costs_no_model_call_and_no_query(bertram_dir, store_path, monkeypatch):
    nlp = make_nlp(bertram_dir, store_path, in_domain=True)
    bertram = nlp.get_pipe("bertram")

    def forbidden(*args, **kwargs):
        raise AssertionError("no store or model work for docs without rare words")

    monkeypatch.setattr(pipeline_component, "infer_vectors", forbidden)
    monkeypatch.setattr(ContextStore, "contexts_many", forbidden)
    monkeypatch.setattr(PipelineStore, "contexts", forbidden)
    docs = [nlp("the movie was good ."), nlp(""), *nlp.pipe(["a dog", "", "1 2 3 !"])]
    assert all(doc._.bertram_rare == [] and doc._.bertram_vectors == {} for doc in docs)


def test_pipe_batches_docs_into_one_query_and_one_model_call(bertram_dir, store_path, monkeypatch):
    texts = ["the zorblat", "a dog", "quibbling actors", "the snorkel and the zorblat", "", "good"]
    expected = [make_nlp(bertram_dir, store_path)(text) for text in texts]
    nlp = make_nlp(bertram_dir, store_path)
    calls = count_calls(monkeypatch, pipeline_component, "infer_vectors")
    queries = count_calls(monkeypatch, ContextStore, "contexts_many")
    docs = list(nlp.pipe(texts, batch_size=len(texts)))
    assert len(calls) == 1 and len(queries) == 1
    assert sorted(calls[0][0][1]) == ["quibbling", "snorkel", "zorblat"]
    for doc, reference in zip(docs, expected):
        assert doc._.bertram_rare == reference._.bertram_rare
        for i, vector in reference._.bertram_vectors.items():
            numpy.testing.assert_allclose(doc._.bertram_vectors[i], vector, rtol=1e-5, atol=1e-6)


def test_huge_doc_uses_windows_around_rare_words(bertram_dir, monkeypatch):
    nlp = make_nlp(bertram_dir, in_domain=True)
    calls = count_calls(monkeypatch, PipelineStore, "contexts")
    filler = "the movie was good and the acting was great . " * 2000
    text = "a zorblat " + filler + "the snorkel " + filler + "one zorblat"
    doc = nlp(text)
    rare = [t.i for t in doc if t.text in ("zorblat", "snorkel")]
    assert doc._.bertram_rare == rare and set(doc._.bertram_vectors) == set(rare)
    added = calls[0][0][3]
    assert len(added) == 3 and all(len(context) < 400 for context in added)


def test_in_domain_contexts_are_the_sentences_when_split(bertram_dir, monkeypatch):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe(
        "bertram",
        config={"model_path": str(bertram_dir), "frequency": {"@misc": "test.ChosenRareWords.v1"}},
    )
    calls = count_calls(monkeypatch, PipelineStore, "contexts")
    nlp("The movie was good. A zorblat ran home. The snorkel sank, and the zorblat too.")
    assert calls[0][0][3] == ["A zorblat ran home.", "The snorkel sank, and the zorblat too."]


def test_pickles_without_open_store(bertram_dir, store_path):
    nlp = make_nlp(bertram_dir, store_path)
    expected = nlp("the zorblat")[1]._.bertram_vector
    bertram = pickle.loads(pickle.dumps(nlp.get_pipe("bertram")))
    assert isinstance(bertram, Bertram)
    numpy.testing.assert_allclose(bertram(nlp.make_doc("the zorblat"))[1]._.bertram_vector, expected, rtol=1e-5)


def test_n_process_gives_the_same_vectors(bertram_dir, store_path):
    texts = ["the zorblat", "a dog", "quibbling actors", "the snorkel"] * 3
    nlp = make_nlp(bertram_dir, store_path)
    expected = [nlp(text)._.bertram_vectors for text in texts]
    docs = list(nlp.pipe(texts, batch_size=2, n_process=2))
    for doc, vectors in zip(docs, expected):
        assert set(doc._.bertram_vectors) == set(vectors)
        for i, vector in vectors.items():
            numpy.testing.assert_allclose(doc._.bertram_vectors[i], vector, rtol=1e-5, atol=1e-6)


def test_to_disk_is_self_contained_and_carries_the_store(bertram_dir, store_path, tmp_path):
    nlp = make_nlp(bertram_dir, store_path, include_store=True)
    expected = nlp("the zorblat")[1]._.bertram_vector
    nlp.to_disk(tmp_path / "pipeline")
    assert (tmp_path / "pipeline" / "bertram" / "model" / "encoder" / "config.json").exists()
    store_path.unlink()
    nlp2 = spacy.blank("en")
    nlp2.add_pipe("bertram", config={"frequency": {"@misc": "test.ChosenRareWords.v1"}, "in_domain": False})
    nlp2.from_disk(tmp_path / "pipeline")
    numpy.testing.assert_allclose(nlp2("the zorblat")[1]._.bertram_vector, expected, rtol=1e-5)


def test_saving_over_the_folder_it_loaded_from_keeps_the_store(bertram_dir, store_path, tmp_path):
    nlp = make_nlp(bertram_dir, store_path, include_store=True)
    expected = nlp("the zorblat")[1]._.bertram_vector
    nlp.to_disk(tmp_path / "pipeline")
    reloaded = make_nlp(bertram_dir, include_store=True).from_disk(tmp_path / "pipeline")
    reloaded.to_disk(tmp_path / "pipeline")
    again = make_nlp(bertram_dir, include_store=True).from_disk(tmp_path / "pipeline")
    numpy.testing.assert_allclose(again("the zorblat")[1]._.bertram_vector, expected, rtol=1e-5)


def test_to_bytes_round_trip(bertram_dir, store_path):
    nlp = make_nlp(bertram_dir, store_path, include_store=True)
    expected = nlp("the zorblat")[1]._.bertram_vector
    data = nlp.get_pipe("bertram").to_bytes()
    nlp2 = make_nlp(bertram_dir, store_path=None, model_path=None)
    nlp2.get_pipe("bertram").from_bytes(data)
    numpy.testing.assert_allclose(nlp2("the zorblat")[1]._.bertram_vector, expected, rtol=1e-5)


def test_in_domain_never_writes_into_a_saved_store(bertram_dir, store_path, tmp_path):
    nlp = make_nlp(bertram_dir, store_path, include_store=True)
    nlp.to_disk(tmp_path / "pipeline")
    saved = tmp_path / "pipeline" / "bertram" / "store.sqlite"
    before = saved.read_bytes()
    nlp2 = make_nlp(bertram_dir, in_domain=True)
    nlp2.from_disk(tmp_path / "pipeline")
    nlp2("my new zorblat sentence")
    assert saved.read_bytes() == before


def test_initialize_needs_a_transformer_after_bertram(bertram_dir, tiny_bert_path):
    nlp = make_nlp(bertram_dir)
    with pytest.raises(ValueError, match="no `transformer` component"):
        nlp.initialize()
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": bertram_transformer(tiny_bert_path)})
    nlp.add_pipe("bertram", config={"model_path": str(bertram_dir), "frequency": {"@misc": "test.ChosenRareWords.v1"}})
    with pytest.raises(ValueError, match="runs after the transformer"):
        nlp.initialize()


def test_initialize_warns_about_a_plain_transformer(bertram_dir, tiny_bert_path):
    nlp = make_nlp(bertram_dir)
    plain = {**bertram_transformer(tiny_bert_path), "@architectures": "spacy-transformers.TransformerModel.v3"}
    del plain["mode"]
    nlp.add_pipe("transformer", config={"model": plain})
    nlp.config["training"]["annotating_components"] = ["bertram"]
    with pytest.warns(UserWarning, match="ignores BERTRAM vectors"):
        nlp.initialize()


@pytest.mark.parametrize(
    "config, message",
    [
        ({"model_path": "/no/such/model"}, "model_path '/no/such/model' does not exist"),
        ({"store_path": "/no/such/store.sqlite"}, "context store '/no/such/store.sqlite' does not exist"),
    ],
)
def test_missing_files_give_clear_errors(bertram_dir, config, message):
    nlp = make_nlp(bertram_dir, **config)
    with pytest.raises(ValueError, match=message):
        nlp("the zorblat")


def test_bad_numbers_fail_at_construction(bertram_dir):
    with pytest.raises(ValueError, match="max_contexts"):
        make_nlp(bertram_dir, max_contexts=0)


def bertram_transformer(encoder_path) -> dict:
    return {
        "@architectures": "bertram.TransformerModel.v1",
        "name": str(encoder_path),
        "mode": "replace",
        "tokenizer_config": {"use_fast": True},
        "get_spans": {"@span_getters": "spacy-transformers.doc_spans.v1"},
    }


def test_in_domain_contexts_never_modify_the_configured_store(bertram_dir, store_path, monkeypatch):
    with ContextStore(store_path, read_only=True) as store:
        before = (store.stats(), store.contexts("zorblat"))
    nlp = make_nlp(bertram_dir, store_path, in_domain=True)
    text = "an unseen zorblat sentence"
    calls = count_calls(monkeypatch, pipeline_component, "infer_vectors")
    nlp(text)
    assert text in calls[0][0][1]["zorblat"]
    with ContextStore(store_path, read_only=True) as store:
        assert (store.stats(), store.contexts("zorblat")) == before
