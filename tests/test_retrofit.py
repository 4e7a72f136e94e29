"""Retrofitting BERTRAM to stock spacy-transformers pipelines, and taking it off again."""
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.training import Example
from typer.testing import CliRunner

from spacy_bertram.attach import attach_bertram, detach_bertram, make_prepare_transformers
from spacy_bertram.cli import load_commands
from spacy_bertram.contexts.store import ContextStore
from spacy_bertram.model import BertramModel
from spacy_bertram.util import default_encoder_path

from conftest import WORDS

PLAIN = "a good film was the story"
RARE = "the zorblat film was good"
LISTENER = {"@architectures": "spacy-transformers.TransformerListener.v1", "grad_factor": 1.0,
            "pooling": {"@layers": "reduce_mean.v1"}}
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_package.sh"


def _stock(tiny_bert_path, component, config):
    """A stock pipeline: transformer (TransformerModel.v3) and one listening component."""
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "spacy-transformers.TransformerModel.v3",
        "name": str(tiny_bert_path),
        "tokenizer_config": {"use_fast": True},
        "get_spans": {"@span_getters": "spacy-transformers.doc_spans.v1"},
    }})
    return nlp, nlp.add_pipe(component, config={"model": config})


def _train(nlp, examples):
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    return nlp


def _textcat(tiny_bert_path):
    nlp, textcat = _stock(tiny_bert_path, "textcat", {
        "@architectures": "spacy.TextCatReduce.v1", "exclusive_classes": True, "use_reduce_first": False,
        "use_reduce_last": False, "use_reduce_max": False, "use_reduce_mean": True, "tok2vec": LISTENER,
    })
    data = [("the zorblat movie was good", "POS"), ("a bad plot", "NEG"), ("a good story", "POS")]
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {"POS": y == "POS", "NEG": y == "NEG"}})
                for t, y in data]
    return _train(nlp, examples)


def _ner(tiny_bert_path):
    nlp, _ = _stock(tiny_bert_path, "ner", {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
        "hidden_width": 16, "maxout_pieces": 2, "use_upper": False, "tok2vec": LISTENER,
    })
    data = [("the zorblat film was good", [(4, 11, "FILM")]), ("a good story", [(7, 12, "FILM")])]
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": ents}) for t, ents in data]
    return _train(nlp, examples)


@pytest.fixture(scope="module")
def stock(tiny_bert_path, tmp_path_factory):
    """Folders of stock pipelines (textcat; ner; ner with its listener replaced), a model, a store."""
    path = tmp_path_factory.mktemp("retrofit")
    _textcat(tiny_bert_path).to_disk(path / "textcat")
    ner = _ner(tiny_bert_path)
    ner.to_disk(path / "ner")
    ner.replace_listeners("transformer", "ner", ["model.tok2vec"])
    ner.to_disk(path / "ner-replaced")
    BertramModel.from_encoder(tiny_bert_path, words=WORDS + ["zorblat"]).save_pretrained(path / "bertram")
    with ContextStore(path / "store.sqlite") as store:
        store.add_sentences(["a zorblat is a kind of good film .", "the zorblat was bad ."])
    return path


def _features(nlp, text, component):
    """What `component` reads from the transformer for `text` (its tok2vec output)."""
    doc = nlp.make_doc(text)
    for name, proc in nlp.pipeline:
        if name == component:
            return nlp.get_pipe(component).model.get_ref("tok2vec").predict([doc])[0], proc(doc)
        doc = proc(doc)


def _predictions(doc):
    return doc.cats, [(e.start, e.end, e.label_) for e in doc.ents]


PIPELINES = [("textcat", "textcat"), ("ner", "ner"), ("ner-replaced", "ner")]


@pytest.mark.parametrize("folder, component", PIPELINES)
@pytest.mark.parametrize("mode", ["replace", "slash"])
def test_a_stock_pipeline_gets_bertram_and_keeps_its_predictions(stock, folder, component, mode, tmp_path):
    original = spacy.load(stock / folder)
    nlp = attach_bertram(stock / folder, stock / "bertram", store=stock / "store.sqlite", mode=mode)
    assert nlp.pipe_names[0] == "bertram" and nlp.pipe_names[1:] == original.pipe_names
    assert "bertram" in nlp.config["training"]["annotating_components"]
    # The encoder's special tokens are never rare, as with the component's own configs.
    special = nlp.config["components"]["bertram"]["rare_filter"]["special_tokens"]
    assert {"[CLS]", "[MASK]"} <= set(special) <= nlp.get_pipe("bertram").rare_tokens.rare_filter.special_tokens
    # Without rare words: the same input, the same weights, the same predictions.
    plain_features, plain_doc = _features(nlp, PLAIN, component)
    original_features, original_doc = _features(original, PLAIN, component)
    assert numpy.array_equal(plain_features, original_features)
    assert _predictions(plain_doc) == _predictions(original_doc)
    # A rare word with contexts: the transformer's input changes.
    rare_features, rare_doc = _features(nlp, RARE, component)
    assert list(rare_doc._.bertram_vectors) == [1]
    assert not numpy.allclose(rare_features, _features(original, RARE, component)[0])
    # Saved and reloaded, it is the same pipeline.
    nlp.to_disk(tmp_path / "attached")
    loaded = spacy.load(tmp_path / "attached")
    for text in (PLAIN, RARE):
        features, doc = _features(loaded, text, component)
        assert numpy.allclose(features, _features(nlp, text, component)[0], atol=1e-6)
        assert _predictions(doc) == _predictions(nlp(text))


@pytest.mark.parametrize("folder, component", PIPELINES)
def test_detach_gives_the_stock_pipeline_back(stock, folder, component):
    original = spacy.load(stock / folder)
    detached = detach_bertram(attach_bertram(original, stock / "bertram", store=stock / "store.sqlite"))
    assert original.pipe_names == detached.pipe_names
    assert detached.config["components"] == original.config["components"]
    assert detached.config["training"] == original.config["training"]
    for text in (PLAIN, RARE):
        features, doc = _features(detached, text, component)
        assert numpy.array_equal(features, _features(original, text, component)[0])
        assert _predictions(doc) == _predictions(original(text))


def test_an_in_memory_pipeline_is_copied_not_changed(stock):
    original = spacy.load(stock / "textcat")
    config = original.config.copy()
    nlp = attach_bertram(original, stock / "bertram", mode="replace", in_domain=True)
    assert original.config == config and "bertram" not in original.pipe_names
    assert nlp.config["components"]["transformer"]["model"]["@architectures"] == "bertram.TransformerModel.v1"
    assert nlp(RARE).cats != original(RARE).cats


def test_what_cannot_be_retrofitted_is_refused(stock, tmp_path):
    cnn = spacy.blank("en")
    cnn.add_pipe("textcat")
    with pytest.raises(ValueError, match="no transformer with a spacy-transformers architecture.*spacy.Tok2Vec"):
        attach_bertram(cnn, stock / "bertram")
    with pytest.raises(ValueError, match="nothing to detach"):
        detach_bertram(stock / "textcat")
    sentencizer = spacy.load(stock / "textcat")
    sentencizer.add_pipe("sentencizer", name="bertram")
    with pytest.raises(ValueError, match="named 'bertram' that is not a bertram component"):
        attach_bertram(sentencizer, stock / "bertram")


def test_cli_attaches_and_detaches_a_stock_pipeline(stock, tmp_path):
    app, runner = load_commands(), CliRunner()
    result = runner.invoke(app, ["attach", str(stock / "textcat"), str(tmp_path / "attached"),
                                 "--model", str(stock / "bertram"), "--mode", "replace", "--zipf-threshold", "2.5"])
    assert result.exit_code == 0, result.output
    attached = spacy.load(tmp_path / "attached")
    assert attached.config["components"]["bertram"]["frequency"]["zipf_threshold"] == 2.5
    assert "[BERTRAM]" in attached(RARE)._.trf_data.wordpieces.strings[0]
    result = runner.invoke(app, ["detach", str(tmp_path / "attached"), str(tmp_path / "detached")])
    assert result.exit_code == 0, result.output
    assert spacy.load(tmp_path / "detached")(RARE).cats == spacy.load(stock / "textcat")(RARE).cats
    bad = runner.invoke(app, ["detach", str(stock / "textcat"), str(tmp_path / "again")])
    assert bad.exit_code == 1 and "nothing to detach" in bad.output


def test_prepare_transformers_freezes_embeddings_and_finds_the_default_encoder(tiny_bert_path):
    nlp = _textcat(tiny_bert_path)  # trained without the callback: embeddings move
    baseline = nlp.get_pipe("transformer").model.transformer.get_input_embeddings().weight
    assert baseline.requires_grad
    frozen = _stock(tiny_bert_path, "textcat", {"@architectures": "spacy.TextCatReduce.v1", "exclusive_classes": True,
                                                 "use_reduce_first": False, "use_reduce_last": False,
                                                 "use_reduce_max": False, "use_reduce_mean": True,
                                                 "tok2vec": LISTENER})[0]
    make_prepare_transformers()(frozen)
    examples = [Example.from_dict(frozen.make_doc("a good story"), {"cats": {"POS": True, "NEG": False}}),
                Example.from_dict(frozen.make_doc("a bad plot"), {"cats": {"POS": False, "NEG": True}})]
    optimizer = frozen.initialize(lambda: examples)
    embeddings = frozen.get_pipe("transformer").model.transformer.get_input_embeddings().weight
    before = embeddings.detach().clone()
    frozen.update(examples, sgd=optimizer)
    assert not embeddings.requires_grad and bool((embeddings == before).all())
    default = spacy.blank("en")
    default.add_pipe("transformer", config={"model": {"name": "default"}})
    make_prepare_transformers(freeze_embeddings=False)(default)
    assert default.get_pipe("transformer").model.attrs["name"] == str(default_encoder_path())


@pytest.mark.slow
def test_a_retrofitted_pipeline_packages_into_a_wheel_that_loads(stock, tmp_path):
    attach_bertram(stock / "textcat", stock / "bertram", store=stock / "store.sqlite").to_disk(tmp_path / "pipeline")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "pipeline"), RARE],
        env={**env, "PYTHON": sys.executable}, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "rare word 'zorblat' vector norm" in result.stdout
