"""The ranking objective of the context stages: the target against every whole-word row."""
import pytest
import torch

from spacy_bertram.model.encoder import whole_word_rows
from spacy_bertram.training.stages import RankingLoss, StageConfig, encode_context_cache, train_on_cache
from spacy_bertram.training.trainer import train_bertram

from test_training import _context_model, one_thread, read_log, small_config, synthetic_corpus, targets_cache  # noqa: F401


def test_ranking_loss_and_rank_of_the_target(tiny_bert_path):
    model, _, _ = _context_model(tiny_bert_path)
    ranking = RankingLoss.for_model(model, weight=1.0)
    ids, _ = whole_word_rows(model.tokenizer)
    embeddings = model.encoder.get_input_embeddings().weight.detach()
    assert ranking.rows.shape == (len(ids), embeddings.shape[1])
    row, other = embeddings[ids[0]], embeddings[ids[1]]
    split_target = embeddings[ids[2]] + embeddings[ids[3]]  # no row of its own
    # a whole word's own row is the target, counted once: an exact guess ranks first
    assert ranking.reciprocal_rank(row[None], row[None]) == 1.0
    assert ranking.reciprocal_rank(other[None], row[None]) < 1.0
    hit, miss = ranking(row[None], row[None]), ranking(other[None], row[None])
    assert hit < miss
    # without the mask, the duplicate row would cap the target's probability at one half
    assert float(hit) < float(torch.log(torch.tensor(2.0)))
    assert ranking(split_target[None], split_target[None]) < ranking(row[None], split_target[None])
    assert float(RankingLoss(ranking.rows, weight=0.5)(other[None], row[None])) == pytest.approx(0.5 * float(miss))


def test_training_with_ranking_raises_the_validation_rank(tiny_bert_path):
    model, corpus, targets = _context_model(tiny_bert_path, wordpiece_residual=False)
    words = sorted(corpus)
    cache = encode_context_cache(model, {w: corpus[w] for w in words[:-6]}, max_contexts=8)
    validation = encode_context_cache(model, {w: corpus[w] for w in words[-6:]}, max_contexts=8)
    ranking = RankingLoss.for_model(model, weight=1.0)
    from spacy_bertram.training.stages import cache_reciprocal_rank

    before = cache_reciprocal_rank(model, cache, targets, ranking)
    losses = train_on_cache(model, cache, targets, StageConfig(epochs=6, lr=1e-2, batch_size=8), ["mimicking", "output"],
                            sample_range=(2, 8), seed=0, desc="context", ranking=ranking)
    assert losses[-1] < losses[0]
    assert cache_reciprocal_rank(model, cache, targets, ranking) > before
    assert 0.0 < cache_reciprocal_rank(model, validation, targets, ranking) <= 1.0


def test_trainer_validates_the_cached_stages_on_the_rank_with_ranking(tiny_bert_path, tmp_path, targets_cache):
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / "model",
                           small_config(ranking_weight=1.0), cache_dir=targets_cache, show_progress=False)
    log = read_log(folder)
    for stage, metric in (("context", "validation_mrr"), ("form", "validation_cosine"), ("combined", "validation_mrr")):
        epochs = [r for r in log if r.get("stage") == stage and "epoch" in r]
        assert epochs and all(metric in r for r in epochs), (stage, epochs[:1])
        assert all(0.0 <= r[metric] <= 1.0 for r in epochs if metric == "validation_mrr")
    with pytest.raises(ValueError, match="ranking_weight"):
        small_config(ranking_weight=-1.0)
