"""Downstream report: a Markdown table, a JSON file and two plots for several systems.

The plots follow BERTRAM's Figures 3 and 4: accuracy on all, misspelled and synonym
instances per system, and accuracy over the substituted words' frequency buckets.
When there are two or more systems, each is tested against the first one on all
instances and on each non-empty kind group (two-sided tests, Holm-adjusted over the
comparisons of a group).
"""
import json
import math
from pathlib import Path
from typing import Dict, Mapping, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .downstream import KIND_GROUPS, DownstreamReport  # noqa: E402
from .significance import holm, mcnemar_exact, paired_bootstrap  # noqa: E402
from .tables import markdown_table  # noqa: E402


def _fmt(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}"


def accuracy_table(reports: Mapping[str, DownstreamReport]) -> str:
    """Rows: groups (with their size); columns: accuracy / macro-F1 of each system."""
    systems = list(reports)
    groups = list(next(iter(reports.values())).groups)
    header = ["group", "n"] + [f"{s} {metric}" for s in systems for metric in ("acc", "F1")]
    rows = [
        [group, reports[systems[0]].groups[group].n]
        + [_fmt(v) for s in systems for v in (reports[s].groups[group].accuracy, reports[s].groups[group].macro_f1)]
        for group in groups
    ]
    return markdown_table(header, rows)


def significance(reports: Mapping[str, DownstreamReport], seed: int = 0) -> Dict[str, Dict[str, dict]]:
    """Each system against the first, per kind group with instances (all, misspelling,
    synonym): two-sided paired bootstrap and exact McNemar on that group's instances,
    each also Holm-adjusted over the group's comparisons (`*_p_holm`)."""
    systems = list(reports)
    base = reports[systems[0]]
    results: Dict[str, Dict[str, dict]] = {}
    if len(systems) < 2:
        return results
    for group in KIND_GROUPS:
        members = base.members.get(group, [])
        if not members:
            continue
        baseline = [base.correct[i] for i in members]
        results[group] = {}
        for other in systems[1:]:
            ours = [reports[other].correct[i] for i in members]
            boot, mcn = paired_bootstrap(ours, baseline, seed=seed), mcnemar_exact(ours, baseline)
            results[group][f"{other} vs {systems[0]}"] = {
                "accuracy_delta": boot.delta,
                "bootstrap_p": boot.p_value,
                "mcnemar_only_first": mcn.only_a,
                "mcnemar_only_second": mcn.only_b,
                "mcnemar_p": mcn.p_value,
            }
        add_holm(results[group])
    return results


def add_holm(results: Mapping[str, dict]) -> None:
    """Add `bootstrap_p_holm` and `mcnemar_p_holm`: Holm over the given comparisons."""
    for test in ("bootstrap_p", "mcnemar_p"):
        for r, adjusted in zip(results.values(), holm([r[test] for r in results.values()])):
            r[f"{test}_holm"] = adjusted


def significance_table(results: Mapping[str, dict]) -> str:
    """One row per group and comparison: Δ accuracy (points) and both Holm-adjusted p-values."""
    rows = [
        [group, name, f"{100 * r['accuracy_delta']:+.1f}", f"{r['bootstrap_p_holm']:.4f}", f"{r['mcnemar_p_holm']:.4f}"]
        for group, comparisons in results.items()
        for name, r in comparisons.items()
    ]
    return markdown_table(["group", "comparison", "Δ accuracy", "bootstrap p (Holm)", "McNemar p (Holm)"], rows)


def plot_by_kind(reports: Mapping[str, DownstreamReport], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 4))
    width = 0.8 / len(reports)
    for k, (system, report) in enumerate(reports.items()):
        values = [100 * report.groups[g].accuracy if report.groups[g].n else 0.0 for g in KIND_GROUPS]
        ax.bar([i + k * width for i in range(len(KIND_GROUPS))], values, width, label=system)
    ax.set_xticks([i + width * (len(reports) - 1) / 2 for i in range(len(KIND_GROUPS))])
    ax.set_xticklabels(KIND_GROUPS)
    ax.set_ylabel("accuracy (%)")
    return _save(fig, ax, "Rarified test set: accuracy by substitution kind", path)


def plot_by_frequency(reports: Mapping[str, DownstreamReport], path: Path) -> Path:
    first = next(iter(reports.values()))
    buckets = [g for g in first.groups if g not in KIND_GROUPS and first.groups[g].n]
    fig, ax = plt.subplots(figsize=(8.5, 4))
    for system, report in reports.items():
        ax.plot(range(len(buckets)), [100 * report.groups[b].accuracy for b in buckets],
                marker="o", label=system)
    ax.set_xticks(range(len(buckets)))
    ax.set_xticklabels([f"{b}\nn={first.groups[b].n}" for b in buckets], fontsize=8)
    ax.set_xlabel("frequency of substituted words (highest per instance)")
    ax.set_ylabel("accuracy (%)")
    return _save(fig, ax, "Rarified test set: accuracy by substitute frequency", path)


def _save(fig, ax, title: str, path: Path) -> Path:
    """Title, a legend outside the axes (inside, it hides the last bars), PNG."""
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(
    reports: Mapping[str, DownstreamReport], output_dir: Union[str, Path], seed: int = 0
) -> Dict[str, Path]:
    """Write report.md, report.json, accuracy_by_kind.png, accuracy_by_frequency.png."""
    if not reports:
        raise ValueError("No systems to report on.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tests = significance(reports, seed)
    markdown = "## Downstream accuracy / macro-F1 (%)\n\n" + accuracy_table(reports) + "\n"
    if tests:
        title = "Significance (two-sided, Holm-adjusted over the comparisons of each group)"
        markdown += f"\n## {title}\n\n" + significance_table(tests) + "\n"
    paths = {
        "markdown": output_dir / "report.md",
        "json": output_dir / "report.json",
        "by_kind": plot_by_kind(reports, output_dir / "accuracy_by_kind.png"),
        "by_frequency": plot_by_frequency(reports, output_dir / "accuracy_by_frequency.png"),
    }
    paths["markdown"].write_text(markdown, encoding="utf8")
    data = {"systems": {s: r.to_dict() for s, r in reports.items()}, "significance": tests}
    paths["json"].write_text(json.dumps(data, indent=2), encoding="utf8")
    return paths
