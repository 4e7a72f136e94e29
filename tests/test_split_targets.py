"""The controls of the split-word mimicking score: a shared offset, OTA at other step counts, the CLI."""
import json

import pytest
import torch
from typer.testing import CliRunner

from spacy_bertram.evaluation.crw import MEAN_OF_WORDPIECES
from spacy_bertram.evaluation.split_targets import (
    SplitTargetResult,
    evaluate_split_targets,
    split_target_tables,
)
from spacy_bertram.training.ota import OtaConfig
from spacy_bertram.training.trainer import splits_word

VALIDATION = ["houses", "walking", "darkness", "dog"]  # "dog" is one piece: never scored
TRAIN = ["cities", "talking", "sadness", "quickly", "cat"]
SENTENCES = ["the {w} was good .", "i saw the {w} at night .", "a new {w} is big .", "they liked the old {w} ."]
OTA = OtaConfig(steps=2, contexts=1, batch_size=8)


def contexts(words):
    return {w: [s.format(w=w) for s in SENTENCES] for w in words}


@pytest.fixture(scope="module")
def models(tiny_bert_path):
    from spacy_bertram.model import BertramModel

    model = BertramModel.from_encoder(str(tiny_bert_path), words=VALIDATION + TRAIN, mode="add", seed=3)
    return [("add", model)]


def test_only_split_words_are_scored(models):
    tokenizer = models[0][1].tokenizer
    assert [w for w in VALIDATION if splits_word(tokenizer)(w)] == ["houses", "walking", "darkness"]


def test_a_shared_offset_makes_the_mean_exact_when_the_targets_are_the_mean_plus_one_vector(models):
    model = models[0][1]
    words = VALIDATION + TRAIN
    mean_vectors = model.wordpiece_base(words).mean
    shift = torch.linspace(-1.0, 1.0, model.embedding_dim) * mean_vectors.std()
    targets = dict(zip(words, mean_vectors + shift))
    result = evaluate_split_targets(
        models, contexts(VALIDATION), contexts(TRAIN), ota=OTA, steps=[], contexts=2, targets=targets
    )
    assert (result.words, result.offset_words, result.contexts) == (3, 4, 2)
    mean = result.offset[MEAN_OF_WORDPIECES]
    assert mean.as_is.cosine < 0.99 and mean.plus_offset.cosine == pytest.approx(1.0, abs=1e-5)
    assert mean.p is None
    add = result.offset["BERTRAM-add"]
    assert add.plus_offset.cosine < mean.plus_offset.cosine and add.p < 0.05  # the mean is exact, the model not


def test_ota_at_zero_steps_leaves_every_target_at_its_mean(models):
    result = evaluate_split_targets(models, contexts(VALIDATION), contexts(TRAIN), ota=OTA, steps=[0, 3], contexts=2)
    at_zero, at_three = result.steps
    assert (at_zero.steps, at_three.steps) == (0, 3)
    assert at_zero.cosine_to_mean == pytest.approx(1.0) and at_zero.loss_ratio == pytest.approx(1.0)
    assert at_zero.scores[MEAN_OF_WORDPIECES].cosine == pytest.approx(1.0, abs=1e-5)
    assert at_three.cosine_to_mean < 1.0 and at_three.loss_ratio < 1.0
    assert set(at_three.p) == {"BERTRAM-add"}
    table = split_target_tables(result)
    assert "3 validation split words" in table and "| 3 |" in table


def test_without_split_training_words_the_error_says_so(models):
    with pytest.raises(ValueError, match="split words among both"):
        evaluate_split_targets(models, contexts(VALIDATION), contexts(["cat", "dog"]), ota=OTA, steps=[0])


def test_cli_reads_the_run_and_writes_json(tmp_path, models):
    from spacy_bertram.cli import (
        app,
        evaluate,  # noqa: F401
    )
    from spacy_bertram.contexts.store import ContextStore

    store = tmp_path / "store.sqlite"
    with ContextStore(store) as opened:
        opened.add_sentences([c for texts in contexts(VALIDATION + TRAIN).values() for c in texts])
    run = tmp_path / "run"
    models[0][1].save_pretrained(run)
    (run / "words.json").write_text(json.dumps({"train": TRAIN, "validation": VALIDATION, "held_out": ["dog"]}))
    (run / "training_config.json").write_text(json.dumps({"ota": vars(OTA), "max_contexts": 4}))
    args = ["evaluate", "targets", str(store), "--run", str(run), "--contexts", "2", "-o", str(tmp_path / "t.json")]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    result = json.loads((tmp_path / "t.json").read_text())
    assert [row["steps"] for row in result["steps"]] == [2, 20]  # the run's and ten times it
    assert SplitTargetResult(**result).words == 3 and "cosine + offset" in out.output
    assert not (run / "cache").exists()  # nothing written into the run

    (run / "training_config.json").write_text(json.dumps({"seed": 0}))
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 1 and "records no OTA settings" in out.output
