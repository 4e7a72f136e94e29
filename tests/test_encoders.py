"""Any encoder: cased word keys, byte-level BPE in slash mode, a model for another encoder refused."""
import numpy
import pytest
import spacy
from spacy.language import Language

import spacy_bertram.layers.transformer_model  # noqa: F401  (registers the architectures)
from spacy_bertram import pipeline_component  # noqa: F401  (registers the factory)
from spacy_bertram.extensions import doc_vectors, set_doc_vectors
from spacy_bertram.model import BertramModel, infer_vectors
from spacy_bertram.model.encoder import load_tokenizer

from conftest import WORDS
from test_component import ChosenRareWords  # noqa: F401  (registers test.ChosenRareWords.v1)

pytestmark = pytest.mark.filterwarnings("ignore:bertram. '.*annotating_components")


def saved_model(encoder_path, folder, words=("zorblat", "paris", "Paris")):
    BertramModel.from_encoder(encoder_path, words=WORDS + list(words)).save_pretrained(folder)
    return folder


def make_nlp(model_path, transformer_path=None, mode="slash", rare=("zorblat", "paris")) -> Language:
    nlp = spacy.blank("en")
    frequency = {"@misc": "test.ChosenRareWords.v1", "words": list(rare)}
    nlp.add_pipe("bertram", config={"model_path": str(model_path), "frequency": frequency})
    if transformer_path is not None:
        spans = {"@span_getters": "spacy-transformers.doc_spans.v1"}
        architecture = {"@architectures": "bertram.TransformerModel.v1", "name": str(transformer_path)}
        nlp.add_pipe("transformer", config={"model": {**architecture, "mode": mode, "get_spans": spans}})
    return nlp


def test_casing_and_fingerprints_of_the_fixtures(tiny_bert_path, tiny_cased_bert_path, tiny_roberta_path):
    from spacy_bertram.model.encoder import lowercases, tokenizer_fingerprint

    paths = (tiny_bert_path, tiny_cased_bert_path, tiny_roberta_path)
    assert len({tokenizer_fingerprint(load_tokenizer(p)) for p in paths}) == 3
    assert tokenizer_fingerprint(load_tokenizer(tiny_bert_path)) == tokenizer_fingerprint(load_tokenizer(tiny_bert_path))
    assert lowercases(load_tokenizer(tiny_bert_path))
    assert not lowercases(load_tokenizer(tiny_cased_bert_path))
    assert not lowercases(load_tokenizer(tiny_roberta_path))


def test_a_cased_encoder_keeps_the_case_of_words(tiny_cased_bert_path, tmp_path):
    nlp = make_nlp(saved_model(tiny_cased_bert_path, tmp_path / "cased"))
    doc = nlp("Paris and paris and PARIS .")
    assert doc._.bertram_rare == [0, 2, 4]
    # "Paris" is one row of the cased vocabulary: the transformer reads that row, no vector.
    assert sorted(doc_vectors(doc)) == [2, 4]
    component = nlp.get_pipe("bertram")
    assert component.bertram_model.word_keys(["Paris", "paris"]) == {"Paris": "Paris", "paris": "paris"}
    model = component.bertram_model
    expected = infer_vectors(model, {"paris": [doc.text], "PARIS": [doc.text]})  # in-domain
    numpy.testing.assert_allclose(doc[2]._.bertram_vector, expected["paris"], rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(doc[4]._.bertram_vector, expected["PARIS"], rtol=1e-5, atol=1e-6)
    assert not numpy.allclose(doc[2]._.bertram_vector, doc[4]._.bertram_vector)


def test_an_uncased_encoder_gives_every_case_one_vector(tiny_bert_path, tmp_path):
    nlp = make_nlp(saved_model(tiny_bert_path, tmp_path / "uncased"))
    doc = nlp("Paris and paris .")
    assert nlp.get_pipe("bertram").bertram_model.word_keys(["Paris"]) == {"Paris": "paris"}
    numpy.testing.assert_array_equal(doc[0]._.bertram_vector, doc[2]._.bertram_vector)


def test_roberta_in_slash_mode_end_to_end(tiny_roberta_path, tmp_path):
    nlp = make_nlp(saved_model(tiny_roberta_path, tmp_path / "roberta"), tiny_roberta_path, mode="slash")
    nlp.initialize()
    doc = nlp("the zorblat was very good .")
    assert doc._.bertram_rare == [1] and sorted(doc_vectors(doc)) == [1]
    trf = doc._.trf_data
    strings = trf.wordpieces.strings[0]
    slot = strings.index("[BERTRAM]")
    # ' /' is two pieces in this tiny BPE: the word's pieces, then "Ġ", "/", then the vector.
    assert strings[slot - 2 : slot] == ["Ġ", "/"] and "zor" in "".join(strings[1 : slot - 2])
    assert slot in trf.align[1].dataXd.ravel().tolist()
    assert numpy.isfinite(trf.model_output.last_hidden_state).all()

    # The encoder reads the vector: another vector changes the word's output.
    other = nlp.make_doc(doc.text)
    set_doc_vectors(other, [1], {1: doc[1]._.bertram_vector + 1.0})
    other = nlp.get_pipe("transformer")(other)
    word = trf.align[1].dataXd.ravel()
    assert not numpy.allclose(
        trf.model_output.last_hidden_state[0][word], other._.trf_data.model_output.last_hidden_state[0][word]
    )


@pytest.mark.parametrize("transformer", ["tiny_roberta_path", "tiny_cased_bert_path"])
def test_a_model_for_another_encoder_is_refused_at_initialize(tiny_bert_path, transformer, request, tmp_path):
    other = request.getfixturevalue(transformer)
    nlp = make_nlp(saved_model(tiny_bert_path, tmp_path / "bert"), other, mode="replace")
    # Both widths are 32: the tokenizer tells them apart.
    with pytest.raises(ValueError, match=f"{tiny_bert_path} .*tokenizer .*'transformer' uses {other} .*tokenizer "):
        nlp.initialize()


def test_a_loaded_transformer_is_checked_too(tiny_bert_path, tiny_cased_bert_path, tmp_path):
    nlp = make_nlp(saved_model(tiny_bert_path, tmp_path / "bert"), tiny_bert_path, mode="replace")
    nlp.initialize()
    assert nlp("the zorblat was good .")._.trf_data is not None
    cased = saved_model(tiny_cased_bert_path, tmp_path / "cased")
    with pytest.raises(ValueError, match="was trained for the encoder"):
        nlp.get_pipe("bertram").initialize(lambda: [], nlp=nlp, model=cased)


def test_slash_without_a_separator_fails_at_initialize(tmp_path):
    from conftest import _save_tiny_bert, _wordpiece_vocab

    (tmp_path / "no-slash").mkdir()
    no_slash = _save_tiny_bert(tmp_path / "no-slash", [p for p in _wordpiece_vocab() if p != "/"], lowercase=True)
    nlp = make_nlp(saved_model(no_slash, tmp_path / "model"), no_slash, mode="slash")
    with pytest.raises(ValueError, match=f"{no_slash} has no pieces for ' /'.*mode = \"replace\""):
        nlp.initialize()
