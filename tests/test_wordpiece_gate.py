"""The wordpiece gate: the final vector mixes the wordpiece mean with what the parts read."""
import json

import pytest
import torch

from spacy_bertram.model import BertramModel
from spacy_bertram.model.configuration_bertram import BertramArchitecture, BertramConfig
from spacy_bertram.training import stages as stages_module
from spacy_bertram.training.stages import encode_context_cache, fit_wordpiece_gate
from spacy_bertram.training.trainer import train_bertram

from test_training import (  # noqa: F401
    SPLIT_WORDS, _context_model, one_thread, read_log, small_config, synthetic_corpus, targets_cache,
)


def _gated_pair(tiny_bert_path, **settings):
    """An "add" model with the gate and its ungated twin with the same parts."""
    gated, corpus, targets = _context_model(
        tiny_bert_path, mode="add", wordpiece_residual=False, wordpiece_gate=True, **settings
    )
    config = BertramConfig(**{**gated.config.to_dict(), "wordpiece_gate": False})
    plain = BertramModel(config, gated.ngram_vocab, gated.encoder, gated.tokenizer)
    plain.load_parts(gated, ["form", "mimicking", "output"])
    return gated, plain, corpus, targets


def test_the_gate_needs_whole_vectors_and_contexts_and_old_saves_have_none():
    with pytest.raises(ValueError, match="wordpiece_gate"):
        BertramArchitecture(wordpiece_gate=True)  # the residual is on by default
    with pytest.raises(ValueError, match="wordpiece_gate"):
        BertramArchitecture(mode="form", wordpiece_residual=False, wordpiece_gate=True)
    assert BertramArchitecture(wordpiece_residual=False, wordpiece_gate=True).wordpiece_gate
    saved = json.loads(open("tests/fixtures/saved-0.1.0/bertram-model/config.json").read())
    assert "wordpiece_gate" not in saved and BertramConfig.from_dict(saved).wordpiece_gate is False


def test_the_gate_mixes_the_mean_and_keeps_whole_words_at_their_rows(tiny_bert_path):
    gated, plain, corpus, _ = _gated_pair(tiny_bert_path)
    split, whole = SPLIT_WORDS[0], "movie"
    items = [(split, corpus[split]), (whole, corpus[whole])]
    with torch.inference_mode():
        ungated = plain(plain.collate(items))
        mean = gated.wordpiece_base([split, whole]).mean
        assert gated.vector_words([split, whole]) == [split]
        for bias, expected in ((-30.0, mean[0]), (30.0, ungated[0] * mean[0].norm() / ungated[0].norm())):
            gated.wordpiece_gate.linear.bias.fill_(bias)
            vectors = gated(gated.collate(items))
            assert torch.allclose(vectors[0], expected, atol=1e-5)
            assert torch.equal(vectors[1], mean[1])  # its own row, whatever the gate says
            assert torch.equal(mean[1], gated.encoder.get_input_embeddings().weight[gated.wordpiece_base([whole]).pieces[0][0]])
        gated.wordpiece_gate.linear.bias.zero_()  # α = 0.5
        half = gated(gated.collate(items))[0]
        assert torch.allclose(half, 0.5 * mean[0] + 0.5 * ungated[0] * mean[0].norm() / ungated[0].norm(), atol=1e-5)


def test_with_the_map_the_gate_mixes_the_corrected_mean(tiny_bert_path):
    gated, plain, corpus, _ = _gated_pair(tiny_bert_path, wordpiece_map=True)
    split = SPLIT_WORDS[0]
    with torch.no_grad():
        gated.wordpiece.linear.weight.copy_(torch.eye(gated.config.embedding_dim))  # corrected: 2 * mean + 0.5
        gated.wordpiece.linear.bias.fill_(0.5)
        gated.wordpiece_gate.linear.bias.fill_(-30.0)  # α = 0: the corrected mean alone
    with torch.inference_mode():
        base = gated.wordpiece_base([split, "movie"])
        vectors = gated(gated.collate([(split, corpus[split]), ("movie", corpus["movie"])]))
    torch.testing.assert_close(base.corrected_mean[0], 2 * base.mean[0] + 0.5)
    torch.testing.assert_close(vectors[0], base.corrected_mean[0], atol=1e-5, rtol=1e-5)
    assert torch.equal(vectors[1], base.mean[1])  # a whole word keeps its own row
    assert not base.base.any()  # without the residual the parts add to nothing


def test_fit_follows_contexts_where_they_name_the_word_and_the_mean_where_it_does(tiny_bert_path):
    gated, plain, corpus, targets = _gated_pair(tiny_bert_path)
    words = {w: corpus[w] for w in SPLIT_WORDS[:8]}
    cache = encode_context_cache(gated, words, max_contexts=8)
    with torch.inference_mode():
        read = plain(plain.collate(list(words.items())))
        typos = ["moviesx", "filmsq", "houzes", "dogss"]
        typo_means = gated.wordpiece_base(typos).mean
    # targets: what the contexts say for the words, the pieces themselves for the typos
    wanted = {**targets, **dict(zip(words, read)), **{f"meant-{t}": m for t, m in zip(typos, typo_means)}}
    fit = fit_wordpiece_gate(gated, cache, {t: f"meant-{t}" for t in typos}, wanted, seed=0)
    assert fit["gate_rows"] == 8 * 5 + len(typos)  # counts 0, 1, 2, 4, 8 of 8 contexts, and the typos
    # read from all 8 contexts, the vector is the answer; the typos' answer is their mean
    assert fit["gate_alpha_8_contexts"] > 0.7 and fit["gate_alpha_0_contexts"] < fit["gate_alpha_8_contexts"] - 0.2, fit
    assert fit["gated_mrr"] >= fit["wordpiece_mean_mrr"]
    weights = torch.cat([gated.wordpiece_gate.linear.weight.flatten(), gated.wordpiece_gate.linear.bias])
    assert weights.tolist() == pytest.approx(fit["gate_weights"], abs=1e-4)


def test_the_fit_keeps_the_cosine_to_the_targets(tiny_bert_path, monkeypatch):
    """Ranking aside (a constant loss here), the fit still follows the mean cosine: the
    targets are the means, so α falls towards 0."""
    gated, _, corpus, targets = _gated_pair(tiny_bert_path)
    words = {w: corpus[w] for w in SPLIT_WORDS[:8]}
    cache = encode_context_cache(gated, words, max_contexts=8)
    with torch.inference_mode():
        means = dict(zip(words, gated.wordpiece_base(list(words)).mean))

    class NoRanking:
        def __call__(self, predicted, target):
            return predicted.sum() * 0.0

        def reciprocal_rank(self, predicted, target):
            return 0.0

    monkeypatch.setattr(stages_module.RankingLoss, "for_model", classmethod(lambda cls, model, weight: NoRanking()))
    fit = fit_wordpiece_gate(gated, cache, {}, {**targets, **means}, seed=0)
    assert fit["gate_alpha_8_contexts"] < 0.2, fit
    assert fit["gated_cosine"] > fit["vector_cosine"] and fit["gated_cosine"] > 0.95, fit


def test_the_trainer_fits_the_gate_on_the_final_model_and_saves_it(tiny_bert_path, tmp_path, targets_cache):
    config = small_config(wordpiece_residual=False, wordpiece_gate=True, form_misspellings=2)
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / "model", config,
                           cache_dir=targets_cache, show_progress=False)
    log = read_log(folder)
    fit = next(r for r in log if r.get("stage") == "gate" and "gate_rows" in r)
    assert fit["gate_rows"] > 0 and fit["validation_misspellings"] > 0
    assert max(abs(w) for w in fit["gate_weights"]) < 100  # a fit on a few rows stays finite
    assert any(r.get("stage") == "gate" and "held_out_cosine" in r for r in log)
    for stage in ("stage1-context", "stage2-form", "stage3-add"):
        assert BertramConfig.load(folder / stage).wordpiece_gate is False  # the stages learn whole vectors
    model = BertramModel.from_pretrained(folder)
    assert model.config.wordpiece_gate and model.has_part("wordpiece_gate")
    assert model.wordpiece_gate.linear.weight.tolist()[0] == pytest.approx(fit["gate_weights"][:-1], abs=1e-4)
    # every training word, not only split ones: the parts learn whole vectors
    assert len(json.loads((folder / "words.json").read_text())["train"]) > len(SPLIT_WORDS) - 6
    assert not model.has_part("wordpiece") and not any(r.get("stage") == "wordpiece" for r in log)


def test_with_the_map_the_trainer_fits_it_for_the_gate_alone(tiny_bert_path, tmp_path, targets_cache):
    config = small_config(wordpiece_residual=False, wordpiece_gate=True, wordpiece_map=True)
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / "model", config,
                           cache_dir=targets_cache, show_progress=False)
    fitted = [r for r in read_log(folder) if r.get("stage") == "wordpiece"]
    assert len(fitted) == 1 and fitted[0]["split_words"] > 0
    model = BertramModel.from_pretrained(folder)
    assert model.has_part("wordpiece") and model.wordpiece.linear.weight.abs().sum() > 0
    for stage in ("stage1-context", "stage2-form", "stage3-add"):  # the parts learn whole vectors, unmapped
        assert not BertramModel.from_pretrained(folder / stage).has_part("wordpiece")
