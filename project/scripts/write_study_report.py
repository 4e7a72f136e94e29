"""Write the study's report: each system's accuracy change against the baseline, per
task, test set and classifier seed, and its mean ± sd over the seeds.

Reads the list of runs written by `run_study.py`; each run's scores folder holds the
downstream reports of the paper-mix rarified set (`downstream/`), the synonym-only set
(`downstream-synonyms/`) and the clean test set (`downstream-clean/`). Each run's full
report (tables, significance) is in `reports/PRESET/TASK/seedN/`. A claim needs more
than one seed, so each table is followed by the seeds pooled: every instance of every
seed's set, per group (All, Msp, WN), with two-sided tests (paired bootstrap, exact
McNemar), Holm-adjusted over the systems of the group's table.
"""
import itertools
import json
import statistics
from pathlib import Path
from typing import Dict, List

import typer

from spacy_bertram.evaluation import markdown_table
from spacy_bertram.evaluation.downstream import DownstreamReport
from spacy_bertram.evaluation.report import significance

TEST_SETS = {
    "downstream": ("rarified, paper mix", {"all": "All", "misspelling": "Msp", "synonym": "WN"}),
    "downstream-synonyms": ("rarified, synonyms only", {"all": "All"}),
    "downstream-clean": ("clean test set", {"all": "All"}),
}


def mean_sd(values: List[float]) -> str:
    """`mean ± sd` in points (sd over seeds; – with one seed)."""
    sd = f"{100 * statistics.stdev(values):.1f}" if len(values) > 1 else "–"
    return f"{100 * statistics.fmean(values):+.1f} ± {sd}"


def delta_table(title: str, kinds: Dict[str, str], reports: Dict[int, Dict]) -> List[str]:
    """A row per system and group: Δ accuracy against the baseline per seed, then mean ± sd."""
    seeds = sorted(reports)
    systems = reports[seeds[0]]["systems"]
    baseline = next(iter(systems))
    rows = []
    for kind, name in kinds.items():
        if kind not in systems[baseline]["groups"]:
            continue
        for system in list(systems)[1:]:
            deltas = [
                report["systems"][system]["groups"][kind]["accuracy"]
                - report["systems"][baseline]["groups"][kind]["accuracy"]
                for report in (reports[seed] for seed in seeds)
            ]
            rows.append([f"`{system}`", name, *(f"{100 * d:+.1f}" for d in deltas), mean_sd(deltas)])
    sizes = ", ".join(f"seed {s}: {reports[s]['systems'][baseline]['groups']['all']['n']}" for s in seeds)
    header = ["system", "group", *(f"seed {s}" for s in seeds), "mean ± sd"]
    return [
        f"### {title}",
        "",
        f"Δ accuracy in points against `{baseline}` (n: {sizes}).",
        "",
        markdown_table(header, rows, align="ll" + "r" * (len(seeds) + 1)),
        "",
    ]


def p_text(p: float) -> str:
    """A p-value to three decimals; below 0.001 as `< 0.001` (not a 0 the test cannot give)."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def pooled_table(reports: Dict[int, Dict], kinds: Dict[str, str]) -> List[str]:
    """Every seed's instances of each group together (`significance` of the pooled
    reports): accuracies, Δ and two-sided p-values, Holm-adjusted over the systems of
    the group's table."""
    seeds = sorted(reports)
    systems = list(reports[seeds[0]]["systems"])
    baseline = systems[0]
    sizes = [len(reports[seed]["systems"][baseline]["correct"]) for seed in seeds]
    offsets = dict(zip(seeds, itertools.accumulate([0] + sizes)))
    pooled = {
        system: DownstreamReport(
            correct=[c for seed in seeds for c in reports[seed]["systems"][system]["correct"]],
            members={
                kind: [offsets[seed] + i for seed in seeds for i in reports[seed]["systems"][baseline]["members"][kind]]
                for kind in kinds
            },
        )
        for system in systems
    }
    tests = significance(pooled)
    lines = []
    for kind, name in kinds.items():
        if kind not in tests:
            continue
        base = [pooled[baseline].correct[i] for i in pooled[baseline].members[kind]]
        rows = [[f"`{baseline}`", f"{100 * sum(base) / len(base):.1f}", "", "", ""]]
        for system in systems[1:]:
            test = tests[kind][f"{system} vs {baseline}"]
            ours = [pooled[system].correct[i] for i in pooled[system].members[kind]]
            rows.append([
                f"`{system}`", f"{100 * sum(ours) / len(ours):.1f}", f"{100 * test['accuracy_delta']:+.1f}",
                p_text(test["bootstrap_p_holm"]),
                f"{p_text(test['mcnemar_p_holm'])} ({test['mcnemar_only_first']}/{test['mcnemar_only_second']})",
            ])
        header = ["system", "accuracy", "Δ", "bootstrap p (Holm)", "McNemar p (Holm; only it / only baseline)"]
        lines += [f"Seeds pooled ({name}, n = {len(base)}):", "", markdown_table(header, rows, align="lrrrr"), ""]
    return lines


def main(
    runs_path: Path = typer.Argument(..., help="JSON list of runs from run_study.py", exists=True),
    output: Path = typer.Argument(..., help="The Markdown report"),
) -> None:
    """Collect each run's downstream reports and write the per-seed tables."""
    by_task: Dict[str, Dict[str, Dict[int, Dict]]] = {}
    for run in json.loads(runs_path.read_text(encoding="utf8")):
        for name in TEST_SETS:
            report = Path(run["scores"]) / name / "report.json"
            if not report.is_file():
                raise typer.BadParameter(
                    f"{report} (task {run['task']}, seed {run['seed']}) is missing: rerun study-runs"
                )
            by_task.setdefault(run["task"], {}).setdefault(name, {})[run["seed"]] = json.loads(
                report.read_text(encoding="utf8")
            )
    lines = [
        "# Study: several classifier seeds",
        "",
        "Each seed trains its own baseline, so each seed has its own rarified test sets; BERTRAM and "
        "the tagger are shared. Each run's full report is `TASK/seedN/report.md` beside this one.",
        "",
    ]
    for task, sets in by_task.items():
        lines += [f"## {task}", ""]
        for name, (title, kinds) in TEST_SETS.items():
            lines += delta_table(title, kinds, sets[name]) + pooled_table(sets[name], kinds)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines), encoding="utf8")
    typer.echo(f"{output}: {len(by_task)} tasks")


if __name__ == "__main__":
    typer.run(main)
