"""`explain`: a known word's nearest whole words, its contexts, the HTML page and the CLI."""
import pytest
import spacy
import torch
from typer.testing import CliRunner

from spacy_bertram import pipeline_component  # noqa: F401  (registers the factory)
from spacy_bertram.cli import load_commands
from spacy_bertram.contexts.store import ContextStore
from spacy_bertram.explain import explain, explanation_html
from spacy_bertram.model import BertramModel

from conftest import WORDS
from test_component import ChosenRareWords  # noqa: F401  (registers test.ChosenRareWords.v1)

TEXT = "the dog and the zorblat saw a cat ."


@pytest.fixture(scope="module")
def pipeline_dir(tiny_bert_path, tmp_path_factory):
    """A pipeline whose model maps every word's form to the row of "cat" and its
    contexts to the row of "movie"; "dog" (whole) and "zorblat" (split) are rare."""
    folder = tmp_path_factory.mktemp("explain")
    model = BertramModel.from_encoder(
        tiny_bert_path, words=WORDS + ["zorblat"], mode="context", wordpiece_residual=False, ngram_min_count=1
    )
    rows = model.encoder.get_input_embeddings().weight
    vocab = model.tokenizer.get_vocab()
    with torch.no_grad():
        model.form.embedding.weight.copy_(rows[vocab["cat"]].expand_as(model.form.embedding.weight))
        model.output.weight.zero_()
        model.output.bias.copy_(rows[vocab["movie"]])
    model.save_pretrained(folder / "model")
    with ContextStore(folder / "store.sqlite") as store:
        store.add_sentences(["a dog in the house .", "the dog was fun .", "a zorblat ."])
    nlp = spacy.blank("en")
    frequency = {"@misc": "test.ChosenRareWords.v1", "words": ["dog", "zorblat"]}
    settings = {"model_path": str(folder / "model"), "store_path": str(folder / "store.sqlite"), "in_domain": True}
    nlp.add_pipe("bertram", config={**settings, "frequency": frequency, "include_store": True})
    nlp.to_disk(folder / "pipeline")
    return folder / "pipeline"


def test_explain_names_the_nearest_words_of_each_vector(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    dog, zorblat = explain(nlp, TEXT, k=3)
    assert (dog.i, dog.text, dog.word, TEXT[dog.start_char : dog.end_char]) == (1, "dog", "dog", "dog")
    # Without the residual no word keeps its own row: both got vectors.
    assert not dog.own_row and not zorblat.own_row
    # Two store sentences and the text itself (in-domain); "zorblat": one and the text.
    assert (dog.n_contexts, zorblat.n_contexts) == (3, 2)
    # A one-piece word's wordpiece mean is its own row.
    assert dog.wordpiece_mean[0].word == "dog" and dog.wordpiece_mean[0].similarity == pytest.approx(1.0)
    assert len(dog.wordpiece_mean) == 3 and dog.wordpiece_mean[1].similarity < 1.0
    for record in (dog, zorblat):
        assert record.form[0].word == "cat" and record.form[0].similarity == pytest.approx(1.0)
        assert record.bertram[0].word == "movie" and record.bertram[0].similarity == pytest.approx(1.0)
        # Only whole words are neighbours: no continuation pieces, no special tokens.
        assert not any(n.word.startswith("##") or n.word.startswith("[") for n in record.wordpiece_mean)
    assert dog.label == "movie (3 contexts)"


def test_explain_on_text_without_rare_words_and_without_a_model(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    assert explain(nlp, "the movie was good .") == []
    plain = spacy.blank("en")
    plain.add_pipe("bertram", config={"frequency": {"@misc": "test.ChosenRareWords.v1"}})
    with pytest.raises(ValueError, match="has no BERTRAM model"):
        explain(plain, TEXT)
    with pytest.raises(ValueError, match="no bertram component"):
        explain(spacy.blank("en"), TEXT)


def test_html_marks_the_rare_words(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    page = explanation_html(nlp, TEXT, explain(nlp, TEXT))
    assert page.startswith("<!DOCTYPE html>") and page.count("movie (") == 2
    assert "zorblat" in page and "movie (3 contexts)" in page


def test_cli_explain_prints_and_saves_html(pipeline_dir, tmp_path):
    app = load_commands()
    out = tmp_path / "pages" / "explain.html"
    result = CliRunner().invoke(app, ["explain", TEXT, "--pipeline", str(pipeline_dir), "--html", str(out), "-k", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "dog (token 1): 3 contexts"
    assert lines[1].split()[:4] == ["wordpiece", "mean:", "dog", "1.00,"]
    assert lines[2].split()[:3] == ["form:", "cat", "1.00,"] and lines[3].split()[:3] == ["BERTRAM:", "movie", "1.00,"]
    assert "movie (2 contexts)" in out.read_text(encoding="utf8")
    missing = CliRunner().invoke(app, ["explain", TEXT, "--pipeline", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "no pipeline folder" in missing.output
