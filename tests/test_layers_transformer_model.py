"""bertram.TransformerModel.v1 on the tiny BERT: what the encoder sees, alignment, invariants."""
import warnings
from typing import Dict, List

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.span_getters import configure_strided_spans, get_doc_spans

import spacy_bertram.layers.transformer_model as transformer_model
from spacy_bertram.extensions import set_doc_vectors
from spacy_bertram.layers import BertramTransformerModel

WIDTH = 32


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def build(
    path,
    mode="replace",
    get_spans=get_doc_spans,
    architecture="bertram.TransformerModel.v1",
    freeze_embeddings=True,
):
    config = {"name": str(path), "get_spans": get_spans, "tokenizer_config": {"use_fast": True}}
    if architecture.startswith("bertram"):
        config["mode"] = mode
        config["freeze_embeddings"] = freeze_embeddings
    model = registry.architectures.get(architecture)(**config)
    model.initialize()
    return model


@pytest.fixture(scope="module")
def replace_model(tiny_bert_path):
    return build(tiny_bert_path, "replace")


@pytest.fixture(scope="module")
def slash_model(tiny_bert_path):
    return build(tiny_bert_path, "slash")


@pytest.fixture(scope="module")
def plain_model(tiny_bert_path):
    return build(tiny_bert_path, architecture="spacy-transformers.TransformerModel.v3")


def with_vectors(nlp, text: str, rare: List[str], seed: int = 0) -> Doc:
    """A doc whose words in `rare` carry distinct random vectors.

    Random, not constant: the encoder's LayerNorm removes a constant offset.
    """
    doc = nlp(text)
    rng = numpy.random.default_rng(seed)
    vectors = {t.i: rng.normal(size=WIDTH).astype("f") for t in doc if t.text in rare}
    set_doc_vectors(doc, sorted(vectors), vectors)
    return doc


def encoder_inputs(model, docs) -> Dict[str, torch.Tensor]:
    """Run the model and capture the keyword arguments the encoder was called with."""
    seen = {}

    def hook(module, args, kwargs):
        seen.update(kwargs)

    handle = model.transformer.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        output = model.predict(docs)
    finally:
        handle.remove()
    seen["output"] = output
    return seen


def encoder_pieces(model, docs) -> List[List[str]]:
    """The pieces the encoder saw per row (padding dropped); a vector shows as <word>."""
    seen = encoder_inputs(model, docs)
    if "inputs_embeds" not in seen:
        ids = seen["input_ids"].tolist()
        return [
            [p for p, m in zip(model.tokenizer.convert_ids_to_tokens(row), mask) if m]
            for row, mask in zip(ids, seen["attention_mask"].tolist())
        ]
    table = model.transformer.get_input_embeddings().weight.detach()
    labels = {}
    for doc in docs:
        for i, vector in (doc._.bertram_vectors or {}).items():
            labels[tuple(numpy.asarray(vector).tolist())] = f"<{doc[i].text}>"
    rows = []
    for embeds, mask in zip(seen["inputs_embeds"], seen["attention_mask"]):
        row = []
        for vector in embeds[mask.bool()]:
            label = labels.get(tuple(vector.tolist()))
            if label is None:
                match = torch.nonzero((table == vector).all(dim=1)).ravel().tolist()
                assert len(match) == 1, "an input position is neither a vocab embedding nor a vector"
                label = model.tokenizer.convert_ids_to_tokens(match)[0]
            row.append(label)
        rows.append(row)
    return rows


def aligned_pieces(output, doc_index: int = 0) -> List[List[str]]:
    """For each token of a doc, the batch strings of the wordpieces it aligns to."""
    data = output.doc_data[doc_index]
    flat = [p for row in data.wordpieces.strings for p in row]
    return [[flat[j] for j in data.align[i].dataXd.ravel()] for i in range(len(data.align))]


@pytest.mark.parametrize(
    "mode,expected",
    [
        (
            "replace",
            ["[CLS]", "<zorblax>", "the", "movie", "was", "<quxly>", "great", "<blorp>", "[SEP]"],
        ),
        (
            "slash",
            [
                "[CLS]", "z", "##o", "##r", "##b", "##l", "##a", "##x", "/", "<zorblax>",
                "the", "movie", "was", "q", "##u", "##x", "##ly", "/", "<quxly>",
                "great", "b", "##l", "##o", "##r", "##p", "/", "<blorp>", "[SEP]",
            ],
        ),
    ],
)
def test_encoder_sees_edited_pieces_at_start_middle_end(nlp, tiny_bert_path, mode, expected):
    model = build(tiny_bert_path, mode)
    doc = with_vectors(nlp, "zorblax the movie was quxly great blorp", ["zorblax", "quxly", "blorp"])
    assert encoder_pieces(model, [doc]) == [expected]
    pieces = aligned_pieces(model.predict([doc]))
    if mode == "replace":
        assert pieces[0] == pieces[4] == pieces[6] == ["[BERTRAM]"]
    else:
        assert pieces[0] == ["z", "##o", "##r", "##b", "##l", "##a", "##x", "/", "[BERTRAM]"]
        assert pieces[4] == ["q", "##u", "##x", "##ly", "/", "[BERTRAM]"]
    assert pieces[1:4] == [["the"], ["movie"], ["was"]]


@pytest.mark.parametrize("mode,rare_alignment", [("replace", 2), ("slash", 2 * (4 + 2))])
def test_rare_word_in_two_strided_windows(nlp, tiny_bert_path, mode, rare_alignment):
    # window 4, stride 3: token 3 ("quxly") is in both the first and the second span.
    model = build(tiny_bert_path, mode, configure_strided_spans(window=4, stride=3))
    doc = with_vectors(nlp, "the movie was quxly great fun", ["quxly"])
    rows = encoder_pieces(model, [doc])
    vec = ["<quxly>"] if mode == "replace" else ["q", "##u", "##x", "##ly", "/", "<quxly>"]
    assert rows == [
        ["[CLS]", "the", "movie", "was"] + vec + ["[SEP]"],
        ["[CLS]"] + vec + ["great", "fun", "[SEP]"],
    ]
    output = model.predict([doc])
    lengths = output.doc_data[0].align.lengths.tolist()
    assert lengths == [1, 1, 1, rare_alignment, 1, 1]
    # Both occurrences point at slots holding the vector.
    pieces = aligned_pieces(output)[3]
    assert pieces.count("[BERTRAM]") == 2


def test_replace_fits_a_doc_back_under_max_length(nlp, tiny_bert_path):
    # 59 words, then a 7-piece rare word across position 64, then a word: the plain
    # model truncates; replacing the rare word makes the doc fit again.
    model = build(tiny_bert_path, "replace")
    words = " ".join(["the"] * 59)
    doc = with_vectors(nlp, words + " zorblax movie", ["zorblax"])
    (row,) = encoder_pieces(model, [doc])
    assert row == ["[CLS]"] + ["the"] * 59 + ["<zorblax>", "movie", "[SEP]"]
    assert model.predict([doc]).doc_data[0].align.lengths.tolist()[-2:] == [1, 1]


def test_slash_across_max_length_is_truncated_and_stays_aligned(nlp, tiny_bert_path):
    model = build(tiny_bert_path, "slash")
    words = " ".join(["the"] * 59)
    doc = with_vectors(nlp, words + " zorblax movie blorp", ["zorblax", "blorp"])
    (row,) = encoder_pieces(model, [doc])
    # Pieces 60..63 survive; "/", the slot and everything after are cut at 64.
    assert row == ["[CLS]"] + ["the"] * 59 + ["z", "##o", "##r", "##b"]
    output = model.predict([doc])
    assert output.model_output.last_hidden_state.shape[1] == 64
    pieces = aligned_pieces(output)
    assert pieces[-3] == ["z", "##o", "##r", "##b"]
    assert pieces[-2] == pieces[-1] == []


def test_rare_word_beyond_max_length_gets_no_slot(nlp, tiny_bert_path):
    model = build(tiny_bert_path, "replace")
    doc = with_vectors(nlp, " ".join(["the"] * 70) + " zorblax", ["zorblax"])
    (row,) = encoder_pieces(model, [doc])
    assert row == ["[CLS]"] + ["the"] * 63
    assert model.predict([doc]).doc_data[0].align.lengths.tolist()[-1] == 0


def test_no_vectors_is_the_plain_transformer(nlp, replace_model, plain_model, monkeypatch):
    docs = [nlp("the movie was great"), nlp("zorblax film")]
    set_doc_vectors(docs[1], [0], {})  # flagged rare, but no vector
    monkeypatch.setattr(transformer_model, "insert_vector_slots", _must_not_run)
    ours, plain = replace_model.predict(docs), plain_model.predict(docs)
    assert numpy.array_equal(
        ours.model_output.last_hidden_state, plain.model_output.last_hidden_state
    )
    assert numpy.array_equal(ours.align.dataXd, plain.align.dataXd)
    assert ours.wordpieces.strings == plain.wordpieces.strings


def _must_not_run(*args, **kwargs):
    raise AssertionError("a batch without vectors took the editing path")


@pytest.mark.parametrize("mode", ["replace", "slash"])
def test_doc_without_vectors_in_a_mixed_batch_is_unchanged(nlp, tiny_bert_path, plain_model, mode):
    model = build(tiny_bert_path, mode)
    plain_doc = nlp("the movie was great")
    rare_doc = with_vectors(nlp, "a zorblax film with a long plot and quxly actors", ["zorblax", "quxly"])
    ours = model.predict([plain_doc, rare_doc]).doc_data[0]
    plain = plain_model.predict([plain_doc]).doc_data[0]
    n = plain.wordpieces.lengths[0]
    assert ours.wordpieces.strings[0][:n] == plain.wordpieces.strings[0][:n]
    assert numpy.array_equal(ours.align.dataXd, plain.align.dataXd)
    numpy.testing.assert_allclose(
        ours.model_output.last_hidden_state[0, :n],
        plain.model_output.last_hidden_state[0, :n],
        atol=1e-5,
    )


def test_vector_equal_to_the_word_embedding_gives_the_plain_output(nlp, replace_model, plain_model):
    # "movie" is one piece: replacing it by its own embedding must change nothing.
    doc = nlp("the movie was great")
    table = replace_model.transformer.get_input_embeddings().weight.detach().numpy()
    movie_id = replace_model.tokenizer.convert_tokens_to_ids("movie")
    set_doc_vectors(doc, [1], {1: table[movie_id].copy()})
    ours = replace_model.predict([doc]).model_output.last_hidden_state
    plain = plain_model.predict([doc]).model_output.last_hidden_state
    numpy.testing.assert_allclose(ours, plain, atol=1e-5)


@pytest.mark.parametrize("mode", ["replace", "slash"])
def test_changing_the_vector_changes_the_token_output(nlp, tiny_bert_path, mode):
    model = build(tiny_bert_path, mode)
    outputs = []
    for seed in (0, 1):
        doc = with_vectors(nlp, "the zorblax movie", ["zorblax"], seed=seed)
        data = model.predict([doc]).doc_data[0]
        hidden = data.model_output.last_hidden_state.reshape(-1, WIDTH)
        outputs.append([hidden[data.align[i].dataXd.ravel()].mean(0) for i in range(3)])
    assert not numpy.allclose(outputs[0][1], outputs[1][1], atol=1e-3)
    # Attention spreads the change to the other tokens too, but it starts at the slot.
    change = [numpy.abs(a - b).sum() for a, b in zip(*outputs)]
    assert change[1] == max(change)


def test_vectors_follow_the_embedding_dtype(nlp, tiny_bert_path):
    model = build(tiny_bert_path, "replace")
    model.transformer.to(torch.float64)
    doc = with_vectors(nlp, "the zorblax movie", ["zorblax"])
    seen = encoder_inputs(model, [doc])
    embeds = seen["inputs_embeds"]
    weight = model.transformer.get_input_embeddings().weight
    assert embeds.dtype == weight.dtype == torch.float64
    assert embeds.device == weight.device
    vector = torch.from_numpy(doc._.bertram_vectors[1]).to(torch.float64)
    assert torch.equal(embeds[0, 2], vector)


@pytest.mark.parametrize("freeze_embeddings", [True, False])
def test_training_pass_reaches_the_input_embeddings_unless_frozen(
    nlp, tiny_bert_path, freeze_embeddings
):
    model = build(tiny_bert_path, "replace", freeze_embeddings=freeze_embeddings)
    doc = with_vectors(nlp, "the zorblax movie", ["zorblax"])
    output, backprop = model.begin_update([doc])
    # Random, not constant: a constant gradient vanishes through the final LayerNorm.
    hidden = output.doc_data[0].tensors[0]
    d_hidden = numpy.random.default_rng(0).normal(size=hidden.shape).astype(hidden.dtype)
    d_output = output.unsplit_by_doc([[d_hidden]])
    embeddings = model.transformer.get_input_embeddings()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. reading .grad of a non-leaf input
        backprop(d_output)
    layer = model.transformer.encoder.layer[0].attention.self.query.weight
    assert layer.grad.abs().sum() > 0
    if freeze_embeddings:
        assert embeddings.weight.grad is None
    else:
        movie_id = model.tokenizer.convert_tokens_to_ids("movie")
        assert embeddings.weight.grad[movie_id].abs().sum() > 0


def test_bad_inputs_raise_clear_errors(nlp, tiny_bert_path, replace_model):
    with pytest.raises(ValueError, match="mode"):
        build(tiny_bert_path, "prefix")
    doc = nlp("the zorblax movie")
    set_doc_vectors(doc, [1], {1: numpy.ones(WIDTH + 1, dtype="f")})
    with pytest.raises(ValueError, match="width 32"):
        replace_model.predict([doc])
    set_doc_vectors(doc, [7], {7: numpy.ones(WIDTH, dtype="f")})
    with pytest.raises(ValueError, match="3 tokens"):
        replace_model.predict([doc])


def test_copy_keeps_class_mode_and_weights(nlp, slash_model):
    copied = slash_model.copy()
    assert isinstance(copied, BertramTransformerModel)
    assert copied.mode == "slash" and copied.get_dim("nO") == WIDTH
    doc = with_vectors(nlp, "the zorblax movie", ["zorblax"])
    numpy.testing.assert_array_equal(
        copied.predict([doc]).model_output.last_hidden_state,
        slash_model.predict([doc]).model_output.last_hidden_state,
    )


def test_roberta_padded_row_with_its_own_embedding_is_the_plain_output(nlp, tiny_roberta_path):
    # RoBERTa derives position ids differently from inputs_embeds; real tokens must not care.
    ours = build(tiny_roberta_path, "replace")
    plain = build(tiny_roberta_path, architecture="spacy-transformers.TransformerModel.v3")
    long_doc, short_doc = nlp("the film was great and fun"), nlp("the movie")
    (piece,) = ours.tokenizer.tokenize(" movie")
    table = ours.transformer.get_input_embeddings().weight.detach().numpy()
    set_doc_vectors(short_doc, [1], {1: table[ours.tokenizer.convert_tokens_to_ids(piece)].copy()})
    assert "[BERTRAM]" in ours.predict([long_doc, short_doc]).wordpieces.strings[1]
    for got, want in zip(
        ours.predict([long_doc, short_doc]).doc_data, plain.predict([long_doc, short_doc]).doc_data
    ):
        n = want.wordpieces.lengths[0]
        numpy.testing.assert_allclose(
            got.model_output.last_hidden_state[0, :n],
            want.model_output.last_hidden_state[0, :n],
            atol=1e-5,
        )
