"""The second task (TREC), the seed study's structure and its report (no training)."""
import importlib.util
import json
import shlex
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from thinc.api import Config
from weasel.util import load_project_config

ROOT = Path(__file__).parent.parent
PROJECT = ROOT / "project"
QC = Path(__file__).resolve().parents[2] / "shared" / "data" / "nltk" / "qc.zip"


def script(name):
    spec = importlib.util.spec_from_file_location(name, PROJECT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not QC.is_file(), reason="shared qc.zip not beside the checkout")
def test_trec_becomes_six_exclusive_classes_with_dev_from_train_and_the_500_as_test(tmp_path):
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()
    app.command()(script("prepare_dataset").main)
    result = CliRunner().invoke(app, ["trec", str(QC), str(tmp_path), "--dev-size", "400"])
    assert result.exit_code == 0, result.output
    vocab = spacy.blank("en").vocab
    splits = {name: list(DocBin().from_disk(tmp_path / f"{name}.spacy").get_docs(vocab))
              for name in ("train", "dev", "test")}
    assert [len(splits[n]) for n in ("train", "dev", "test")] == [5452 - 400, 400, 500]
    for docs in splits.values():
        assert all(sorted(d.cats) == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"] for d in docs)
        assert all(sum(d.cats.values()) == 1.0 for d in docs)  # exclusive, one-hot
    assert "What is the capital of Yugoslavia ?" in {d.text for d in splits["test"]}  # test.txt's
    textcat = Config().from_disk(ROOT / "configs" / "textcat.cfg")["components"]["textcat"]
    assert textcat["factory"] == "textcat" and textcat["model"]["exclusive_classes"] is True


def test_study_preset_is_the_demo_with_three_seeds():
    presets = {p: Config().from_disk(ROOT / "configs" / "presets" / f"{p}.cfg") for p in ("study", "demo")}
    seeds = {p: presets[p]["study"].pop("seeds") for p in presets}
    assert len(seeds["study"].split(",")) >= 3 and seeds["demo"] == "0"
    assert presets["study"] == presets["demo"]  # every other setting: the demo's figures, per seed


def test_seed_and_task_give_their_own_runs_while_bertram_and_tagger_are_shared():
    def resolved(task, seed):
        return load_project_config(PROJECT, overrides={"vars.preset": "study", "vars.task": task,
                                                       "vars.seed": seed})["vars"]

    runs = [resolved(t, s) for t in ("sst2", "trec") for s in (0, 1)]
    for key in ("runs", "scores"):
        assert len({v[key] for v in runs}) == 4
    for key in ("bertram", "tagger"):
        assert len({v[key] for v in runs}) == 1


def test_study_runs_passes_only_project_vars_and_tasks_that_are_assets():
    config = load_project_config(PROJECT)
    (line,) = next(c for c in config["commands"] if c["name"] == "study-runs")["script"]
    tokens = shlex.split(line)
    names = [tokens[i + 1].split("=")[0] for i, t in enumerate(tokens) if t == "--var"]
    assert names and set(names) <= set(config["vars"])
    sources = [tokens[i + 1].split("=")[1] for i, t in enumerate(tokens) if t == "--task"]
    dests = {a["dest"] for a in config["assets"]}
    assert len(sources) == 2 and all(any(d.startswith(s) for d in dests) for s in sources)


def test_run_study_runs_downstream_per_task_and_seed(tmp_path, monkeypatch):
    module = script("run_study")
    calls = []

    class Done:
        returncode = 0

    monkeypatch.setattr(module.subprocess, "run", lambda command: calls.append(command) or Done())
    output = tmp_path / "study.json"
    module.main(preset="study", tasks=["sst2=assets/sst2", "trec=assets/nltk/qc.zip"], seeds="0,2",
                variables=["mode=replace"], output=output, project_dir=PROJECT)
    assert len(calls) == 4 and all(c[3:6] == ["project", "run", "downstream"] for c in calls)
    assert "--vars.seed=2" in calls[1] and "--vars.task_source=assets/nltk/qc.zip" in calls[3]
    assert all("--vars.mode=replace" in c and "--vars.preset=study" in c for c in calls)
    runs = json.loads(output.read_text())
    assert runs[3] == {"task": "trec", "seed": 2, "scores": "metrics/study/trec/seed2"}
    with pytest.raises(Exception, match="NAME=VALUE"):
        module.main(preset="study", tasks=["trec"], seeds="0", variables=[], output=output, project_dir=PROJECT)


def test_study_report_gives_deltas_per_seed_and_mean_sd(tmp_path):
    module = script("write_study_report")

    def report(plain, slash):
        def system(accuracy):
            groups = {k: {"n": 10, "accuracy": accuracy} for k in ("all", "misspelling", "synonym")}
            members = {"all": list(range(10)), "misspelling": [0, 1, 2, 3, 4], "synonym": [5, 6, 7, 8, 9]}
            return {"groups": groups, "correct": [i < 10 * accuracy for i in range(10)], "members": members}
        return {"systems": {"plain": system(plain), "slash": system(slash)}}

    runs = []
    for seed, (plain, slash) in enumerate([(0.5, 0.6), (0.5, 0.7), (0.6, 0.6)]):
        scores = tmp_path / f"seed{seed}"
        for name in module.TEST_SETS:
            (scores / name).mkdir(parents=True)
            (scores / name / "report.json").write_text(json.dumps(report(plain, slash)))
        runs.append({"task": "trec", "seed": seed, "scores": str(scores)})
    (tmp_path / "study.json").write_text(json.dumps(runs))
    module.main(tmp_path / "study.json", tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    # deltas +10, +20, 0 points: mean +10.0, sample sd 10.0
    assert "| `slash` | All | +10.0 | +20.0 | +0.0 | +10.0 ± 10.0 |" in text
    assert "| `slash` | WN | +10.0 | +20.0 | +0.0 | +10.0 ± 10.0 |" in text
    assert "### clean test set" in text and "## trec" in text
    # pooled: plain 16/30, slash 19/30; slash alone right on 3 instances, plain alone on none
    # (exact McNemar: 2 * 0.5**3 = 0.25; Holm over one comparison leaves it)
    assert "Seeds pooled (All, n = 30):" in text
    assert "| `plain` | 53.3 |" in text
    assert "| `slash` | 63.3 | +10.0 |" in text and "| 0.250 (3/0) |" in text
    # the WN group pools instances 5-9 of each seed: slash alone right on seed 0's
    # instance 5 and seed 1's 5 and 6 (3/0 again), plain 1/15, slash 4/15
    assert "Seeds pooled (WN, n = 15):" in text and "| `slash` | 26.7 | +20.0 |" in text
    assert "Seeds pooled (Msp, n = 15):" in text and "| `plain` | 100.0 |" in text
    assert module.p_text(0.0) == "< 0.001" and module.p_text(0.0104) == "0.010"
