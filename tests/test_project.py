"""The spaCy project: project.yml, its presets and configs are consistent (no training)."""
import importlib.util
import shlex
from pathlib import Path
from typing import List, Set

import pytest
import srsly
import typer
from typer.testing import CliRunner
from thinc.api import Config
from weasel.schemas import ProjectConfigSchema, validate
from weasel.util import load_project_config

ROOT = Path(__file__).parent.parent
PROJECT = ROOT / "project"
PRESETS = sorted(p.stem for p in (ROOT / "configs" / "presets").glob("*.cfg"))
PRESET_WRAPPER = ["python", "scripts/preset.py"]


def registered():
    """Import the modules that register the package's functions in spaCy's registry."""
    from spacy_bertram import attach, augment, frequency, layers, pipeline_component  # noqa: F401


def commands_in_order(config: dict, workflow: str = "all") -> List[dict]:
    """The workflow's commands in order; `study-runs` runs the `downstream` workflow per seed."""
    by_name = {cmd["name"]: cmd for cmd in config["commands"]}
    steps = []
    for name in config["workflows"][workflow]:
        if name == "study-runs":
            steps += commands_in_order(config, "downstream")
        steps.append(by_name[name])
    return steps


def script_lines(config: dict):
    """(command name, tokens) for each script line, with the preset wrapper unwrapped."""
    for cmd in config["commands"]:
        for line in cmd["script"]:
            tokens = shlex.split(line)
            section = None
            if tokens[:2] == PRESET_WRAPPER:
                section, tokens = tokens[3], tokens[4:]
            yield cmd["name"], section, tokens


def option_names(tokens: List[str]) -> Set[str]:
    """The options a `python -m spacy_bertram ...` or `python scripts/X.py` command accepts."""
    if tokens[:3] == ["python", "-m", "spacy_bertram"]:
        from spacy_bertram.cli import COMMAND_MODULES, app

        for name in COMMAND_MODULES:
            importlib.import_module(f"spacy_bertram.cli.{name}")
        command = typer.main.get_command(app)
        rest = tokens[3:]
        while hasattr(command, "commands"):  # a group: descend to the subcommand
            command, rest = command.commands[rest[0]], rest[1:]
    else:
        spec = importlib.util.spec_from_file_location("script", PROJECT / tokens[1])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        app = typer.Typer()
        app.command()(module.main)
        command = typer.main.get_command(app)
    return {opt for param in command.params for opt in param.opts + param.secondary_opts}


def test_project_yml_matches_weasel_schema():
    raw = srsly.read_yaml(PROJECT / "project.yml")
    assert validate(ProjectConfigSchema, raw) == []
    config = load_project_config(PROJECT)  # also checks commands and workflows
    in_workflows = {name for steps in config["workflows"].values() for name in steps}
    assert in_workflows == {cmd["name"] for cmd in config["commands"]}


@pytest.mark.parametrize("workflow", ["all", "study"])
@pytest.mark.parametrize("preset", PRESETS)
def test_every_dependency_is_made_by_an_earlier_step(preset, workflow):
    config = load_project_config(PROJECT, overrides={"vars.preset": preset})
    made = {asset["dest"] for asset in config["assets"]}
    for cmd in commands_in_order(config, workflow):
        for dep in cmd.get("deps", []):
            in_repo = dep.startswith("../") and (PROJECT / dep).exists()
            produced = any(out == dep or out.startswith(dep.rstrip("/") + "/") for out in made)
            assert in_repo or produced, f"{cmd['name']}: dependency {dep} is made by no earlier step"
        made.update(cmd.get("outputs", []))


def test_presets_have_the_same_sections_and_cover_every_step():
    config = load_project_config(PROJECT)
    used = {section for _, section, _ in script_lines(config) if section}
    for preset in PRESETS:
        sections = set(Config().from_disk(ROOT / "configs" / "presets" / f"{preset}.cfg"))
        assert sections == used, f"{preset}.cfg: sections {sorted(sections)} != steps {sorted(used)}"


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_settings_are_options_of_their_steps(preset):
    registered()
    from spacy.util import load_config

    settings = Config().from_disk(ROOT / "configs" / "presets" / f"{preset}.cfg")
    config = load_project_config(PROJECT, overrides={"vars.preset": preset})
    for name, section, tokens in script_lines(config):
        if not section or not settings[section]:
            continue
        if tokens[:4] == ["python", "-m", "spacy", "train"]:
            train_config = load_config(PROJECT / tokens[4])
            for key in settings[section]:
                node = train_config
                for part in key.split("."):
                    assert part in node, f"{preset}.cfg [{section}] {key}: not in {tokens[4]}"
                    node = node[part]
        else:
            options = option_names(tokens)
            for key in settings[section]:
                assert f"--{key}" in options, f"{preset}.cfg [{section}] {key}: no option of `{name}`"


def walk_references(node, found):
    """Collect (registry, name) of every `@registry = name` in a config."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("@"):
                found.add((key[1:], value))
            else:
                walk_references(value, found)
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.cfg")), ids=lambda p: p.name)
def test_configs_parse_and_name_registered_functions(path):
    from spacy.util import load_config, registry

    registered()
    config = load_config(path)
    for registry_name, name in sorted(walk_references(config, set())):
        assert registry.has(registry_name, name), f"{path.name}: {registry_name} {name!r} is not registered"
    if "components" in config:
        import spacy
        from spacy.language import Language

        spacy.blank("en")  # registers spaCy's built-in factories
        for component in config["components"].values():
            assert Language.has_factory(component["factory"]), component["factory"]


def test_textcat_config_runs_bertram_before_the_transformer():
    from spacy.util import load_config

    config = load_config(ROOT / "configs" / "textcat.cfg")
    pipeline = config["nlp"]["pipeline"]
    assert pipeline.index("bertram") < pipeline.index("transformer")
    assert "bertram" in config["training"]["annotating_components"]
    assert config["components"]["transformer"]["model"]["@architectures"] == "bertram.TransformerModel.v1"
    assert config["corpora"]["train"]["augmenter"]["@augmenters"] == "bertram.mask_slash_augmenter.v1"


def run_fetch_assets(project_dir: Path, mirror: Path):
    from typer.testing import CliRunner

    spec = importlib.util.spec_from_file_location("fetch_assets", PROJECT / "scripts" / "fetch_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = typer.Typer()
    app.command()(module.main)
    return CliRunner().invoke(app, [str(mirror), "--project-dir", str(project_dir)])


def test_fetch_assets_copies_from_the_mirror_and_checks_md5(tmp_path):
    import hashlib

    mirror, project = tmp_path / "mirror", tmp_path / "project"
    (mirror / "data").mkdir(parents=True)
    project.mkdir()
    (mirror / "data" / "a.txt").write_text("real data\n")
    assets = [
        {"dest": "assets/data/a.txt", "url": "https://example.org/a.txt",
         "checksum": hashlib.md5(b"real data\n").hexdigest()},
        {"dest": "assets/data/b.txt", "url": "https://example.org/b.txt", "extra": True},
    ]
    srsly.write_yaml(project / "project.yml", {"assets": assets})
    result = run_fetch_assets(project, mirror)
    assert result.exit_code == 0, result.output
    assert (project / "assets" / "data" / "a.txt").read_text() == "real data\n"
    assert not (project / "assets" / "data" / "b.txt").exists()  # extra, and not in the mirror

    (project / "assets" / "data" / "a.txt").unlink()
    (mirror / "data" / "a.txt").write_text("other data\n")
    result = run_fetch_assets(project, mirror)
    assert result.exit_code != 0 and not (project / "assets" / "data" / "a.txt").exists()

    result = run_fetch_assets(project, tmp_path / "no-mirror")
    assert result.exit_code == 1 and "spacy project assets" in result.output


def test_report_shows_misspelling_cosines_beside_the_wordpiece_baseline(tmp_path):
    spec = importlib.util.spec_from_file_location("write_report", PROJECT / "scripts" / "write_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    log = tmp_path / "training_log.jsonl"
    records = [
        {"stage": "misspellings", "of": "held_out", "misspellings": 7, "wordpiece_mean_cosine": 0.145},
        {"stage": "misspellings", "of": "known", "misspellings": 90, "wordpiece_mean_cosine": 0.149},
        {"stage": "context", "epoch": 1, "loss": 0.1, "seconds": 1.0},
        {"stage": "context", "mode": "context", "train_words": 50, "held_out_words": 8,
         "held_out_cosine": 0.94, "seconds": 3.0},
        {"stage": "form", "mode": "form", "train_words": 50, "held_out_words": 8, "held_out_cosine": 0.92,
         "held_out_misspelled_cosine": 0.236, "known_misspelled_cosine": 0.321, "seconds": 2.0},
    ]
    srsly.write_jsonl(log, records)
    text = "\n".join(module.mimicking_section(log))
    assert "| context | context | 50 | 8 | 0.940 | – | – | – | – | – | 3 |" in text
    assert "| form | form | 50 | 8 | 0.920 | – | – | – | 0.236 | 0.321 | 2 |" in text
    assert "0.145" in text and "0.149" in text and "90" in text


def test_report_mimicking_table_has_a_wordpiece_mean_row_and_split_words_apart(tmp_path):
    spec = importlib.util.spec_from_file_location("write_report", PROJECT / "scripts" / "write_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    log = tmp_path / "training_log.jsonl"
    srsly.write_jsonl(log, [
        {"stage": "misspellings", "of": "held_out", "misspellings": 7, "wordpiece_mean_cosine": 0.145},
        {"stage": "held_out", "held_out_words": 10, "wordpiece_mean_cosine": 0.9, "held_out_split_words": 3,
         "held_out_split_cosine": 0.6, "held_out_whole_words": 7, "held_out_whole_cosine": 1.0,
         "held_out_split_mrr": 0.25},
        {"stage": "combined", "mode": "add", "train_words": 50, "held_out_words": 10, "held_out_cosine": 0.93,
         "held_out_split_words": 3, "held_out_split_cosine": 0.75, "held_out_split_mrr": 0.5, "held_out_whole_words": 7,
         "held_out_whole_cosine": 1.0, "held_out_misspelled_cosine": 0.3, "seconds": 4.0,
         "held_out_split_cosine_p": 0.0123, "held_out_split_mrr_p": 0.5},
    ])
    text = "\n".join(module.mimicking_section(log))
    assert "| mean of wordpieces | – | – | 10 | 0.900 | 0.600 | 0.250 | 1.000 | 0.145 | – | – |" in text
    assert "| combined | add | 50 | 10 | 0.930 | 0.750 (p 0.012) | 0.500 (p 0.500) | 1.000 | 0.300 | – | 4 |" in text
    assert "splits 3" in text and "keeps 7 whole" in text


def test_report_shows_the_nonce_table_and_plot(tmp_path):
    spec = importlib.util.spec_from_file_location("write_report", PROJECT / "scripts" / "write_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    score = {"mrr": 0.25, "cosine": 0.5}
    nonce = {"counts": [1, 16], "words": 60, "rows": 22501, "ridge_words": 420, "ridge": 42.0,
             "scores": {name: {"1": score, "16": score} for name in
                        ("mean-of-wordpieces", "form-only", "context-only", "BERTRAM-add", "ridge (mean state at the mask)")}}
    text = "\n".join(module.nonce_section(nonce, "nonce.png"))
    assert "| system | score | N=1 | N=16 |" in text
    assert "| BERTRAM-add | mrr | 0.250 | 0.250 |" in text and "| BERTRAM-add | cosine | 0.500 | 0.500 |" in text
    assert "| ridge (mean state at the mask) | mrr |" in text
    assert "60 frequent words" in text and "22501" in text and "420 frequent whole words" in text
    assert "![nonce test](nonce.png)" in text


def test_report_crw_rows_carry_the_system_labels(tmp_path):
    spec = importlib.util.spec_from_file_location("write_report", PROJECT / "scripts" / "write_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    crw = {label: {"spearman": 0.4, "pairs": 550, "missing": 0}
           for label in ("mean-of-wordpieces", "form-only", "context-only", "BERTRAM-add")}
    text = "\n".join(module.crw_section(crw))
    assert "| system | Spearman ρ | pairs | missing |" in text
    for label in crw:
        assert f"| {label} | 0.400 | 550 | 0 |" in text


def test_report_states_the_classifiers_training_recipe(tmp_path):
    spec = importlib.util.spec_from_file_location("write_report", PROJECT / "scripts" / "write_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from spacy.util import load_config

    config = load_config(ROOT / "configs" / "textcat.cfg")
    config["training"]["max_steps"] = 150
    config["corpora"]["train"]["augmenter"]["misspell_level"] = 0.2
    config.to_disk(tmp_path / "config.cfg")
    (line, _) = module.training_recipe(tmp_path / "config.cfg")
    assert line.startswith("Every classifier: 150 steps of 32 documents")
    assert "5% of words masked" in line and "10% of words written as `w / w`" in line
    assert "20% of words misspelled" in line


def test_report_separates_the_attached_baseline_from_retrained_classifiers():
    spec = importlib.util.spec_from_file_location("write_report", PROJECT / "scripts" / "write_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def system(accuracy):
        groups = {name: {"n": 10, "accuracy": accuracy, "macro_f1": accuracy}
                  for name in ("all", "misspelling", "synonym", "[0, 1)")}
        return {"groups": groups}

    report = {
        "systems": {"plain": system(0.5), "plain+slash": system(0.7), "slash": system(0.4)},
        "significance": {"all": {
            "plain+slash vs plain": {"accuracy_delta": 0.2, "bootstrap_p": 0.01, "mcnemar_p": 0.02},
            "slash vs plain": {"accuracy_delta": -0.1, "bootstrap_p": 0.3, "mcnemar_p": 0.4},
        }},
    }
    text = "\n".join(module.downstream_section(report, []))
    protocol, retrained = text.split("### Classifiers trained with BERTRAM vectors")
    assert "| `plain+slash` baseline + BERTRAM slash | 70.0 | +20.0 | 0.010 | 0.020 |" in protocol
    assert "| `slash`" not in protocol
    assert "| `slash` trained with BERTRAM slash | 40.0 | -10.0 | 0.300 | 0.400 |" in retrained
    assert "| `plain` transformer (baseline) | 50.0 |" in retrained
    assert "| [0, 1) | 10 | 50.0 | 70.0 | 40.0 |" in retrained


def test_report_has_one_table_when_every_system_is_of_one_kind():
    spec = importlib.util.spec_from_file_location("write_report", PROJECT / "scripts" / "write_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    groups = {name: {"n": 4, "accuracy": 0.5, "macro_f1": 0.5} for name in ("all", "misspelling", "synonym")}
    test = {"accuracy_delta": 0.0, "bootstrap_p": 1.0, "mcnemar_p": 1.0}
    report = {"systems": {"plain": {"groups": groups}, "slash": {"groups": groups}},
              "significance": {"all": {"slash vs plain": test}}}
    text = "\n".join(module.downstream_section(report, []))
    assert "###" not in text and text.count("| `plain` transformer (baseline) |") == 1
    assert "| `slash` trained with BERTRAM slash |" in text


def _write_report_module():
    spec = importlib.util.spec_from_file_location("write_report", PROJECT / "scripts" / "write_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_has_the_papers_table_3_columns_with_their_sizes():
    module = _write_report_module()
    sizes = {"all": 20, "misspelling": 3, "synonym": 18}
    groups = {name: {"n": n, "accuracy": 0.5, "macro_f1": 0.5} for name, n in sizes.items()}
    test = {"accuracy_delta": 0.0, "bootstrap_p": 1.0, "mcnemar_p": 1.0}
    report = {"systems": {"plain": {"groups": groups}, "slash": {"groups": groups}},
              "significance": {"all": {"slash vs plain": test}}}
    text = "\n".join(module.downstream_section(report, []))
    assert "| system | All (n=20) | Δ | bootstrap p (Holm) | McNemar p (Holm) | Msp (n=3) | WN (n=18) | macro-F1 |" in text
    clean = "\n".join(module.clean_section(report))
    assert "| system | All (n=20) | Δ | bootstrap p (Holm) | McNemar p (Holm) | macro-F1 |" in clean
    groups["misspelling"]["n"] = 0  # a synonym-only set: no Msp accuracy to show
    assert "| `slash` trained with BERTRAM slash | 50.0 | +0.0 | 1.000 | 1.000 | – | 50.0 | 50.0 |" in "\n".join(
        module.downstream_section(report, []))


def test_report_tests_the_msp_and_wn_groups_holm_adjusted_within_each():
    module = _write_report_module()
    groups = {name: {"n": 10, "accuracy": 0.5, "macro_f1": 0.5} for name in ("all", "misspelling", "synonym")}
    report = {
        "systems": {"plain": {"groups": groups}, "plain+slash": {"groups": groups}, "plain+replace": {"groups": groups}},
        "significance": {
            "all": {"plain+slash vs plain": {"accuracy_delta": 0.1, "bootstrap_p": 0.2, "mcnemar_p": 0.3},
                    "plain+replace vs plain": {"accuracy_delta": 0.0, "bootstrap_p": 0.6, "mcnemar_p": 0.6}},
            "synonym": {"plain+slash vs plain": {"accuracy_delta": 0.3, "bootstrap_p": 0.01, "mcnemar_p": 0.02},
                        "plain+replace vs plain": {"accuracy_delta": -0.1, "bootstrap_p": 0.5, "mcnemar_p": 0.5}},
        },
    }
    text = "\n".join(module.downstream_section(report, []))
    # WN: Holm over the two WN comparisons (0.02 x 2 = 0.04; 0.5 stays); Msp has no tests
    assert "| `plain+slash` baseline + BERTRAM slash | 50.0 | +10.0 | 0.400 | 0.600 | 50.0 | 50.0 (+30.0; p 0.040) |" in text
    assert "| `plain+replace` baseline + BERTRAM replace | 50.0 | +0.0 | 0.600 | 0.600 | 50.0 | 50.0 (-10.0; p 0.500) |" in text


def test_report_shows_clean_text_and_both_rarified_sets(tmp_path):
    module = _write_report_module()

    def downstream(folder, n_synonym, n_misspelling, buckets):
        groups = {"all": 10, "misspelling": n_misspelling, "synonym": n_synonym, **buckets}
        system = {"groups": {k: {"n": n, "accuracy": 0.6, "macro_f1": 0.6} for k, n in groups.items()}}
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "accuracy_by_kind.png").write_bytes(b"png")
        srsly.write_json(tmp_path / folder / "report.json", {"systems": {"plain": system}, "significance": {}})
        return tmp_path / folder / "report.json"

    srsly.write_json(tmp_path / "crw.json", {})
    srsly.write_jsonl(tmp_path / "log.jsonl", [])
    args = [str(downstream("mix", 4, 7, {"[0, 1)": 7})), str(tmp_path / "crw.json"), str(tmp_path / "log.jsonl"),
            str(tmp_path / "report"), "--preset", "tiny", "--task", "sst2", "--mode", "add",
            "--synonyms", str(downstream("synonyms", 10, 0, {"[250, 500)": 10})), "--synonyms-zipf", "3",
            "--clean", str(downstream("clean", 0, 0, {}))]
    app = typer.Typer()
    app.command()(module.main)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report" / "report.md").read_text()
    clean, mix = text.index("## Clean text"), text.index("## Downstream: accuracy on the rarified test set")
    synonyms = text.index("## Downstream: accuracy on the synonym-only rarified test set")
    assert clean < mix < synonyms
    assert "rare below Zipf 3" in text[synonyms:] and "| [250, 500) | 10 | 60.0 |" in text[synonyms:]
    assert "(synonyms_accuracy_by_kind.png)" in text[synonyms:] and "(accuracy_by_kind.png)" in text[mix:synonyms]
    assert (tmp_path / "report" / "synonyms_accuracy_by_kind.png").exists()
    assert (tmp_path / "report" / "accuracy_by_kind.png").exists()


def test_boolean_preset_settings_become_flags_the_train_command_takes():
    spec = importlib.util.spec_from_file_location("preset", PROJECT / "scripts" / "preset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flags = module.preset_flags("demo", "bertram")
    assert "--no-wordpiece-residual" in flags and "--wordpiece-gate" in flags
    import spacy_bertram.cli.train  # noqa: F401  (registers the command)
    from spacy_bertram.cli import app

    command = typer.main.get_command(app).commands["train"]
    params = command.make_context("train", ["store.sqlite", "--output", "out", *flags]).params
    assert params["wordpiece_residual"] is False and params["wordpiece_gate"] is True
