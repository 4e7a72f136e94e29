"""`evaluate crw`, `evaluate nonce`, `evaluate targets` and `evaluate downstream`: the
intrinsic and downstream evaluations.

    python -m spacy_bertram evaluate crw --model models/bertram-add --model models/stage1
    python -m spacy_bertram evaluate nonce corpus.sqlite --words models/bertram-add/words.json \\
        --model models/bertram-add --model models/bertram-add/stage1-context -o nonce.json
    python -m spacy_bertram evaluate targets corpus.sqlite --run models/bertram-add --steps 30,300
    python -m spacy_bertram evaluate downstream rarified.spacy --replacements rarified.jsonl \\
        baseline=training/baseline/model-best bertram=training/bertram/model-best -o report/
    python -m spacy_bertram evaluate downstream test.spacy baseline=... bertram=... -o clean/

Without `--replacements` the test set is clean text: every instance is in `all` only.
"""

import json
from pathlib import Path
from typing import List, Optional

import typer

from . import app

WORDFREQ_FREQUENCY = "bertram.WordfreqFrequency.v1"

evaluate_app = typer.Typer(help="Evaluate word vectors (CRW) and pipelines on rarified data.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


def load_pipeline(path: Path, rare_zipf: Optional[float] = None):
    """spacy.load with this package's factories and architectures registered first.

    rare_zipf: the `bertram` component's wordfreq rarity threshold for this run (so a
    set rarified at another threshold has its substitutes flagged), without retraining.
    """
    import spacy

    from .. import augment, pipeline_component  # noqa: F401  (registry side effects)

    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path} is not a pipeline folder: pass a trained one such as training/model-best.")
    if rare_zipf is None:
        return spacy.load(path)
    components = spacy.util.load_config(Path(path) / "config.cfg")["components"]
    if "bertram" not in components:  # nothing flags rare words: the threshold changes nothing
        return spacy.load(path)
    if components["bertram"]["frequency"].get("@misc") != WORDFREQ_FREQUENCY:
        raise ValueError(
            f"{path}: --rare-zipf sets a wordfreq threshold, but this pipeline's bertram component "
            f"counts with {components['bertram']['frequency'].get('@misc')!r}; leave --rare-zipf out for it."
        )
    frequency = {"zipf_threshold": rare_zipf, "count_threshold": None}
    return spacy.load(path, config={"components": {"bertram": {"frequency": frequency}}})


@evaluate_app.command("crw")
def crw_cli(
    data: Path = typer.Option(..., "--data", help="CRW-dev: the .tar.gz, or the folder, with CRW-550.txt and context/"),
    models: List[Path] = typer.Option([], "--model", "-m", help="BERTRAM model folder (repeatable)"),
    encoder: Optional[str] = typer.Option(
        None, "--encoder", help="Encoder for mean-of-wordpieces when no model is given (default: MiniLM)"
    ),
    max_contexts: Optional[int] = typer.Option(
        None, "--max-contexts", help="Contexts per rare word (default: each model's config)"
    ),
    batch_size: int = typer.Option(64, "--batch-size"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the results as JSON here"),
) -> None:
    """Spearman's rho on CRW for mean-of-wordpieces, form-only, context-only and BERTRAM models."""
    from ..evaluation import evaluate_crw, read_crw_archive, similarity_table

    results = evaluate_crw(read_crw_archive(data), models, encoder, max_contexts, batch_size)
    typer.echo(similarity_table(results))
    if output is not None:
        output.write_text(json.dumps({k: vars(v) for k, v in results.items()}, indent=2), encoding="utf8")


@evaluate_app.command("nonce")
def nonce_cli(
    store: Path = typer.Argument(..., help="Context store (.sqlite) the BERTRAM run was trained from"),
    words: Path = typer.Option(..., "--words", help="words.json of the BERTRAM run (its training and held-out words)"),
    models: List[Path] = typer.Option(..., "--model", "-m", help="BERTRAM model folder (repeatable; one encoder)"),
    contexts: Optional[str] = typer.Option(
        None, "--contexts", help="Numbers of contexts N, comma-separated (default: 1,2,4,8,16,32)"
    ),
    max_words: int = typer.Option(100, "--max-words", help="Held-out words scored (a seeded sample)"),
    ridge_words: int = typer.Option(420, "--ridge-words", help="Training words the ridge baseline is fitted on"),
    ridge_contexts: int = typer.Option(16, "--ridge-contexts", help="Contexts per ridge training word"),
    seed: int = typer.Option(0, "--seed", help="Seed of the word samples and the nonces"),
    batch_size: int = typer.Option(64, "--batch-size"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the results as JSON here"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the plot (PNG) here"),
) -> None:
    """Nonce test: held-out words replaced by a nonce in N contexts; MRR and cosine of each system's vector."""
    from ..contexts.store import ContextStore
    from ..evaluation import NONCE_CONTEXTS, evaluate_nonce, nonce_table, nonce_words, plot_nonce, read_run_words
    from ..model import BertramModel

    try:
        counts = list(NONCE_CONTEXTS) if contexts is None else [int(n) for n in contexts.split(",")]
    except ValueError:
        raise typer.BadParameter(f"--contexts must be comma-separated numbers, got {contexts!r}.") from None
    run_words = read_run_words(words)
    if not store.is_file():
        raise FileNotFoundError(f"Context store not found: {store}; pass the .sqlite file `index` wrote.")
    loaded = [(path.name, BertramModel.from_pretrained(path)) for path in models]
    with ContextStore(store, read_only=True) as opened:
        held_out, fit_words = nonce_words(
            opened, run_words, loaded[0][1].tokenizer, max_words=max_words, ridge_words=ridge_words,
            ridge_contexts=ridge_contexts, counts=counts, seed=seed,
        )
    result = evaluate_nonce(loaded, held_out, fit_words, counts=counts, seed=seed, batch_size=batch_size)
    typer.echo(nonce_table(result))
    if output is not None:
        output.write_text(json.dumps(result.to_dict(), indent=2), encoding="utf8")
    if plot is not None:
        plot_nonce(result, plot)


@evaluate_app.command("targets")
def targets_cli(
    store: Path = typer.Argument(..., help="Context store (.sqlite) the BERTRAM run was trained from"),
    run: Path = typer.Option(..., "--run", help="Output folder of `train` (its words, OTA settings, targets)"),
    models: List[Path] = typer.Option([], "--model", "-m", help="Further model folders, e.g. its stages (repeatable)"),
    steps: Optional[str] = typer.Option(
        None, "--steps", help="OTA step counts, comma-separated (default: the run's and ten times it)"
    ),
    contexts: int = typer.Option(8, "--contexts", help="Contexts each system reads per word"),
    batch_size: int = typer.Option(64, "--batch-size"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the results as JSON here"),
) -> None:
    """What the mimicking score rewards: a shared offset and OTA steps, on the run's validation split words."""
    from ..contexts.store import ContextStore
    from ..evaluation.nonce import read_run_words
    from ..evaluation.split_targets import evaluate_split_targets, read_run_ota, split_target_tables
    from ..model import BertramModel
    from ..training.targets import cached_targets
    from ..training.trainer import CACHE_DIR, WORDS_NAME

    ota, kept = read_run_ota(run)
    try:
        counts = [ota.steps, 10 * ota.steps] if steps is None else [int(n) for n in steps.split(",")]
    except ValueError:
        raise typer.BadParameter(f"--steps must be comma-separated numbers, got {steps!r}.") from None
    if contexts < 1:
        raise typer.BadParameter(f"--contexts must be at least 1, got {contexts}.")
    run_words = read_run_words(run / WORDS_NAME)
    if not store.is_file():
        raise FileNotFoundError(f"Context store not found: {store}; pass the .sqlite file `index` wrote.")
    loaded = [(path.name, BertramModel.from_pretrained(path)) for path in [run, *models]]
    limit = max(contexts, kept)  # OTA samples its templates from the contexts the run kept
    with ContextStore(store, read_only=True) as opened:
        validation = opened.contexts_many(run_words.get("validation", []), limit=limit)
        train = opened.contexts_many(run_words["train"], limit=limit)
    targets = cached_targets(run / CACHE_DIR, loaded[0][1].encoder, ota)
    result = evaluate_split_targets(
        loaded, validation, train, ota=ota, steps=counts, contexts=contexts, targets=targets, batch_size=batch_size
    )
    typer.echo(split_target_tables(result))
    if output is not None:
        output.write_text(json.dumps(result.to_dict(), indent=2), encoding="utf8")


@evaluate_app.command("downstream")
def downstream_cli(
    test_path: Path = typer.Argument(..., help="Labelled test set (.spacy): rarified, or clean text"),
    systems: List[str] = typer.Argument(..., help="NAME=PIPELINE_DIR for each system; the first is the reference"),
    replacements_path: Optional[Path] = typer.Option(
        None, "--replacements", "-r", help="The replacement JSONL of a rarified set (none: clean text)"
    ),
    rare_zipf: Optional[float] = typer.Option(
        None, "--rare-zipf", help="Flag words below this wordfreq Zipf value as rare in every pipeline "
        "(default: each pipeline's own threshold); for a set rarified at another threshold"
    ),
    output_dir: Path = typer.Option(
        Path("evaluation"), "--output-dir", "-o", help="Folder for report.md/json and plots"
    ),
    edges: str = typer.Option(
        "0,1,2,4,8,16,32,64,128", "--frequency-edges", help="Frequency bucket edges (counts per billion words)"
    ),
    batch_size: int = typer.Option(64, "--batch-size"),
    seed: int = typer.Option(0, "--seed", help="Seed of the paired bootstrap"),
) -> None:
    """Accuracy/F1 overall, by substitution kind and frequency, with significance tests."""
    from spacy.tokens import DocBin

    from ..evaluation import accuracy_table, evaluate_downstream, write_report
    from ..rarify import read_replacements

    pairs = [s.split("=", 1) for s in systems]
    if any(len(p) != 2 or not p[0] for p in pairs):
        raise typer.BadParameter(f"Give systems as NAME=PIPELINE_DIR, got {systems}.")
    try:
        bucket_edges = [float(e) for e in edges.split(",")]
    except ValueError:
        raise typer.BadParameter(f"--frequency-edges must be comma-separated numbers, got {edges!r}.") from None
    if not test_path.is_file():
        raise FileNotFoundError(
            f"{test_path} does not exist; pass a labelled `.spacy` test set (a rarified one: from `rarify apply`)."
        )
    replacements = read_replacements(replacements_path) if replacements_path is not None else {}
    reports = {}
    for name, path in pairs:
        nlp = load_pipeline(Path(path), rare_zipf)
        docs = list(DocBin().from_disk(test_path).get_docs(nlp.vocab))
        reports[name] = evaluate_downstream(nlp, docs, replacements, bucket_edges, batch_size)
    paths = write_report(reports, output_dir, seed)
    typer.echo(accuracy_table(reports))
    typer.echo("\n".join(f"wrote {p}" for p in paths.values()))
