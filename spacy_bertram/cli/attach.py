"""`python -m spacy_bertram attach`: give a trained pipeline BERTRAM vectors, no retraining.

    python -m spacy_bertram attach training/plain/model-best training/plain+slash \\
        --model training/bertram-add --store corpus/brown.sqlite --mode slash
"""

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("attach")
def attach_command(
    pipeline: Path = typer.Argument(..., help="Trained pipeline folder (a bertram component without a model)"),
    output: Path = typer.Argument(..., help="Folder to save the pipeline with BERTRAM in"),
    model: Path = typer.Option(..., "--model", "-m", help="BERTRAM model folder"),
    store: Optional[Path] = typer.Option(None, "--store", "-s", help="Context store (SQLite) for rare words"),
    mode: str = typer.Option("slash", "--mode", help="slash (the paper's protocol) or replace"),
    in_domain: bool = typer.Option(False, "--in-domain", help="Also take contexts from the texts the pipeline sees"),
    max_contexts: Optional[int] = typer.Option(
        None, "--max-contexts", help="Contexts per rare word (default: the pipeline's)"
    ),
) -> None:
    """Save PIPELINE with BERTRAM vectors for its rare words at prediction time.

    A classifier trained with the slash augmentation reads `w / vector` without
    having seen BERTRAM vectors in training: BERTRAM's downstream protocol.
    """
    from ..attach import attach_bertram

    nlp = attach_bertram(pipeline, model, store=store, mode=mode, in_domain=in_domain, max_contexts=max_contexts)
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    typer.echo(f"saved {pipeline} with BERTRAM ({mode}{', in-domain' if in_domain else ''}) to {output}")
