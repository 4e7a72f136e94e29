"""Write the project's report: one Markdown file with the tables, and the plots beside it.

Reads what the evaluation steps wrote: the downstream report (accuracy per system and
group, per-instance correctness, significance tests against the first system), the
CRW-dev results and BERTRAM's training log (held-out mimicking cosine per stage).
"""
import json
import math
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import typer
from spacy.util import load_config

from spacy_bertram.evaluation import holm, markdown_table

SYSTEMS = {
    "plain": "transformer (baseline)",
    "plain+replace": "baseline + BERTRAM replace",
    "plain+slash": "baseline + BERTRAM slash",
    "plain+indomain": "baseline + BERTRAM slash + in-domain contexts",
    "replace": "trained with BERTRAM replace",
    "slash": "trained with BERTRAM slash",
    "indomain": "trained with BERTRAM slash + in-domain contexts",
}
KINDS = ("all", "misspelling", "synonym")
PLOTS = ("accuracy_by_kind.png", "accuracy_by_frequency.png")


def pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def training_recipe(config_path: Path) -> List[str]:
    """How the classifiers were trained: steps, batch size and the augmentation, read
    from a trained pipeline's config (every system shares them)."""
    config = load_config(config_path)
    training, augmenter = config["training"], config["corpora"]["train"].get("augmenter") or {}
    recipe = f"Every classifier: {training['max_steps']} steps of {training['batcher']['size']} documents"
    if augmenter:
        shares = [
            f"{100 * augmenter.get(key, 0.0):g}% of words {what}"
            for key, what in (("mask_level", "masked"), ("slash_level", "written as `w / w`"),
                              ("misspell_level", "misspelled"))
            if augmenter.get(key, 0.0)
        ]
        recipe += f", with `{augmenter['@augmenters']}` ({', '.join(shares) or 'no changes'})"
    return [recipe + ".", ""]


def downstream_section(report: Dict, plots: List[str]) -> List[str]:
    """Two tables against the baseline: the baseline itself given BERTRAM vectors at
    prediction time (`NAME+MODE` systems: BERTRAM's protocol), then the classifiers
    trained with BERTRAM vectors in the loop."""
    systems = report["systems"]
    first = next(iter(systems))
    groups = systems[first]["groups"]
    attached = [name for name in systems if name == first or name.startswith(f"{first}+")]
    trained = [name for name in systems if name not in attached]
    lines = [
        "## Downstream: accuracy on the rarified test set",
        "",
        f"{groups['all']['n']} test instances: correctly classified by the baseline, then the words it relied "
        "on most replaced by rare synonyms or misspellings. Accuracy and macro-F1 in %; Δ against "
        f"`{first}`, with a paired bootstrap and an exact McNemar test on the same instances (both "
        "two-sided; p-values Holm-adjusted over the comparisons of each table).",
        "",
    ]
    if len(attached) > 1 and trained:
        lines += [
            "### The baseline classifier with BERTRAM vectors (BERTRAM's protocol)",
            "",
            "The same trained classifier, its rare words given BERTRAM vectors at prediction time "
            "(`python -m spacy_bertram attach`): it learned to read `w / w` from the slash augmentation, "
            "so the difference is BERTRAM's alone, not that of training another classifier.",
            "",
            *_system_table(report, attached),
            "### Classifiers trained with BERTRAM vectors",
            "",
            "A classifier of its own per system, trained with BERTRAM vectors for rare words "
            "(same recipe and seed); the differences include the noise of training another classifier.",
            "",
            *_system_table(report, [first] + trained),
        ]
    else:
        lines += _system_table(report, list(systems))
    lines += [f"Instances: {groups['misspelling']['n']} with a misspelling, {groups['synonym']['n']} with a synonym.", ""]
    buckets = [b for b in groups if b not in KINDS and groups[b]["n"]]
    if buckets:
        header = ["frequency", "n"] + [f"`{s}`" for s in systems]
        rows = [[b, groups[b]["n"]] + [pct(systems[s]["groups"][b]["accuracy"]) for s in systems] for b in buckets]
        lines += [
            "Accuracy by the frequency of the substituted words (highest per instance, occurrences per billion words):",
            "",
            markdown_table(header, rows),
            "",
        ]
    lines += [f"![{Path(p).stem.replace('_', ' ')}]({p})" for p in plots]
    return lines + [""]


def _system_table(report: Dict, names: List[str]) -> List[str]:
    """One row per system; p-values two-sided and Holm-adjusted over this table's comparisons."""
    systems, tests = report["systems"], report["significance"]
    first = next(iter(systems))
    compared = [name for name in names if f"{name} vs {first}" in tests]
    adjusted = {
        key: dict(zip(compared, holm([tests[f"{name} vs {first}"][key] for name in compared])))
        for key in ("bootstrap_p", "mcnemar_p")
    }
    rows = []
    for name in names:
        g = systems[name]["groups"]
        test = tests.get(f"{name} vs {first}")
        delta = f"{100 * test['accuracy_delta']:+.1f}" if test else ""
        boot = f"{adjusted['bootstrap_p'][name]:.3f}" if test else ""
        mcnemar = f"{adjusted['mcnemar_p'][name]:.3f}" if test else ""
        rows.append([
            f"`{name}` {SYSTEMS.get(name, '')}", pct(g["all"]["accuracy"]), delta, boot, mcnemar,
            pct(g["misspelling"]["accuracy"]), pct(g["synonym"]["accuracy"]), pct(g["all"]["macro_f1"]),
        ])
    header = ["system", "accuracy", "Δ", "bootstrap p (Holm)", "McNemar p (Holm)", "misspelled (acc)",
              "synonym (acc)", "macro-F1"]
    lines = [markdown_table(header, rows)]
    return lines + [""]


def crw_section(crw: Dict) -> List[str]:
    lines = [
        "## CRW-dev: rare-word similarity",
        "",
        "Spearman's ρ between gold similarity and the cosine of input-space vectors, for 550 pairs whose "
        "second word is rare; the rare word's vector comes from each system, its partner's from the "
        "encoder's wordpiece embeddings (mean of pieces).",
        "",
        markdown_table(
            ["system", "Spearman ρ", "pairs", "missing"],
            [[label, f"{r['spearman']:.3f}", r["pairs"], r["missing"]] for label, r in crw.items()],
        ),
    ]
    return lines + [""]


def mimicking_section(log_path: Path) -> List[str]:
    records = [json.loads(line) for line in log_path.read_text(encoding="utf8").splitlines() if line.strip()]
    stages = [r for r in records if "held_out_cosine" in r]
    baselines = {r["of"]: r for r in records if r.get("stage") == "misspellings"}
    lines = [
        "## Mimicking: held-out frequent words and misspellings",
        "",
        "Mean cosine between BERTRAM's vector and the encoder's own input embedding (the training "
        "target) for frequent words held out of training, after each stage. Then, for misspellings "
        "(no contexts: the form part alone), the cosine to the correct word's embedding: one seeded "
        "misspelling of each held-out word, and new misspellings of known words (training words; "
        "the form stage saw other misspellings of them, and of every word the encoder's vocabulary "
        "keeps whole).",
        "",
    ]
    if baselines:
        described = ", ".join(
            f"{baselines[k]['wordpiece_mean_cosine']:.3f} for the {baselines[k]['misspellings']} {label}"
            for k, label in (("held_out", "held-out misspellings"), ("known", "misspellings of known words"))
            if k in baselines
        )
        lines += [
            f"The plain encoder reads a misspelling as its wordpieces; their mean has cosine {described}.",
            "",
        ]
    rows = [
        [r["stage"], r["mode"], r["train_words"], r["held_out_words"]]
        + [_cosine(c) for c in (r["held_out_cosine"], r.get("held_out_misspelled_cosine"), r.get("known_misspelled_cosine"))]
        + [f"{r['seconds']:.0f}"]
        for r in stages
    ]
    header = ["stage", "mode", "training words", "held-out words", "cosine", "misspelled held-out",
              "misspelled known", "seconds"]
    lines.append(markdown_table(header, rows, align="llrrrrrr"))
    return lines + [""]


def _cosine(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.3f}"


def main(
    downstream: Path = typer.Argument(..., help="report.json of `evaluate downstream`", exists=True),
    crw: Path = typer.Argument(..., help="JSON of `evaluate crw`", exists=True),
    training_log: Path = typer.Argument(..., help="training_log.jsonl of BERTRAM's training", exists=True),
    output_dir: Path = typer.Argument(..., help="Folder for report.md and its plots"),
    preset: str = typer.Option(..., "--preset"),
    task: str = typer.Option(..., "--task"),
    mode: str = typer.Option(..., "--mode"),
    train_config: Optional[Path] = typer.Option(
        None, "--train-config", help="config.cfg of a trained classifier: its augmentation goes in the report", exists=True
    ),
) -> None:
    """Write OUTPUT_DIR/report.md and copy the downstream plots beside it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    plots = [name for name in PLOTS if (downstream.parent / name).exists()]
    for name in plots:
        shutil.copyfile(downstream.parent / name, output_dir / name)
    lines = [
        f"# BERTRAM on a rarified {task} test set",
        "",
        f"Preset `{preset}`, BERTRAM mode `{mode}`. Written by `project/scripts/write_report.py` from the "
        "outputs of `spacy project run all`; the `tiny` and `demo` presets train far less than the paper, "
        "so their numbers show the workflow, not BERTRAM's full effect.",
        "",
    ]
    if train_config is not None:
        lines += training_recipe(train_config)
    lines += downstream_section(json.loads(downstream.read_text(encoding="utf8")), plots)
    lines += crw_section(json.loads(crw.read_text(encoding="utf8")))
    lines += mimicking_section(training_log)
    (output_dir / "report.md").write_text("\n".join(lines), encoding="utf8")
    typer.echo(f"wrote {output_dir / 'report.md'}")


if __name__ == "__main__":
    typer.run(main)
