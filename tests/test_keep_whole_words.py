"""The `bertram` component's keep_whole_words: rare words the tokenizer keeps whole."""
import numpy
import spacy
from spacy.lang.en import English

from spacy_bertram.contexts.store import ContextStore
from spacy_bertram.model import BertramModel, infer_vectors

from test_component import RARE, WORDS, make_nlp  # noqa: F401  (registers test.ChosenRareWords.v1)

FREQUENCY = {"@misc": "test.ChosenRareWords.v1", "words": ["zorblat", "dog"]}
SENTENCES = ["the zorblat was very good .", "a zorblat and a dog in the house .", "the dog saw a cat ."]


def model_and_store(tiny_bert_path, tmp_path):
    path = tmp_path / "model"
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS + RARE, seed=1)
    model.form.embedding.weight.data.normal_()  # a correction that shows on every word
    model.save_pretrained(path)
    with ContextStore(tmp_path / "store.sqlite") as store:
        store.add_sentences(SENTENCES)
    return path, tmp_path / "store.sqlite"


def test_whole_rare_words_keep_their_row_by_default(tiny_bert_path, tmp_path):
    path, store = model_and_store(tiny_bert_path, tmp_path)
    nlp = make_nlp(path, store, frequency=FREQUENCY)
    assert nlp.get_pipe("bertram").cfg["keep_whole_words"] is True
    doc = nlp("a zorblat and a dog")
    assert doc._.bertram_rare == [1, 4] and set(doc._.bertram_vectors) == {1}


def test_whole_rare_words_get_a_vector_when_not_kept(tiny_bert_path, tmp_path):
    path, store = model_and_store(tiny_bert_path, tmp_path)
    nlp = make_nlp(path, store, frequency=FREQUENCY, keep_whole_words=False)
    doc = nlp("a zorblat and a dog")
    assert set(doc._.bertram_vectors) == {1, 4}
    model = BertramModel.from_pretrained(path)
    model.config.keep_whole_words = False
    with ContextStore(store, read_only=True) as opened:
        contexts = opened.contexts_many(["zorblat", "dog"], limit=32)
    expected = infer_vectors(model, contexts)
    numpy.testing.assert_allclose(doc[4]._.bertram_vector, expected["dog"], rtol=1e-5, atol=1e-6)
    row = model.encoder.get_input_embeddings().weight[model.tokenizer.get_vocab()["dog"]].detach().numpy()
    assert not numpy.allclose(doc[4]._.bertram_vector, row, atol=1e-3)  # not its own row

    saved = tmp_path / "pipeline"
    nlp.to_disk(saved)
    reloaded = spacy.load(saved)
    assert reloaded.get_pipe("bertram").cfg["keep_whole_words"] is False
    assert set(reloaded("a zorblat and a dog")._.bertram_vectors) == {1, 4}
    assert isinstance(reloaded, English)
