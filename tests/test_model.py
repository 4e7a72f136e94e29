"""BertramModel: modes, save/load, batched inference, training seams, bad input."""
import json

import numpy
import pytest
import torch

from spacy_bertram.model import (
    BertramConfig,
    BertramModel,
    NgramVocab,
    encode_context_vectors,
    group_contexts,
    infer_vectors,
)

MODES = ["form", "context", "shallow", "replace", "add"]
WORDS = ["movie", "movies", "moving", "film", "films", "filming", "actor", "acting", "blue"]
CONTEXTS = {
    "movies": ["I saw two movies last night .", "Movies are fun", "the movies , the movies"],
    "filmed": ["they filmed it in the city", "it was filmed at night"],
    "zyxx": [],
    "actor": ["the actor was great and the actor was funny .", "no match here"],
    "dogs": ["dogs like the river"] * 3 + ["the dogs were happy", "big dogs"],
}


@pytest.fixture(scope="module", params=MODES)
def model(request, tiny_bert_path):
    return BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode=request.param, ngram_min_count=1)


def test_shapes_and_dtypes(model):
    out = infer_vectors(model, CONTEXTS)
    assert list(out) == list(CONTEXTS)
    for vector in out.values():
        assert vector.shape == (model.embedding_dim,) == (32,)
        assert vector.dtype == numpy.float32 and numpy.isfinite(vector).all()
    batch = model.collate(list(CONTEXTS.items()))
    forward = model(batch)
    assert forward.shape == (len(CONTEXTS), 32) and forward.dtype == torch.float32
    numpy.testing.assert_allclose(forward.detach().numpy(), numpy.stack(list(out.values())), atol=1e-5)


def test_batched_equals_one_word_at_a_time(model):
    batched = infer_vectors(model, CONTEXTS, batch_size=3)
    for word, contexts in CONTEXTS.items():
        single = infer_vectors(model, {word: contexts}, batch_size=64)[word]
        numpy.testing.assert_allclose(batched[word], single, rtol=1e-4, atol=1e-5)


def test_chunking_does_not_change_results(model, monkeypatch):
    from spacy_bertram.model import inference

    whole = infer_vectors(model, CONTEXTS, batch_size=2)
    monkeypatch.setattr(inference, "_BATCHES_PER_CHUNK", 1)  # chunks of ~2 contexts
    chunked = infer_vectors(model, CONTEXTS, batch_size=2)
    for word in CONTEXTS:
        numpy.testing.assert_allclose(chunked[word], whole[word], rtol=1e-4, atol=1e-5)


def test_zero_contexts_fall_back_to_form(model):
    out = infer_vectors(model, {"zyxx": [], "cats": ["no occurrence of the word"]})
    form = model.form_vectors(["zyxx", "cats"]).detach().numpy()
    if model.config.mode == "context":  # nothing to mimic: the output map's bias (+ base)
        expected = (model.output.bias + model.wordpiece_base(["zyxx"]).base[0]).detach().numpy()
        numpy.testing.assert_allclose(out["zyxx"], expected, atol=1e-6)
    else:
        numpy.testing.assert_allclose(out["zyxx"], form[0], atol=1e-6)
        numpy.testing.assert_allclose(out["cats"], form[1], atol=1e-6)
    forward = model(model.collate([("zyxx", []), ("cats", ["no occurrence"])])).detach().numpy()
    numpy.testing.assert_allclose(forward[0], out["zyxx"], atol=1e-6)
    numpy.testing.assert_allclose(forward[1], out["cats"], atol=1e-6)


def test_context_cap_uses_the_first_matching_contexts(model):
    if model.config.mode == "form":
        pytest.skip("form mode reads no context")
    contexts = ["no match", "the dogs ran", "big dogs", "dogs like the river", "sad dogs"]
    capped = infer_vectors(model, {"dogs": contexts}, max_contexts=2)["dogs"]
    first_two = infer_vectors(model, {"dogs": ["the dogs ran", "big dogs"]}, max_contexts=100)
    numpy.testing.assert_allclose(capped, first_two["dogs"], atol=1e-5)
    uncapped = infer_vectors(model, {"dogs": contexts}, max_contexts=100)["dogs"]
    assert not numpy.allclose(capped, uncapped, atol=1e-5)


def test_inference_is_deterministic_and_restores_train_mode(model):
    model.train()
    first = infer_vectors(model, CONTEXTS)
    assert model.training and not model.encoder.training
    second = infer_vectors(model, CONTEXTS)
    model.eval()
    for word in CONTEXTS:
        numpy.testing.assert_array_equal(first[word], second[word])


def test_context_vectors_come_back_in_input_order(model):
    if model.config.mode == "form":
        pytest.skip("form mode reads no context")
    words = list(CONTEXTS)
    selected = [model.context_tokenizer.select(w, CONTEXTS[w], None) for w in words]
    with torch.inference_mode():
        form = model.form_vectors(words)
        vectors, owners = encode_context_vectors(model, selected, form, batch_size=2)
        batch = model.collate(list(CONTEXTS.items()), max_contexts=100)
        one_batch = model.encode_contexts(batch.contexts, form)
    assert owners.tolist() == batch.contexts.context_word.tolist() == [0, 0, 0, 1, 1, 3] + [4] * 5
    torch.testing.assert_close(vectors, one_batch, atol=1e-5, rtol=1e-4)


def test_half_precision_is_a_gpu_only_option(model):
    full = infer_vectors(model, CONTEXTS, half_precision=False)
    half = infer_vectors(model, CONTEXTS, half_precision=True)
    tolerance = 1e-6 if model.device.type == "cpu" else 2e-2
    for word in CONTEXTS:
        numpy.testing.assert_allclose(half[word], full[word], atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("save_encoder", [False, True])
def test_save_load_identical(model, tmp_path, save_encoder):
    before = infer_vectors(model, CONTEXTS)
    model.save_pretrained(tmp_path, save_encoder=save_encoder)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors", "ngrams.txt"}
    assert (tmp_path / "encoder").is_dir() == save_encoder
    loaded = BertramModel.from_pretrained(tmp_path)
    assert loaded.config == model.config and loaded.ngram_vocab == model.ngram_vocab
    after = infer_vectors(loaded, CONTEXTS)
    for word in CONTEXTS:
        numpy.testing.assert_allclose(before[word], after[word], atol=1e-6)


def test_saved_encoder_copy_is_used(tiny_bert_path, tmp_path):
    import shutil

    encoder_copy = tmp_path / "enc"
    shutil.copytree(tiny_bert_path, encoder_copy)
    model = BertramModel.from_encoder(encoder_copy, words=WORDS, mode="add")
    before = infer_vectors(model, CONTEXTS)
    model.save_pretrained(tmp_path / "with", save_encoder=True)
    model.save_pretrained(tmp_path / "without", save_encoder=False)
    shutil.rmtree(encoder_copy)
    loaded = BertramModel.from_pretrained(tmp_path / "with")
    numpy.testing.assert_allclose(infer_vectors(loaded, CONTEXTS)["actor"], before["actor"], atol=1e-6)
    with pytest.raises(FileNotFoundError, match="enc"):
        BertramModel.from_pretrained(tmp_path / "without")
    again = BertramModel.from_pretrained(tmp_path / "without", encoder_path=tmp_path / "with" / "encoder")
    numpy.testing.assert_allclose(infer_vectors(again, CONTEXTS)["actor"], before["actor"], atol=1e-6)


def test_frozen_encoder_stays_in_eval(tiny_bert_path):
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="replace")
    model.train()
    assert model.training and model.form.training and not model.encoder.training
    assert not any(p.requires_grad for p in model.encoder.parameters())
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"form", "mimicking", "output"}
    assert set(model.bertram_state_dict()) == {
        "form.embedding.weight", "mimicking.query.weight", "mimicking.key.weight",
        "output.weight", "output.bias",
    }


def test_ngram_dropout_only_in_train_mode(tiny_bert_path):
    model = BertramModel.from_encoder(
        tiny_bert_path, words=WORDS, mode="form", ngram_min_count=1, ngram_dropout=0.5,
        wordpiece_residual=False,  # random n-gram weights (the residual starts them at zero)
    )
    words = ["filming"] * 64
    model.eval()
    evaluated = model.form_vectors(words).detach()
    assert torch.allclose(evaluated, evaluated[0].expand_as(evaluated))
    model.train()
    torch.manual_seed(1)
    trained = model.form_vectors(words).detach()
    assert not torch.allclose(trained, trained[0].expand_as(trained))
    assert torch.isfinite(trained).all()
    single = model.form_vectors(["a"] * 16).detach()  # one n-gram: never dropped away
    assert torch.allclose(single, model.form.embedding.weight[model.ngram_vocab.encode("a")[0]].expand_as(single))
    model.eval()


def test_attentive_mimicking_weights_sum_to_one_and_ignore_padding(tiny_bert_path):
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="context")
    vectors = torch.randn(3, 4, 32)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    weights = model.mimicking.weights(vectors, mask)
    torch.testing.assert_close(weights.sum(dim=1), torch.tensor([1.0, 1.0, 0.0]))
    assert (weights[~mask] == 0).all() and (weights[mask] > 0).all()
    changed = vectors.clone()
    changed[0, 3] = 1e3  # padding content must not matter
    torch.testing.assert_close(model.mimicking(changed, mask), model.mimicking(vectors, mask))
    torch.testing.assert_close(model.mimicking(vectors, mask)[1], vectors[1, 0])


def test_stage1_cache_path_matches_forward(tiny_bert_path):
    """Context mode: cache encoder outputs once per context, then train AM + output."""
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="context")
    items = [(w, c) for w, c in CONTEXTS.items()]
    batch = model.collate(items)
    with torch.no_grad():
        cached = model.encode_contexts(batch.contexts)  # [C, hidden], context only
    grouped, mask = group_contexts(cached, batch.contexts.context_word, len(batch), 32)
    assert mask.sum(dim=1).tolist() == [3, 2, 0, 1, 5]
    from_cache = model.mimic(grouped, mask, model.wordpiece_base(batch.words))
    from_cache.sum().backward()
    assert model.output.weight.grad.abs().sum() > 0
    assert model.mimicking.query.weight.grad.abs().sum() > 0
    assert model.form.embedding.weight.grad is None  # context mode never reads the form
    torch.testing.assert_close(from_cache.detach(), model(batch).detach())
    # the cached vectors do not depend on trainable weights
    with torch.no_grad():
        model.output.weight.add_(1.0)
        model.mimicking.query.weight.add_(1.0)
    torch.testing.assert_close(model.encode_contexts(batch.contexts).detach(), cached)


@pytest.mark.parametrize("mode", ["replace", "add", "shallow"])
def test_gradients_reach_the_form_through_the_encoder(tiny_bert_path, mode):
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode=mode, ngram_min_count=1)
    model.train()
    batch = model.collate([("movies", CONTEXTS["movies"]), ("actor", CONTEXTS["actor"])])
    model(batch).pow(2).sum().backward()
    assert model.form.embedding.weight.grad.abs().sum() > 0
    assert model.output.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.encoder.parameters())
    model.eval()


def test_replace_with_mask_embedding_equals_context_mode(tiny_bert_path):
    """The inputs_embeds path is exact: feeding the mask's own embedding is a no-op."""
    vocab = NgramVocab.build(WORDS, min_count=1)
    ctx = BertramModel.from_encoder(tiny_bert_path, ngram_vocab=vocab, mode="context")
    rep = BertramModel.from_encoder(tiny_bert_path, ngram_vocab=vocab, mode="replace")
    items = list(CONTEXTS.items())
    b_ctx, b_rep = ctx.collate(items), rep.collate(items)
    mask_embedding = rep.encoder.get_input_embeddings().weight[rep.tokenizer.mask_token_id]
    form = mask_embedding.expand(len(items), -1)
    with torch.no_grad():
        torch.testing.assert_close(
            rep.encode_contexts(b_rep.contexts, form), ctx.encode_contexts(b_ctx.contexts), atol=1e-5, rtol=1e-5
        )


def test_load_parts_moves_stage_weights(tiny_bert_path):
    vocab = NgramVocab.build(WORDS, min_count=1)
    stage1 = BertramModel.from_encoder(tiny_bert_path, ngram_vocab=vocab, mode="context", seed=1)
    stage2 = BertramModel.from_encoder(tiny_bert_path, ngram_vocab=vocab, mode="form", seed=2)
    stage3 = BertramModel.from_encoder(tiny_bert_path, ngram_vocab=vocab, mode="add", seed=3)
    stage3.load_parts(stage1, ("mimicking", "output"))
    stage3.load_parts(stage2, ("form",))
    torch.testing.assert_close(stage3.output.weight, stage1.output.weight)
    torch.testing.assert_close(stage3.mimicking.key.weight, stage1.mimicking.key.weight)
    torch.testing.assert_close(stage3.form.embedding.weight, stage2.form.embedding.weight)
    with pytest.raises(ValueError, match="shallow"):
        stage3.load_parts(stage1, ("gate",))
    with pytest.raises(ValueError, match="Unknown part"):
        stage3.load_parts(stage1, ("encoder",))


def test_roberta_encoder_add_mode(tiny_roberta_path, tmp_path):
    model = BertramModel.from_encoder(tiny_roberta_path, words=WORDS, mode="add")
    assert model.config.quote_form is True
    assert model.tokenizer.mask_token == "<mask>"
    out = infer_vectors(model, CONTEXTS, batch_size=2)
    assert all(v.shape == (32,) and v.dtype == numpy.float32 for v in out.values())
    single = infer_vectors(model, {"actor": CONTEXTS["actor"]})["actor"]
    numpy.testing.assert_allclose(out["actor"], single, atol=1e-5)
    model.save_pretrained(tmp_path)
    again = infer_vectors(BertramModel.from_pretrained(tmp_path), CONTEXTS)
    numpy.testing.assert_allclose(again["movies"], out["movies"], atol=1e-6)


def test_config_follows_a_given_ngram_vocab(tiny_bert_path, tmp_path):
    vocab = NgramVocab.build(WORDS, min_count=1, n_min=2, n_max=3, lowercase=False)
    model = BertramModel.from_encoder(tiny_bert_path, ngram_vocab=vocab, mode="form")
    assert (model.config.ngram_min, model.config.ngram_max, model.config.lowercase_ngrams) == (2, 3, False)
    assert len(model.ngram_vocab) == model.form.embedding.num_embeddings
    model.save_pretrained(tmp_path)
    assert BertramModel.from_pretrained(tmp_path).ngram_vocab == vocab


def test_bert_gets_unquoted_add(tiny_bert_path):
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS)
    assert model.config.mode == "add" and model.config.quote_form is False
    assert model.config.max_seq_length == 64  # clamped to the tokenizer's limit


# ------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def add_model(tiny_bert_path):
    return BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="add")


@pytest.mark.parametrize(
    "request_, error, match",
    [
        ({"": ["a"]}, ValueError, "non-empty"),
        ({"  ": ["a"]}, ValueError, "non-empty"),
        ({3: ["a"]}, TypeError, "strings"),
        ({"dog": "the dog"}, TypeError, "list of strings"),
        ({"dog": ["the dog", 7]}, TypeError, "strings"),
        (["dog"], TypeError, "mapping"),
    ],
)
def test_bad_requests(add_model, request_, error, match):
    with pytest.raises(error, match=match):
        infer_vectors(add_model, request_)


def test_bad_arguments(add_model, tiny_bert_path, tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        infer_vectors(add_model, {"dog": ["a dog"]}, batch_size=0)
    with pytest.raises(ValueError, match="max_contexts"):
        infer_vectors(add_model, {"dog": ["a dog"]}, max_contexts=0)
    with pytest.raises(ValueError, match="exactly one"):
        BertramModel.from_encoder(tiny_bert_path)
    with pytest.raises(ValueError, match="mode"):
        BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="deep")
    with pytest.raises(TypeError, match="embedding_dim"):
        BertramModel.from_encoder(tiny_bert_path, words=WORDS, embedding_dim=8)
    with pytest.raises(TypeError, match="n_layers"):
        BertramModel.from_encoder(tiny_bert_path, words=WORDS, n_layers=8)
    with pytest.raises(FileNotFoundError, match="no-such-encoder"):
        BertramModel.from_encoder(tmp_path / "no-such-encoder", words=WORDS)
    assert infer_vectors(add_model, {}) == {}


def test_encoder_without_safetensors_is_refused(tiny_bert_path, tmp_path):
    import shutil

    folder = tmp_path / "pickled-encoder"
    shutil.copytree(tiny_bert_path, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="safetensors"):
        BertramModel.from_encoder(folder, words=WORDS)
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        BertramModel.from_encoder(folder, words=WORDS)


@pytest.fixture
def saved(add_model, tmp_path):
    add_model.save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "ngrams.txt"])
def test_missing_files_are_named(saved, name):
    (saved / name).unlink()
    with pytest.raises(FileNotFoundError, match=name.replace(".", r"\.")):
        BertramModel.from_pretrained(saved)


def test_corrupt_safetensors(saved):
    (saved / "model.safetensors").write_bytes(b"\x00" * 7 + b"not a safetensors file")
    with pytest.raises(ValueError, match="model.safetensors"):
        BertramModel.from_pretrained(saved)


def test_weights_of_another_mode_are_rejected(saved, tiny_bert_path):
    shallow = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="shallow")
    shallow.save_pretrained(saved / "shallow")
    (saved / "model.safetensors").write_bytes((saved / "shallow" / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="unexpected"):
        BertramModel.from_pretrained(saved)


@pytest.mark.parametrize(
    "content, error, match",
    [
        ("{not json", ValueError, "not valid JSON"),
        ("[1, 2]", TypeError, "JSON object"),
        ('{"mode": 3}', TypeError, "BertramConfig.mode"),
        ('{"max_seq_length": "128"}', TypeError, "max_seq_length"),
        ('{"ngram_dropout": true}', TypeError, "ngram_dropout"),
        ('{"mode": "deep"}', ValueError, "mode"),
        ('{"unknown_key": 1}', ValueError, "unknown_key"),
    ],
)
def test_bad_config_json(saved, content, error, match):
    path = saved / "config.json"
    if content.startswith("{") and not content.startswith("{not"):
        data = json.loads(path.read_text())
        data.update(json.loads(content))
        content = json.dumps(data)
    path.write_text(content)
    with pytest.raises(error, match=match) as info:
        BertramModel.from_pretrained(saved)
    assert "config.json" in str(info.value)


def test_config_round_trip(tmp_path):
    config = BertramConfig(encoder_path="x", mode="shallow", embedding_dim=8, hidden_size=8, max_contexts=None)
    config.save(tmp_path)
    assert BertramConfig.load(tmp_path) == config


# ------------------------------------------------------------ wordpiece residual
@pytest.fixture(scope="module", params=MODES)
def residual_model(request, tiny_bert_path):
    return BertramModel.from_encoder(
        tiny_bert_path, words=WORDS, mode=request.param, ngram_min_count=1, wordpiece_residual=True
    )


def _piece_mean(model, word):
    ids = model.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
    return model.encoder.get_input_embeddings().weight.detach()[ids].mean(0).numpy()


def test_residual_with_zero_parts_is_the_wordpiece_mean(residual_model):
    model = residual_model
    assert len(model.tokenizer(" movie", add_special_tokens=False)["input_ids"]) == 1
    assert len(model.tokenizer(" zyxx", add_special_tokens=False)["input_ids"]) > 1
    saved = {k: v.clone() for k, v in model.bertram_state_dict().items()}
    try:
        with torch.no_grad():
            model.output.weight.zero_()
            model.output.bias.zero_()
        # the n-gram correction starts at zero
        assert float(model.form.embedding.weight.detach().abs().max()) == 0.0
        requests = {**CONTEXTS, "movie": ["a movie ."]}
        out = infer_vectors(model, requests)
        for word in requests:
            numpy.testing.assert_allclose(out[word], _piece_mean(model, word), atol=1e-6)
        numpy.testing.assert_allclose(
            model.wordpiece_base(["movie", "zyxx"]).mean.numpy(),
            numpy.stack([_piece_mean(model, "movie"), _piece_mean(model, "zyxx")]),
            atol=1e-6,
        )
    finally:
        model.load_state_dict(saved, strict=False)


def test_residual_batched_equals_one_word_at_a_time(residual_model):
    batched = infer_vectors(residual_model, CONTEXTS, batch_size=3)
    forward = residual_model(residual_model.collate(list(CONTEXTS.items()))).detach().numpy()
    for index, (word, contexts) in enumerate(CONTEXTS.items()):
        single = infer_vectors(residual_model, {word: contexts}, batch_size=64)[word]
        numpy.testing.assert_allclose(batched[word], single, rtol=1e-4, atol=1e-5)
        numpy.testing.assert_allclose(forward[index], single, rtol=1e-4, atol=1e-5)


def test_residual_save_load_keeps_the_option(residual_model, tmp_path):
    before = infer_vectors(residual_model, CONTEXTS)
    residual_model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["wordpiece_residual"] is True
    loaded = BertramModel.from_pretrained(tmp_path)
    assert loaded.config.wordpiece_residual
    after = infer_vectors(loaded, CONTEXTS)
    for word in CONTEXTS:
        numpy.testing.assert_allclose(before[word], after[word], atol=1e-6)


def test_wordpiece_map_corrects_split_words_only(tiny_bert_path):
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="form", ngram_min_count=1, wordpiece_map=True)
    assert model.has_part("wordpiece")
    assert not any(p.requires_grad for p in model.wordpiece.parameters())
    wordpieces = model.wordpiece_base(["movie", "zyxx"])
    mean, counts = wordpieces.mean, wordpieces.n_pieces
    assert counts.tolist()[0] == 1 and counts.tolist()[1] > 1
    torch.testing.assert_close(wordpieces.base, mean)  # zero at the start
    with torch.no_grad():
        model.wordpiece.linear.weight.copy_(torch.eye(model.embedding_dim))
        model.wordpiece.linear.bias.fill_(0.5)
    base = model.wordpiece_base(["movie", "zyxx"]).base
    torch.testing.assert_close(base[0], mean[0])  # a whole word keeps its own row
    torch.testing.assert_close(base[1], 2 * mean[1] + 0.5)


def test_wordpiece_map_only_with_the_residual_or_the_gate(tiny_bert_path):
    plain = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="form", wordpiece_residual=False, wordpiece_map=True)
    assert not plain.has_part("wordpiece")
    gated = BertramModel.from_encoder(
        tiny_bert_path, words=WORDS, mode="add", wordpiece_residual=False, wordpiece_gate=True, wordpiece_map=True
    )
    assert gated.has_part("wordpiece")
    off = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="form", wordpiece_map=False)
    assert not off.has_part("wordpiece") and "wordpiece.linear.weight" not in off.bertram_state_dict()
    with pytest.raises(ValueError, match="wordpiece"):
        off.load_parts(BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="form", wordpiece_map=True), ["wordpiece"])


def test_keep_whole_words_gives_whole_words_their_row(tiny_bert_path):
    for mode in ("form", "context", "add"):
        model = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode=mode, ngram_min_count=1, keep_whole_words=True)
        with torch.no_grad():  # make the trained parts output something
            model.form.embedding.weight.normal_()
            model.output.bias.fill_(0.3)
        out = infer_vectors(model, {"movie": ["a movie ."], "zyxx": ["a zyxx ."]})
        numpy.testing.assert_allclose(out["movie"], _piece_mean(model, "movie"), atol=1e-6)
        assert not numpy.allclose(out["zyxx"], _piece_mean(model, "zyxx"), atol=1e-3), mode
        off = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode=mode, ngram_min_count=1, keep_whole_words=False)
        off.load_state_dict(model.state_dict())
        assert not numpy.allclose(infer_vectors(off, {"movie": ["a movie ."]})["movie"], _piece_mean(model, "movie"), atol=1e-3), mode
