"""Training textcat and ner over a bertram-fed transformer with `spacy train`, then saving."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

import spacy_bertram.layers.transformer_model as transformer_model
from spacy_bertram.model import BertramModel
from spacy_bertram.pipeline_component import make_bertram  # noqa: F401

from conftest import WORDS

RARE = ["zorblat", "snirfle", "blumpkis"]
TRAIN = [
    ("the zorblat movie was good", "POS", [(1, 2, "THING")]),
    ("i loved the snirfle acting", "POS", [(3, 4, "THING")]),
    ("a great blumpkis story", "POS", [(2, 3, "THING")]),
    ("the zorblat film was bad", "NEG", [(1, 2, "THING")]),
    ("i hated the snirfle plot", "NEG", [(3, 4, "THING")]),
    ("a boring blumpkis scene", "NEG", [(2, 3, "THING")]),
]
DEV = [("the movie was good", "POS", []), ("the film was bad", "NEG", [])]
PREDICT = ["a zorblat was good", "the snirfle plot was boring", "no rare word here"]

CONFIG = """
[paths]
train = null
dev = null
encoder = null
bertram = null

[system]
seed = 0
gpu_allocator = null

[nlp]
lang = "en"
pipeline = ["bertram", "transformer", "textcat", "ner"]
batch_size = 8

[components]

[components.bertram]
factory = "bertram"
model_path = ${paths.bertram}

[components.transformer]
factory = "transformer"
max_batch_items = 4096

[components.transformer.model]
@architectures = "bertram.TransformerModel.v1"
name = ${paths.encoder}
mode = "replace"
tokenizer_config = {"use_fast": true}

[components.transformer.model.get_spans]
@span_getters = "spacy-transformers.doc_spans.v1"

[components.textcat]
factory = "textcat"

[components.textcat.model]
@architectures = "spacy.TextCatReduce.v1"
exclusive_classes = true
use_reduce_first = false
use_reduce_last = false
use_reduce_max = false
use_reduce_mean = true

[components.textcat.model.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = 1.0
pooling = {"@layers": "reduce_mean.v1"}

[components.ner]
factory = "ner"

[components.ner.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
extra_state_tokens = false
hidden_width = 16
maxout_pieces = 2
use_upper = false

[components.ner.model.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = 1.0
pooling = {"@layers": "reduce_mean.v1"}

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
annotating_components = ["bertram"]
max_steps = 6
eval_frequency = 3
dropout = 0.1
seed = ${system.seed}
gpu_allocator = ${system.gpu_allocator}

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 3

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.001

[training.score_weights]
cats_macro_f = 0.5
ents_f = 0.5
"""


def write_docs(path, rows) -> None:
    nlp = spacy.blank("en")
    docs = DocBin()
    for text, label, ents in rows:
        doc = nlp.make_doc(text)
        doc.cats = {"POS": float(label == "POS"), "NEG": float(label == "NEG")}
        doc.ents = [doc.char_span(doc[s].idx, doc[e - 1].idx + len(doc[e - 1]), label=tag) for s, e, tag in ents]
        docs.add(doc)
    docs.to_disk(path)


@pytest.fixture(scope="module")
def trained(tiny_bert_path, tmp_path_factory):
    """A pipeline trained for a few steps; returns its folder and the docs training saw."""
    from spacy.cli.train import train

    path = tmp_path_factory.mktemp("trained")
    BertramModel.from_encoder(tiny_bert_path, words=WORDS + RARE).save_pretrained(path / "bertram")
    write_docs(path / "train.spacy", TRAIN)
    write_docs(path / "dev.spacy", DEV)
    (path / "config.cfg").write_text(CONFIG, encoding="utf8")
    seen = []
    original = transformer_model.doc_vectors

    def spy(doc: Doc):
        vectors = original(doc)
        seen.append((doc.text, sorted(vectors)))
        return vectors

    patch = pytest.MonkeyPatch()
    patch.setattr(transformer_model, "doc_vectors", spy)
    try:
        overrides = {
            "paths.train": str(path / "train.spacy"),
            "paths.dev": str(path / "dev.spacy"),
            "paths.encoder": str(tiny_bert_path),
            "paths.bertram": str(path / "bertram"),
        }
        train(path / "config.cfg", path / "output", overrides=overrides)
    finally:
        patch.undo()
    return path / "output" / "model-last", seen


def predictions(nlp, texts=PREDICT):
    docs = list(nlp.pipe(texts))
    return (
        [doc.cats for doc in docs],
        [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs],
        [last_hidden_state(doc) for doc in docs],
    )


def last_hidden_state(doc: Doc) -> numpy.ndarray:
    """The doc's (single span's) wordpiece states, without the batch's padding."""
    data = doc._.trf_data
    return numpy.array(data.tensors[0][0, : data.wordpieces.lengths[0]])


def assert_same(first, second) -> None:
    cats1, ents1, states1 = first
    cats2, ents2, states2 = second
    assert ents1 == ents2
    for c1, c2 in zip(cats1, cats2):
        assert c1.keys() == c2.keys()
        numpy.testing.assert_allclose(list(c1.values()), list(c2.values()), rtol=1e-5, atol=1e-6)
    for s1, s2 in zip(states1, states2):
        numpy.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-5)


def test_training_docs_carry_vectors_into_the_transformer(trained):
    _, seen = trained
    train_texts = {text for text, _, _ in TRAIN}
    fed = {text for text, indices in seen if indices}
    assert fed and fed <= train_texts
    assert all(indices == [] for text, indices in seen if text not in train_texts)


def test_saved_pipeline_loads_with_identical_predictions(trained, tmp_path):
    model_dir, _ = trained
    nlp = spacy.load(model_dir)
    assert nlp.pipe_names == ["bertram", "transformer", "textcat", "ner"]
    assert (model_dir / "bertram" / "model" / "encoder").is_dir()
    expected = predictions(nlp)
    nlp.to_disk(tmp_path / "again")
    assert_same(predictions(spacy.load(tmp_path / "again")), expected)
    assert_same(predictions(spacy.load(model_dir)), expected)
    with nlp.select_pipes(disable=["bertram"]):
        without = predictions(nlp)
    rare_doc, plain_doc = (without[2][0], expected[2][0]), (without[2][2], expected[2][2])
    assert rare_doc[0].shape != rare_doc[1].shape or not numpy.allclose(*rare_doc)
    numpy.testing.assert_allclose(*plain_doc, rtol=1e-5, atol=1e-5)


def test_replace_listeners_then_save_and_load(trained, tmp_path):
    model_dir, _ = trained
    nlp = spacy.load(model_dir)
    expected = predictions(nlp)
    nlp.replace_listeners("transformer", "textcat", ["model.tok2vec"])
    assert nlp.config["components"]["textcat"]["model"]["tok2vec"]["@architectures"] == (
        "bertram.Tok2VecTransformer.v1"
    )
    replaced = predictions(nlp)
    assert_same(replaced, expected)
    nlp.to_disk(tmp_path / "replaced")
    assert_same(predictions(spacy.load(tmp_path / "replaced")), expected)


def test_trained_pipeline_runs_in_two_processes(trained):
    model_dir, _ = trained
    nlp = spacy.load(model_dir)
    texts = PREDICT * 2
    expected = [doc.cats for doc in nlp.pipe(texts)]
    docs = list(nlp.pipe(texts, batch_size=2, n_process=2))
    for doc, cats in zip(docs, expected):
        numpy.testing.assert_allclose(list(doc.cats.values()), list(cats.values()), rtol=1e-5, atol=1e-6)
        assert doc._.bertram_rare == nlp(doc.text)._.bertram_rare


def test_misspelled_training_words_get_vectors(tiny_bert_path, tmp_path):
    """With the augmenter's misspell_level, training docs hold misspellings, and the
    `bertram` component gives them vectors before the transformer reads them."""
    from spacy.cli.train import train

    BertramModel.from_encoder(tiny_bert_path, words=WORDS + RARE).save_pretrained(tmp_path / "bertram")
    nlp = spacy.blank("en")
    for name, rows in (("train", TRAIN), ("dev", DEV)):
        docs = [nlp.make_doc(text) for text, _, _ in rows]
        for doc, (_, label, _) in zip(docs, rows):
            doc.cats = {"POS": float(label == "POS"), "NEG": float(label == "NEG")}
        DocBin(docs=docs).to_disk(tmp_path / f"{name}.spacy")  # no entities: cats only
    config = CONFIG.replace('"textcat", "ner"]', '"textcat"]').replace("ents_f = 0.5", "")
    config = config.replace("cats_macro_f = 0.5", "cats_macro_f = 1.0")
    config = config.replace(
        "path = ${paths.train}\n",
        "path = ${paths.train}\n\n[corpora.train.augmenter]\n"
        '@augmenters = "bertram.mask_slash_augmenter.v1"\n'
        "mask_level = 0.0\nslash_level = 0.0\nmisspell_level = 0.5\nseed = 1\n",
        1,
    )
    start = config.index("[components.ner]")
    config = config[:start] + config[config.index("[corpora]"):]
    (tmp_path / "config.cfg").write_text(config, encoding="utf8")
    seen = []
    original = transformer_model.doc_vectors

    def spy(doc: Doc):
        vectors = original(doc)
        seen.append([doc[i].text for i in sorted(vectors)])
        return vectors

    patch = pytest.MonkeyPatch()
    patch.setattr(transformer_model, "doc_vectors", spy)
    try:
        train(tmp_path / "config.cfg", tmp_path / "output", overrides={
            "paths.train": str(tmp_path / "train.spacy"),
            "paths.dev": str(tmp_path / "dev.spacy"),
            "paths.encoder": str(tiny_bert_path),
            "paths.bertram": str(tmp_path / "bertram"),
        })
    finally:
        patch.undo()
    vocabulary = {word for text, _, _ in TRAIN + DEV for word in text.split()}
    misspelled = {word for words in seen for word in words if word not in vocabulary}
    assert misspelled, seen  # misspellings of training words reached the transformer with vectors
