"""Write the project's report: one Markdown file with the tables, and the plots beside it.

Reads what the evaluation steps wrote: the downstream report (accuracy per system and
group, per-instance correctness, significance tests against the first system), the
CRW-dev results, the nonce test and BERTRAM's training log (held-out mimicking cosine
per stage, split and whole words apart, beside the mean of wordpieces).
"""
import json
import math
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import typer
from spacy.util import load_config

from spacy_bertram.evaluation import NonceResult, format_p, holm, markdown_table, nonce_table

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
# The paper's Table 3 names for the instance groups.
COLUMNS = {"all": "All", "misspelling": "Msp", "synonym": "WN"}
PLOTS = ("accuracy_by_kind.png", "accuracy_by_frequency.png")
MIX = (
    "the words it relied on most replaced by rare synonyms (WordNet) or, on a seeded 10% of each "
    "sentence's words, real misspellings (codespell's list)"
)
SYNONYMS = (
    "the words it relied on most replaced by rare synonyms only (WordNet; rare below Zipf {zipf}, "
    "the paper's MNLI-1000 analogue); every pipeline's `bertram` component flags words below Zipf "
    "{zipf} for this set (`evaluate downstream --rare-zipf`, no retraining)"
)


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


def downstream_section(
    report: Dict, plots: List[str], title: str = "the rarified test set", what: str = MIX
) -> List[str]:
    """Two tables against the baseline: the baseline itself given BERTRAM vectors at
    prediction time (`NAME+MODE` systems: BERTRAM's protocol), then the classifiers
    trained with BERTRAM vectors in the loop. `what` says how the set was rarified."""
    systems = report["systems"]
    first = next(iter(systems))
    groups = systems[first]["groups"]
    attached = [name for name in systems if name == first or name.startswith(f"{first}+")]
    trained = [name for name in systems if name not in attached]
    lines = [
        f"## Downstream: accuracy on {title}",
        "",
        f"{groups['all']['n']} test instances: correctly classified by the baseline, then {what}. "
        "Accuracy in % on all instances (All), those with a misspelling (Msp) and those with a "
        f"synonym (WN), as in the paper's Table 3, and macro-F1; Δ against `{first}` on All, with a "
        "paired bootstrap and an exact McNemar test on the same instances, and on Msp and WN, in "
        "brackets, Δ and the McNemar p on that group's instances (all two-sided; p-values "
        "Holm-adjusted over the comparisons of each table and group).",
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


def clean_section(report: Dict) -> List[str]:
    """Every system on the task's clean, unrarified test set: what BERTRAM costs on ordinary text."""
    systems = report["systems"]
    first = next(iter(systems))
    return [
        "## Clean text: accuracy on the unrarified test set",
        "",
        f"The task's own test set ({systems[first]['groups']['all']['n']} instances, never used to choose "
        "a checkpoint or the packaged pipeline), as written: a user adds BERTRAM only if it costs no "
        f"accuracy on ordinary text. Δ against `{first}`, two-sided tests Holm-adjusted over this table.",
        "",
        *_system_table(report, list(systems), kinds=("all",)),
    ]


def _system_table(report: Dict, names: List[str], kinds=KINDS) -> List[str]:
    """One row per system: accuracy on all instances with Δ and both p-values, then on
    each other group of `kinds` with its Δ and McNemar p (each group's n in the header).
    Tests are two-sided, Holm-adjusted over this table's comparisons within a group."""
    systems, tests = report["systems"], report["significance"]
    first = next(iter(systems))
    adjusted = {}  # (group, test) -> {system: Holm-adjusted p}
    for group in kinds:
        compared = [name for name in names if f"{name} vs {first}" in tests.get(group, {})]
        for key in ("bootstrap_p", "mcnemar_p"):
            values = holm([tests[group][f"{name} vs {first}"][key] for name in compared])
            adjusted[group, key] = dict(zip(compared, values))

    def p_cell(group: str, key: str, name: str) -> str:
        value = adjusted.get((group, key), {}).get(name)
        return "" if value is None else format_p(value)

    def delta(group: str, name: str) -> Optional[float]:
        test = tests.get(group, {}).get(f"{name} vs {first}")
        return None if test is None else 100 * test["accuracy_delta"]

    rows = []
    for name in names:
        g = systems[name]["groups"]
        d = delta("all", name)
        row = [f"`{name}` {SYSTEMS.get(name, '')}", pct(g["all"]["accuracy"]), "" if d is None else f"{d:+.1f}",
               p_cell("all", "bootstrap_p", name), p_cell("all", "mcnemar_p", name)]
        for kind in kinds[1:]:
            cell = pct(g[kind]["accuracy"] if g[kind]["n"] else None)
            d = delta(kind, name)
            if d is not None:
                cell += f" ({d:+.1f}; p {p_cell(kind, 'mcnemar_p', name)})"
            row.append(cell)
        rows.append(row + [pct(g["all"]["macro_f1"])])
    sizes = systems[first]["groups"]
    columns = [f"{COLUMNS[kind]} (n={sizes[kind]['n']})" for kind in kinds]
    header = ["system", columns[0], "Δ", "bootstrap p (Holm)", "McNemar p (Holm)", *columns[1:], "macro-F1"]
    return [markdown_table(header, rows), ""]


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
    mean = next((r for r in reversed(records) if r.get("stage") == "held_out"), None)
    if mean is not None:
        lines += [
            f"Of the {mean['held_out_words']} held-out words, the tokenizer splits {mean['held_out_split_words']} "
            f"(their target is an OTA vector) and keeps {mean['held_out_whole_words']} whole (their target is "
            "their own embedding row, which the mean of wordpieces and a model that keeps whole words give "
            "exactly); the split words are the ones that show what BERTRAM adds. For them the table also "
            "gives the mean reciprocal rank of the target among the encoder's whole-word rows (the ranking "
            "objective's measure), and p: a two-sided paired bootstrap over the split words against the "
            "mean of wordpieces.",
            "",
        ]
    rows = [
        [r["stage"], r["mode"], r["train_words"], r["held_out_words"], _cosine(r.get("held_out_cosine"))]
        + [_with_p(r.get(k), r.get(f"{k}_p")) for k in ("held_out_split_cosine", "held_out_split_mrr")]
        + [_cosine(r.get(k)) for k in ("held_out_whole_cosine", "held_out_misspelled_cosine",
                                        "known_misspelled_cosine")]
        + [f"{r['seconds']:.0f}"]
        for r in stages
    ]
    if mean is not None:
        rows.insert(0, ["mean of wordpieces", "–", "–", mean["held_out_words"]] + [
            _cosine(v) for v in (mean["wordpiece_mean_cosine"], mean.get("held_out_split_cosine"),
                                 mean.get("held_out_split_mrr"), mean.get("held_out_whole_cosine"),
                                 baselines.get("held_out", {}).get("wordpiece_mean_cosine"),
                                 baselines.get("known", {}).get("wordpiece_mean_cosine"))
        ] + ["–"])
    header = ["stage", "mode", "training words", "held-out words", "cosine", "split held-out",
              "split held-out MRR", "whole held-out", "misspelled held-out", "misspelled known", "seconds"]
    lines.append(markdown_table(header, rows, align="llrrrrrrrrr"))
    return lines + [""]


def nonce_section(nonce: Dict, plot: Optional[str]) -> List[str]:
    """The nonce test's table (MRR and cosine per number of contexts) and its plot."""
    result = NonceResult.from_dict(nonce)
    lines = [
        "## Nonce test: what the contexts alone say",
        "",
        f"{result.words} frequent words held out of BERTRAM's training (never trained on, never used to "
        "choose epochs or weights), each replaced in N of its corpus contexts by a nonce (random letters, "
        "so the form says nothing); each system infers the nonce's vector from those N contexts. "
        f"MRR: mean reciprocal rank of the word's own input embedding among the encoder's {result.rows} "
        "whole-word rows (no `##` pieces, no special tokens); cosine: mean cosine to it. The ridge row maps "
        "the mean encoder state at the mask to the input embedding, fitted on "
        f"{result.ridge_words} frequent whole words of the store that are not held out (ridge {result.ridge:g}, "
        "chosen by cross-validation on them).",
        "",
        nonce_table(result),
        "",
    ]
    return lines + ([f"![nonce test]({plot})", ""] if plot else [])


def copy_plots(report_path: Path, output_dir: Path, prefix: str) -> List[str]:
    """Copy the plots written beside a downstream report.json; their new names."""
    names = [name for name in PLOTS if (report_path.parent / name).exists()]
    for name in names:
        shutil.copyfile(report_path.parent / name, output_dir / f"{prefix}{name}")
    return [f"{prefix}{name}" for name in names]


def _cosine(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.3f}"


def _with_p(value: Optional[float], p_value: Optional[float]) -> str:
    """A score, with its p-value against the baseline when there is one."""
    return _cosine(value) if p_value is None else f"{_cosine(value)} (p {format_p(p_value)})"


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
    synonyms: Optional[Path] = typer.Option(
        None, "--synonyms", help="report.json of `evaluate downstream` on the synonym-only set", exists=True
    ),
    synonyms_zipf: float = typer.Option(3.0, "--synonyms-zipf", help="The synonym-only set's rarity threshold"),
    clean: Optional[Path] = typer.Option(
        None, "--clean", help="report.json of `evaluate downstream` on the clean test set", exists=True
    ),
    nonce: Optional[Path] = typer.Option(
        None, "--nonce", help="JSON of `evaluate nonce` (its plot, NAME.png beside it, is copied too)", exists=True
    ),
) -> None:
    """Write OUTPUT_DIR/report.md and copy the downstream plots beside it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# BERTRAM on a rarified {task} test set",
        "",
        f"Preset `{preset}`, BERTRAM mode `{mode}`. Written by `project/scripts/write_report.py` from the "
        "outputs of the project's workflow (`all`, or `downstream` for each seed of the study); the `tiny` "
        "and `demo` presets train far less than the paper, so their numbers show the workflow, not BERTRAM's "
        "full effect.",
        "",
    ]
    if train_config is not None:
        lines += training_recipe(train_config)
    if clean is not None:
        lines += clean_section(json.loads(clean.read_text(encoding="utf8")))
    lines += downstream_section(
        json.loads(downstream.read_text(encoding="utf8")), copy_plots(downstream, output_dir, ""),
        "the rarified test set (the paper's mix)",
    )
    if synonyms is not None:
        lines += downstream_section(
            json.loads(synonyms.read_text(encoding="utf8")), copy_plots(synonyms, output_dir, "synonyms_"),
            "the synonym-only rarified test set", SYNONYMS.format(zipf=f"{synonyms_zipf:g}"),
        )
    lines += crw_section(json.loads(crw.read_text(encoding="utf8")))
    if nonce is not None:
        plot = nonce.with_suffix(".png")
        if plot.is_file():
            shutil.copyfile(plot, output_dir / "nonce.png")
        lines += nonce_section(json.loads(nonce.read_text(encoding="utf8")), "nonce.png" if plot.is_file() else None)
    lines += mimicking_section(training_log)
    (output_dir / "report.md").write_text("\n".join(lines), encoding="utf8")
    typer.echo(f"wrote {output_dir / 'report.md'}")


if __name__ == "__main__":
    typer.run(main)
