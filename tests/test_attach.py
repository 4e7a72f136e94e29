"""Attaching BERTRAM to a pipeline trained without vectors: the paper's downstream protocol."""
import pytest
import spacy
from spacy.training import Example
from typer.testing import CliRunner

from spacy_bertram import pipeline_component
from spacy_bertram.attach import attach_bertram
from spacy_bertram.cli import load_commands
from spacy_bertram.contexts.store import ContextStore
from spacy_bertram.model import BertramModel

from conftest import WORDS

RARE = ["zorblat", "snirfle"]
TRAIN = [("the zorblat movie was good", "POS"), ("the snirfle film was bad", "NEG"),
         ("a good story", "POS"), ("a bad plot", "NEG")]
TEXT = "the zorblat film was good"


def _pipeline(tiny_bert_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("bertram", config={"model_path": None})
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "bertram.TransformerModel.v1",
        "name": str(tiny_bert_path),
        "mode": "replace",
        "tokenizer_config": {"use_fast": True},
        "get_spans": {"@span_getters": "spacy-transformers.doc_spans.v1"},
    }})
    textcat = nlp.add_pipe("textcat", config={"model": {
        "@architectures": "spacy.TextCatReduce.v1",
        "exclusive_classes": True, "use_reduce_first": False, "use_reduce_last": False,
        "use_reduce_max": False, "use_reduce_mean": True,
        "tok2vec": {"@architectures": "spacy-transformers.TransformerListener.v1",
                    "grad_factor": 1.0, "pooling": {"@layers": "reduce_mean.v1"}},
    }})
    for label in ("POS", "NEG"):
        textcat.add_label(label)
    nlp.config["training"]["annotating_components"] = ["bertram"]
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {"POS": y == "POS", "NEG": y == "NEG"}})
                for t, y in TRAIN]
    with pytest.warns(UserWarning, match="no BERTRAM model"):
        optimizer = nlp.initialize(lambda: examples)
    for _ in range(2):
        nlp.update(examples, sgd=optimizer, annotates=["bertram"])
    return nlp


@pytest.fixture(scope="module")
def baseline(tiny_bert_path, tmp_path_factory):
    """A classifier trained with rare words flagged but no vectors, and a BERTRAM model."""
    path = tmp_path_factory.mktemp("attach")
    _pipeline(tiny_bert_path).to_disk(path / "plain")
    BertramModel.from_encoder(tiny_bert_path, words=WORDS + RARE).save_pretrained(path / "bertram")
    with ContextStore(path / "store.sqlite") as store:
        store.add_sentences(["a zorblat is a kind of good film .", "the snirfle was bad ."])
    return path


def _scores_and_pieces(nlp, text=TEXT):
    doc = nlp(text)
    return doc.cats["POS"], doc._.trf_data.wordpieces.strings[0]


@pytest.mark.parametrize("mode", ["slash", "replace"])
def test_attached_pipeline_feeds_vectors_to_the_same_classifier(baseline, mode, tmp_path):
    plain = spacy.load(baseline / "plain")
    plain_score, plain_pieces = _scores_and_pieces(plain)
    assert "[BERTRAM]" not in plain_pieces
    nlp = attach_bertram(baseline / "plain", baseline / "bertram", store=baseline / "store.sqlite", mode=mode)
    score, pieces = _scores_and_pieces(nlp)
    assert "[BERTRAM]" in pieces and ("/" in pieces) == (mode == "slash")
    assert abs(score - plain_score) > 1e-7
    # A text without rare words is untouched: same classifier, same input.
    assert _scores_and_pieces(nlp, "a good film")[0] == pytest.approx(_scores_and_pieces(plain, "a good film")[0])
    # Saved, it reloads with the model bundled and the config saying what it does.
    nlp.to_disk(tmp_path / "attached")
    loaded = spacy.load(tmp_path / "attached")
    assert loaded.config["components"]["transformer"]["model"]["mode"] == mode
    assert loaded.get_pipe("bertram").bertram_model is not None
    loaded_score, loaded_pieces = _scores_and_pieces(loaded)
    assert loaded_pieces == pieces and loaded_score == pytest.approx(score, abs=1e-6)


def test_in_domain_attachment_reads_the_texts_it_sees(baseline, monkeypatch):
    nlp = attach_bertram(baseline / "plain", baseline / "bertram", in_domain=True)
    seen = []
    monkeypatch.setattr(pipeline_component, "infer_vectors", lambda model, contexts, **kw: seen.append(contexts) or {})
    nlp(TEXT)
    assert seen == [{"zorblat": [TEXT]}]


def test_attach_replaces_a_model_the_pipeline_was_saved_with(baseline, tiny_bert_path, tmp_path):
    first = attach_bertram(baseline / "plain", baseline / "bertram")
    first.to_disk(tmp_path / "first")
    other = BertramModel.from_encoder(tiny_bert_path, words=WORDS + RARE, seed=1)
    other.save_pretrained(tmp_path / "other")
    second = attach_bertram(tmp_path / "first", tmp_path / "other")
    assert second.get_pipe("bertram").bertram_model.config.seed == 1


@pytest.mark.parametrize(
    "pipeline, model, store, message",
    [
        ("missing", "bertram", None, "not a saved spaCy pipeline"),
        ("plain", "missing", None, "not a BERTRAM model"),
        ("plain", "bertram", "missing.sqlite", "does not exist"),
    ],
)
def test_bad_paths_name_the_fix(baseline, pipeline, model, store, message):
    with pytest.raises(ValueError, match=message):
        attach_bertram(baseline / pipeline, baseline / model, store=None if store is None else baseline / store)


def test_a_pipeline_without_a_transformer_is_refused(baseline, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "other")
    with pytest.raises(ValueError, match="no transformer with a spacy-transformers architecture"):
        attach_bertram(tmp_path / "other", baseline / "bertram")


def test_a_model_of_another_width_is_refused(baseline, tiny_bert_path, tmp_path):
    import shutil

    from transformers import BertConfig, BertModel

    wide = tmp_path / "wide-bert"
    shutil.copytree(tiny_bert_path, wide)
    config = BertConfig.from_pretrained(tiny_bert_path)
    config.hidden_size, config.intermediate_size = 48, 64
    BertModel(config).save_pretrained(wide)
    BertramModel.from_encoder(wide, words=WORDS).save_pretrained(tmp_path / "wide-bertram")
    with pytest.raises(ValueError, match="48.*32"):
        attach_bertram(baseline / "plain", tmp_path / "wide-bertram")


def test_cli_attach_saves_the_pipeline(baseline, tmp_path):
    app = load_commands()
    result = CliRunner().invoke(app, [
        "attach", str(baseline / "plain"), str(tmp_path / "runs" / "out"), "--model", str(baseline / "bertram"),
        "--store", str(baseline / "store.sqlite"), "--mode", "slash",
    ])
    assert result.exit_code == 0, result.output
    assert "[BERTRAM]" in _scores_and_pieces(spacy.load(tmp_path / "runs" / "out"))[1]
    bad = CliRunner().invoke(app, ["attach", str(tmp_path / "nothing"), str(tmp_path / "o2"),
                                   "--model", str(baseline / "bertram")])
    assert bad.exit_code == 1 and "not a saved spaCy pipeline" in bad.output
