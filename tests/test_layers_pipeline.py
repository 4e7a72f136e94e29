"""A transformer pipe with bertram.TransformerModel.v1 and a listening textcat: train, save, load."""
import zlib

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

import spacy_bertram.layers.transformer_model  # noqa: F401  (registers the architectures)
from spacy_bertram.extensions import set_doc_vectors
from spacy_bertram.layers import BertramTransformerModel

RARE = {"zorblax", "quxly", "blorp"}
TRAIN = [
    ("the zorblax movie was great", "POS"),
    ("a quxly good film with fun actors", "POS"),
    ("the blorp plot was boring", "NEG"),
    ("bad acting and a zorblax story", "NEG"),
]
TEXTS = ["the zorblax film was quxly fun", "a blorp movie", "the movie was great"]


@Language.component("test_bertram_vectors")
def set_test_vectors(doc: Doc) -> Doc:
    """Stands in for the bertram component: a fixed random vector per rare word."""
    vectors = {
        t.i: numpy.random.default_rng(zlib.crc32(t.lower_.encode())).normal(size=32).astype("f")
        for t in doc
        if t.lower_ in RARE
    }
    set_doc_vectors(doc, sorted(vectors), vectors)
    return doc


def make_nlp(tiny_bert_path, mode: str, freeze_embeddings: bool = True) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("test_bertram_vectors")
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "bertram.TransformerModel.v1",
                "name": str(tiny_bert_path),
                "tokenizer_config": {"use_fast": True},
                "mode": mode,
                "freeze_embeddings": freeze_embeddings,
                "get_spans": {
                    "@span_getters": "spacy-transformers.strided_spans.v1",
                    "window": 4,
                    "stride": 3,
                },
            }
        },
    )
    textcat = nlp.add_pipe(
        "textcat",
        config={
            "model": {
                "@architectures": "spacy.TextCatReduce.v1",
                "exclusive_classes": True,
                "use_reduce_first": False,
                "use_reduce_last": False,
                "use_reduce_max": False,
                "use_reduce_mean": True,
                "tok2vec": {
                    "@architectures": "spacy-transformers.TransformerListener.v1",
                    "grad_factor": 1.0,
                    "pooling": {"@layers": "reduce_mean.v1"},
                },
            }
        },
    )
    for label in ("POS", "NEG"):
        textcat.add_label(label)
    return nlp


def examples(nlp):
    return [
        Example.from_dict(nlp.make_doc(text), {"cats": {"POS": label == "POS", "NEG": label == "NEG"}})
        for text, label in TRAIN
    ]


def predictions(nlp):
    return numpy.array([[doc.cats["POS"], doc.cats["NEG"]] for doc in nlp.pipe(TEXTS)])


@pytest.fixture(scope="module")
def trained(tiny_bert_path):
    """Slash mode, the one that grows the batch; replace differs only inside the layer."""
    nlp = make_nlp(tiny_bert_path, "slash")
    train = examples(nlp)
    optimizer = nlp.initialize(lambda: train)
    hf_model = nlp.get_pipe("transformer").model.transformer
    before = {name: p.detach().clone() for name, p in hf_model.named_parameters()}
    losses = {}
    for _ in range(3):
        nlp.update(train, sgd=optimizer, losses=losses, annotates=["test_bertram_vectors"])
    assert numpy.isfinite(losses["textcat"]) and losses["transformer"] > 0
    changed = {n for n, p in hf_model.named_parameters() if not p.detach().equal(before[n])}
    # The paper's setting: the encoder trains, its input word embeddings stay fixed.
    assert "embeddings.word_embeddings.weight" not in changed
    assert any(n.startswith("encoder.") for n in changed)
    return nlp


def test_unfrozen_embeddings_train(tiny_bert_path):
    nlp = make_nlp(tiny_bert_path, "slash", freeze_embeddings=False)
    train = examples(nlp)
    optimizer = nlp.initialize(lambda: train)
    embeddings = nlp.get_pipe("transformer").model.transformer.get_input_embeddings()
    before = embeddings.weight.detach().clone()
    for _ in range(3):
        nlp.update(train, sgd=optimizer, annotates=["test_bertram_vectors"])
    assert not embeddings.weight.detach().equal(before)


def test_training_sees_the_vectors(trained):
    doc = trained("the zorblax movie")
    assert "[BERTRAM]" in doc._.trf_data.wordpieces.strings[0]
    # Without the vectors the same text gives other textcat scores.
    with trained.select_pipes(disable=["test_bertram_vectors"]):
        plain = trained("the zorblax movie")
    assert "[BERTRAM]" not in plain._.trf_data.wordpieces.strings[0]
    assert abs(doc.cats["POS"] - plain.cats["POS"]) > 1e-6


def test_save_and_load_gives_identical_predictions(trained, tmp_path):
    trained.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert isinstance(loaded.get_pipe("transformer").model, BertramTransformerModel)
    assert loaded.get_pipe("transformer").model.mode == trained.get_pipe("transformer").model.mode
    numpy.testing.assert_allclose(predictions(loaded), predictions(trained), atol=1e-6)


def test_mode_comes_from_the_config_a_pipeline_is_loaded_with(trained, tmp_path):
    """A pipeline trained in one mode loads in another: the mode is not a saved weight."""
    path = _saved(trained, tmp_path / "nlp")
    loaded = spacy.load(path, config={"components": {"transformer": {"model": {"mode": "replace"}}}})
    assert loaded.get_pipe("transformer").model.mode == "replace"
    strings = loaded("the zorblax movie")._.trf_data.wordpieces.strings[0]
    assert "[BERTRAM]" in strings and "/" not in strings
    assert "/" in trained("the zorblax movie")._.trf_data.wordpieces.strings[0]
    # Saved again, it keeps the mode it now has.
    assert spacy.load(_saved(loaded, tmp_path / "again")).get_pipe("transformer").model.mode == "replace"


def test_replace_listeners_then_save_and_load(trained, tmp_path):
    expected = predictions(trained)
    nlp = spacy.load(_saved(trained, tmp_path / "before"))
    nlp.replace_listeners("transformer", "textcat", ["model.tok2vec"])
    tok2vec_cfg = nlp.get_pipe_config("textcat")["model"]["tok2vec"]
    assert tok2vec_cfg["@architectures"] == "bertram.Tok2VecTransformer.v1"
    assert tok2vec_cfg["mode"] == trained.get_pipe("transformer").model.mode
    assert tok2vec_cfg["pooling"] == {"@layers": "reduce_mean.v1"}
    numpy.testing.assert_allclose(predictions(nlp), expected, atol=1e-6)

    nlp.remove_pipe("transformer")
    loaded = spacy.load(_saved(nlp, tmp_path / "after"))
    inner = [n for n in loaded.get_pipe("textcat").model.walk() if isinstance(n, BertramTransformerModel)]
    assert len(inner) == 1
    numpy.testing.assert_allclose(predictions(loaded), expected, atol=1e-6)


def _saved(nlp, path):
    nlp.to_disk(path)
    return path
