"""Run the `downstream` workflow once per task and classifier seed, then list the runs.

A rarified test set depends on the baseline that picked its words, so each seed gets
its own baseline, rarified set and classifiers (`training/PRESET/TASK/seedN`); BERTRAM
and the tagger are shared. Each run is `spacy project run downstream` with the seed and
task as vars; the list (JSON) says where each run's scores are.
"""
import json
import subprocess
import sys
from pathlib import Path
from typing import List

import typer
from weasel.util import load_project_config


def parse_pairs(pairs: List[str], what: str) -> List[List[str]]:
    """NAME=VALUE strings as [name, value] pairs; a malformed one is refused."""
    parsed = [pair.split("=", 1) for pair in pairs]
    for pair, raw in zip(parsed, pairs):
        if len(pair) != 2 or not pair[0]:
            raise typer.BadParameter(f"{what} {raw!r}: write it as NAME=VALUE")
    return parsed


def main(
    preset: str = typer.Option(..., "--preset", help="The preset every run uses"),
    tasks: List[str] = typer.Option(..., "--task", help="TASK=ASSET, e.g. trec=assets/nltk/qc.zip (repeatable)"),
    seeds: str = typer.Option("0", "--seeds", help="Classifier seeds, comma-separated"),
    variables: List[str] = typer.Option([], "--var", help="Other project vars the runs share, NAME=VALUE"),
    output: Path = typer.Option(..., "--output", help="JSON list of the runs: task, seed, scores folder"),
    project_dir: Path = typer.Option(Path("."), "--project-dir"),
) -> None:
    """Run every task x seed through the `downstream` workflow and write the list of runs."""
    seed_list = [int(seed) for seed in seeds.split(",") if seed.strip()]
    shared = {"preset": preset, **dict(parse_pairs(variables, "--var"))}
    runs = []
    for task, source in parse_pairs(tasks, "--task"):
        for seed in seed_list:
            overrides = {**shared, "task": task, "task_source": source, "seed": seed,
                         "reports": f"reports/{preset}/{task}/seed{seed}"}
            flags = [f"--vars.{name}={value}" for name, value in overrides.items()]
            typer.echo(f"== {task}, seed {seed}")
            command = [sys.executable, "-m", "spacy", "project", "run", "downstream", str(project_dir), *flags]
            if subprocess.run(command).returncode:
                raise typer.Exit(1)
            config = load_project_config(project_dir, overrides={f"vars.{k}": v for k, v in overrides.items()})
            runs.append({"task": task, "seed": seed, "scores": config["vars"]["scores"]})
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf8")
    typer.echo(f"{output}: {len(runs)} runs")


if __name__ == "__main__":
    typer.run(main)
