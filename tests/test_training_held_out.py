"""What a training run records about its held-out words: the word lists, and held-out
mimicking split into words the tokenizer splits and words it keeps whole, beside the
mean of wordpieces."""
import json

import pytest
from test_training import read_log, small_config, synthetic_corpus

from spacy_bertram.training.stages import StageConfig

from spacy_bertram.model import load_tokenizer, word_pieces
from spacy_bertram.training import train_bertram


@pytest.fixture(scope="module")
def run(tiny_bert_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("held-out") / "model"
    quick = StageConfig(epochs=1, lr=1e-2, batch_size=8)
    config = small_config(held_out=6, validation=2, context=quick, form=quick, combined=quick)
    train_bertram(tiny_bert_path, synthetic_corpus(), folder, config, show_progress=False)
    return folder


def test_the_run_saves_its_disjoint_word_lists(run):
    words = json.loads((run / "words.json").read_text())
    train, validation, held_out = (set(words[k]) for k in ("train", "validation", "held_out"))
    assert len(held_out) == 6 and len(validation) == 2 and train
    assert not (train & held_out or train & validation or validation & held_out)
    assert train | validation | held_out <= set(synthetic_corpus())


def test_held_out_cosines_come_per_split_and_whole_words_beside_the_wordpiece_mean(run, tiny_bert_path):
    words = json.loads((run / "words.json").read_text())["held_out"]
    tokenizer = load_tokenizer(str(tiny_bert_path))
    pieces = word_pieces(tokenizer, words)
    split = sum(len(p) > 1 for p in pieces)
    log = read_log(run)
    (baseline,) = [r for r in log if r.get("stage") == "held_out"]
    assert baseline["held_out_words"] == 6
    assert (baseline["held_out_split_words"], baseline["held_out_whole_words"]) == (split, 6 - split)
    assert split > 0 and baseline["held_out_split_cosine"] < 0.999
    if split < 6:  # a whole word's target is its own row
        assert baseline["held_out_whole_cosine"] == pytest.approx(1.0)
    stages = [r for r in log if "held_out_cosine" in r]
    assert stages and all(r["held_out_split_words"] == split for r in stages)
    assert all(r["held_out_split_cosine"] is not None for r in stages)
    # the rank of the split words' targets among the whole-word rows, the mean's too
    assert all(0.0 < r["held_out_split_mrr"] <= 1.0 for r in [baseline, *stages])
    # each stage's split-word scores tested against the mean's; the mean's own record has no test
    assert all(0.0 <= r[f"held_out_split_{k}_p"] <= 1.0 for r in stages for k in ("cosine", "mrr"))
    assert "held_out_split_cosine_p" not in baseline


def test_held_out_split_scores_are_tested_against_the_wordpiece_mean():
    """Per split word cosines and reciprocal ranks, paired with the mean's."""
    import torch

    from spacy_bertram.training.stages import RankingLoss
    from spacy_bertram.training.trainer import _HeldOutScores

    torch.manual_seed(0)
    rows = torch.nn.functional.normalize(torch.randn(50, 8), dim=-1)
    words = [f"w{i}" for i in range(12)]
    targets = {w: rows[i] + 0.01 * torch.randn(8) for i, w in enumerate(words)}
    held_out = {w: ["c"] for w in words}
    groups = {"split": {w: ["c"] for w in words[:10]}, "whole": {w: ["c"] for w in words[10:]}}
    noise = torch.randn(12, 8)
    scores = _HeldOutScores(held_out, groups, targets, RankingLoss(rows, 1.0), wordpiece_mean=noise)
    _, same = scores(noise)
    assert same["held_out_split_cosine_p"] == 1.0 and same["held_out_split_mrr_p"] == 1.0
    exact = torch.stack([targets[w] for w in words])
    cosine, better = scores(exact)
    assert cosine == pytest.approx(1.0) and better["held_out_split_mrr"] == pytest.approx(1.0)
    assert better["held_out_split_cosine_p"] < 0.01 and better["held_out_split_words"] == 10
    _, baseline = scores(noise, against_mean=False)
    assert "held_out_split_mrr_p" not in baseline


def test_the_nonce_test_gets_frequent_whole_words_never_trained_on(tiny_bert_path, tmp_path, monkeypatch):
    from spacy_bertram.contexts.store import ContextStore
    from spacy_bertram.training import trainer

    # "movie" and "actor" are rows of the tiny vocabulary; "zorblat" is split; "dog" is too rare.
    sentences = [f"the {w} was good ." for w in ("movie", "actor", "zorblat") for _ in range(40)]
    sentences += ["a dog ."] * 5
    with ContextStore(tmp_path / "s.sqlite") as store:
        store.add_sentences(sentences)
    tokenizer = load_tokenizer(tiny_bert_path)
    config = small_config(nonce_words=10, min_count=2)
    nonce = trainer.nonce_test_words(tmp_path / "s.sqlite", config, tokenizer)
    assert set(nonce) == {"movie", "actor", "the", "was", "good"}
    fewer = trainer.nonce_test_words(tmp_path / "s.sqlite", small_config(nonce_words=2, min_count=2), tokenizer)
    assert len(fewer) == 2 and set(fewer) <= set(nonce)
    assert trainer.nonce_test_words(synthetic_corpus(), config, tokenizer) == {}  # a mapping has no counts

    seen = set()
    real = trainer.misspelled_copies

    def recording(words, *args, **kwargs):
        seen.update(words)
        return real(words, *args, **kwargs)

    monkeypatch.setattr(trainer, "misspelled_copies", recording)
    quick = StageConfig(epochs=1, lr=1e-2, batch_size=8)
    run = tmp_path / "run"
    config = small_config(
        nonce_words=10, min_count=2, held_out=0, validation=0, context=quick, form=quick, combined=quick
    )
    train_bertram(tiny_bert_path, tmp_path / "s.sqlite", run, config, show_progress=False)
    words = json.loads((run / "words.json").read_text())
    assert set(nonce) <= set(words["held_out"]) and not set(nonce) & set(words["train"])
    assert seen and not set(nonce) & seen  # the form stage misspelled whole words, but not these
    # without held-out words every stage still records its (empty) groups
    stages = [r for r in read_log(run) if "held_out_cosine" in r]
    assert stages and all(r["held_out_split_words"] == 0 and r["held_out_split_mrr"] is None for r in stages)
