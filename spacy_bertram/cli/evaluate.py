"""`evaluate crw` and `evaluate downstream`: the intrinsic and downstream evaluations.

    python -m spacy_bertram evaluate crw --model models/bertram-add --model models/stage1
    python -m spacy_bertram evaluate downstream rarified.spacy rarified.jsonl \\
        baseline=training/baseline/model-best bertram=training/bertram/model-best -o report/
"""

import json
from pathlib import Path
from typing import List, Optional

import typer

from . import app

evaluate_app = typer.Typer(help="Evaluate word vectors (CRW) and pipelines on rarified data.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


def load_pipeline(path: Path):
    """spacy.load with this package's factories and architectures registered first."""
    import spacy

    from .. import augment, pipeline_component  # noqa: F401  (registry side effects)

    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path} is not a pipeline folder: pass a trained one such as training/model-best.")
    return spacy.load(path)


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


@evaluate_app.command("downstream")
def downstream_cli(
    test_path: Path = typer.Argument(..., help="Rarified test set (.spacy)"),
    replacements_path: Path = typer.Argument(..., help="Its replacement JSONL"),
    systems: List[str] = typer.Argument(..., help="NAME=PIPELINE_DIR for each system; the first is the reference"),
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
        raise FileNotFoundError(f"{test_path} does not exist; pass the `.spacy` file from `rarify apply`.")
    replacements = read_replacements(replacements_path)
    reports = {}
    for name, path in pairs:
        nlp = load_pipeline(Path(path))
        docs = list(DocBin().from_disk(test_path).get_docs(nlp.vocab))
        reports[name] = evaluate_downstream(nlp, docs, replacements, bucket_edges, batch_size)
    paths = write_report(reports, output_dir, seed)
    typer.echo(accuracy_table(reports))
    typer.echo("\n".join(f"wrote {p}" for p in paths.values()))
