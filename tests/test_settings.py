"""Settings in one place: a saved model's config needs every key, the `train` command's
options are the TrainingConfig fields, and each random choice has its own seed stream."""
import dataclasses
import json
import random

import pytest
import typer
from safetensors.torch import load_file
from typer.testing import CliRunner

from spacy_bertram.model import BertramConfig
from spacy_bertram.model.configuration_bertram import ADDED_KEYS
from test_training import corpus_tsv, train_app

CONFIG_KEYS = [f.name for f in dataclasses.fields(BertramConfig) if f.name not in ADDED_KEYS]


def _saved_config(tmp_path, **changes):
    data = BertramConfig(encoder_path="/some/encoder", mode="add", embedding_dim=8, hidden_size=8).to_dict()
    data.update(changes)
    (tmp_path / "config.json").write_text(json.dumps(data), encoding="utf8")
    return data


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_a_config_without_a_key_is_refused_naming_the_key_and_file(tmp_path, key):
    data = _saved_config(tmp_path)
    del data[key]
    (tmp_path / "config.json").write_text(json.dumps(data), encoding="utf8")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'config.json'}.*\['{key}'\].*missing"):
        BertramConfig.load(tmp_path)


@pytest.mark.parametrize("key", sorted(ADDED_KEYS))
def test_a_config_without_a_key_added_since_0_1_0_reads_as_the_model_it_was(tmp_path, key):
    data = _saved_config(tmp_path)
    del data[key]
    (tmp_path / "config.json").write_text(json.dumps(data), encoding="utf8")
    assert getattr(BertramConfig.load(tmp_path), key) == ADDED_KEYS[key]


def test_a_complete_config_loads_as_saved(tmp_path):
    data = _saved_config(tmp_path, wordpiece_residual=False, max_contexts=None)
    assert BertramConfig.load(tmp_path).to_dict() == data


# ------------------------------------------------------------ the train command
def _options():
    command = typer.main.get_command(train_app()).commands["train"]
    return {param.name: param for param in command.params}


def test_every_training_setting_is_a_train_option_with_the_fields_default():
    from spacy_bertram.training import TrainingConfig

    options = _options()
    defaults = TrainingConfig()
    expected = {
        **{f.name: getattr(defaults.model, f.name) for f in dataclasses.fields(defaults.model)},
        **{
            f"{section}_{f.name}": getattr(getattr(defaults, section), f.name)
            for section in ("context", "form", "combined", "ota")
            for f in dataclasses.fields(getattr(defaults, section))
        },
        **{
            f.name: getattr(defaults, f.name)
            for f in dataclasses.fields(defaults)
            if not dataclasses.is_dataclass(getattr(defaults, f.name))
        },
    }
    for name, default in expected.items():
        assert name in options, name
        shown = list(default) if isinstance(default, tuple) else default
        assert options[name].default == shown, name
        assert options[name].help, name
    assert set(options) - set(expected) == {"words", "output", "encoder", "device", "progress", "restart"}


def test_train_options_build_the_config_they_name(monkeypatch, tmp_path):
    from spacy_bertram.training import StageConfig, TrainingConfig

    seen = []
    monkeypatch.setattr(
        "spacy_bertram.training.train_bertram",
        lambda encoder, words, output, config, **kwargs: seen.append(config) or output,
    )
    args = [
        "train", str(tmp_path / "words.tsv"), "--output", str(tmp_path / "out"),
        "--mode", "shallow", "--ota-contexts", "2", "--held-out", "3", "--validation", "0.2",
        "--form-epochs", "2", "--ota-templates", "{word} .", "--max-words", "none", "--no-wordpiece-residual",
    ]
    result = CliRunner().invoke(train_app(), args)
    assert result.exit_code == 0, result.output
    config = seen[0]
    assert isinstance(config, TrainingConfig)
    assert config.model.mode == "shallow" and config.ota.contexts == 2
    assert not config.model.wordpiece_residual and config.model.max_seq_length == TrainingConfig().model.max_seq_length
    assert config.held_out == 3 and isinstance(config.held_out, int) and config.validation == 0.2
    assert config.form == StageConfig(epochs=2, lr=TrainingConfig().form.lr, batch_size=TrainingConfig().form.batch_size)
    assert config.ota.templates == ("{word} .",)
    assert config.max_words is None
    defaults = CliRunner().invoke(train_app(), args[:4])
    assert defaults.exit_code == 0, defaults.output
    assert seen[1] == TrainingConfig()


def test_a_bad_option_value_names_the_setting(tmp_path):
    result = CliRunner().invoke(train_app(), ["train", str(tmp_path / "w.tsv"), "-o", str(tmp_path), "--mode", "deep"])
    assert result.exit_code != 0
    assert "mode" in f"{result.output}{result.exception}"


# ------------------------------------------------------------ seed streams
def test_seed_streams_are_stable_and_independent():
    from spacy_bertram.training import SeedStreams

    seeds = SeedStreams(0)
    assert seeds("held-out words") == SeedStreams(0)("held-out words")
    names = ["held-out words", "validation words", "word sample", "form stage", "context stage"]
    assert len({seeds(n) for n in names}) == len(names)
    assert seeds("form stage") != SeedStreams(1)("form stage")
    assert all(0 <= seeds(n) < 2**63 for n in names)
    random.Random(seeds("x")).random()  # usable as a seed everywhere


def test_the_form_stage_does_not_depend_on_the_stages_before_it(tiny_bert_path, tmp_path):
    """Each stage draws from its own seed stream: a form-only run's form part is the
    add run's stage-2 form part."""
    tsv = corpus_tsv(tmp_path)
    common = [
        "--encoder", str(tiny_bert_path), "--min-count", "1", "--held-out", "3", "--max-contexts", "8",
        "--context-epochs", "1", "--form-epochs", "2", "--combined-epochs", "1", "--ota-steps", "2",
        "--form-misspellings", "1", "--no-progress",
    ]
    weights = {}
    for mode in ("form", "add"):
        out = tmp_path / mode
        result = CliRunner().invoke(train_app(), ["train", str(tsv), "--output", str(out), "--mode", mode, *common])
        assert result.exit_code == 0, result.output
        weights[mode] = load_file(str(out / "stage2-form" / "model.safetensors"))["form.embedding.weight"]
    assert weights["form"].equal(weights["add"])


def test_a_run_record_lacking_a_setting_is_another_runs(tiny_bert_path, tmp_path):
    """No setting is filled in for records written before it existed."""
    tsv = corpus_tsv(tmp_path)
    out = tmp_path / "run"
    args = [
        "train", str(tsv), "--output", str(out), "--encoder", str(tiny_bert_path), "--mode", "form",
        "--min-count", "1", "--held-out", "3", "--form-epochs", "1", "--ota-steps", "2", "--no-progress",
        "--no-wordpiece-map",
    ]
    assert CliRunner().invoke(train_app(), args).exit_code == 0
    path = out / "training_config.json"
    record = json.loads(path.read_text(encoding="utf8"))
    (record["model"] if "model" in record else record).pop("wordpiece_map")
    path.write_text(json.dumps(record), encoding="utf8")
    result = CliRunner().invoke(train_app(), args)
    assert result.exit_code != 0
    assert "wordpiece_map" in f"{result.output}{result.exception}"
