"""OTA targets: contiguous positions, sampled corpus contexts, a reported fit, the
paper's step count in the full preset."""
from pathlib import Path

import pytest
import torch
from thinc.api import Config

from spacy_bertram.model.encoder import load_encoder
from spacy_bertram.training.ota import OtaConfig, one_token_approximation, ota_objective
from spacy_bertram.training.trainer import train_bertram

from test_training import read_log, small_config, synthetic_corpus

WORDS = ["moviest", "unhappy", "catness"]
CONTEXTS = {
    "moviest": ["the moviest film of the year was long .", "a moviest story ."],
    "unhappy": ["she was unhappy with the house .", "an unhappy dog sat there ."],
    "catness": ["the catness of the cat is plain ."],
}


@pytest.fixture(scope="module")
def bert(tiny_bert_path):
    encoder, tokenizer = load_encoder(tiny_bert_path)
    return tokenizer, encoder


def test_the_optimised_input_has_contiguous_position_ids(bert, monkeypatch):
    tokenizer, encoder = bert
    calls = []
    real = type(encoder).forward

    def spy(self, *args, **kwargs):
        if kwargs.get("inputs_embeds") is not None:
            calls.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(encoder), "forward", spy)
    ota_objective(encoder, tokenizer, WORDS, torch.zeros(len(WORDS), 32), OtaConfig(contexts=0))
    assert calls
    for kwargs in calls:  # none given (the encoder's own 0..T-1), or exactly those
        positions = kwargs.get("position_ids")
        if positions is not None:
            width = kwargs["inputs_embeds"].shape[1]
            assert torch.equal(positions.cpu(), torch.arange(width).expand_as(positions.cpu()))


def test_ota_samples_the_words_own_contexts_as_templates(bert):
    tokenizer, encoder = bert
    vectors = torch.randn(len(WORDS), 32, generator=torch.Generator().manual_seed(0))
    fixed = ota_objective(encoder, tokenizer, WORDS, vectors, OtaConfig(contexts=0))
    sampled = ota_objective(encoder, tokenizer, WORDS, vectors, OtaConfig(contexts=2), CONTEXTS)
    assert (sampled > fixed).all()  # more templates, each adding its own positive term
    again = ota_objective(encoder, tokenizer, WORDS, vectors, OtaConfig(contexts=2), CONTEXTS)
    torch.testing.assert_close(sampled, again)  # seeded by the word: deterministic
    other = dict(CONTEXTS, unhappy=["why so unhappy today , friend ?"])
    moved = ota_objective(encoder, tokenizer, WORDS, vectors, OtaConfig(contexts=2), other)
    assert moved[1] != sampled[1] and torch.equal(moved[[0, 2]], sampled[[0, 2]])
    config = OtaConfig(steps=5, contexts=2, batch_size=8)
    batched = one_token_approximation(encoder, tokenizer, WORDS, config, contexts=CONTEXTS)
    single = one_token_approximation(
        encoder, tokenizer, WORDS, OtaConfig(steps=5, contexts=2, batch_size=1), contexts=CONTEXTS
    )
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)


def test_training_log_reports_the_ota_fit(tiny_bert_path, tmp_path):
    folder = train_bertram(
        tiny_bert_path, synthetic_corpus(), tmp_path / "run", small_config(ota=OtaConfig(steps=20, contexts=2)),
        show_progress=False,
    )
    fit = [r for r in read_log(folder) if r.get("stage") == "targets"]
    assert len(fit) == 1 and fit[0]["ota_words"] > 0 and fit[0]["ota_steps"] == 20
    assert fit[0]["ota_loss_end"] < fit[0]["ota_loss_start"] and fit[0]["ota_loss_ratio"] < 1
    assert -1 <= fit[0]["ota_cosine_to_mean"] <= 1


def test_the_full_preset_runs_the_papers_ota_steps_and_the_demo_states_its_budget():
    presets = Path(__file__).parent.parent / "configs" / "presets"
    full = Config().from_disk(presets / "full.cfg")
    demo = Config().from_disk(presets / "demo.cfg")
    assert full["bertram"]["ota-steps"] == 4000
    assert demo["bertram"]["ota-steps"] < 4000 and "ota-contexts" in demo["bertram"]
