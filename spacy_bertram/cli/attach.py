"""`python -m spacy_bertram attach` / `detach`: put BERTRAM on a trained pipeline, or take it off.

    python -m spacy_bertram attach training/plain/model-best training/plain+slash \\
        --model training/bertram-add --store corpus/brown.sqlite --mode slash
    python -m spacy_bertram detach training/plain+slash training/plain-again
"""

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("attach")
def attach_command(
    pipeline: Path = typer.Argument(..., help="Trained spacy-transformers pipeline folder"),
    output: Path = typer.Argument(..., help="Folder to save the pipeline with BERTRAM in"),
    model: Path = typer.Option(..., "--model", "-m", help="BERTRAM model folder"),
    store: Optional[Path] = typer.Option(None, "--store", "-s", help="Context store (SQLite) for rare words"),
    mode: str = typer.Option("slash", "--mode", help="slash (the paper's protocol) or replace"),
    in_domain: bool = typer.Option(False, "--in-domain", help="Also take contexts from the texts the pipeline sees"),
    max_contexts: Optional[int] = typer.Option(
        None, "--max-contexts", help="Contexts per rare word (default: the pipeline's)"
    ),
    zipf_threshold: Optional[float] = typer.Option(
        None, "--zipf-threshold", help="Words below this wordfreq Zipf value are rare (default: the component's)"
    ),
) -> None:
    """Save PIPELINE with BERTRAM vectors for its rare words at prediction time.

    Any spacy-transformers pipeline: a `bertram` component is added before the
    transformer and every trained weight is kept. A classifier trained with the slash
    augmentation reads `w / vector` without having seen BERTRAM vectors in training:
    BERTRAM's downstream protocol.
    """
    from ..attach import attach_bertram

    config = {}
    if zipf_threshold is not None:
        config["frequency"] = {"@misc": "bertram.WordfreqFrequency.v1", "zipf_threshold": zipf_threshold}
    nlp = attach_bertram(
        pipeline, model, store=store, mode=mode, in_domain=in_domain, max_contexts=max_contexts, component_config=config
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    typer.echo(f"saved {pipeline} with BERTRAM ({mode}{', in-domain' if in_domain else ''}) to {output}")


@app.command("detach")
def detach_command(
    pipeline: Path = typer.Argument(..., help="Pipeline folder with BERTRAM attached"),
    output: Path = typer.Argument(..., help="Folder to save the stock pipeline in"),
) -> None:
    """Save PIPELINE without BERTRAM: no bertram component, stock spacy-transformers."""
    from ..attach import detach_bertram

    nlp = detach_bertram(pipeline)
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    typer.echo(f"saved {pipeline} without BERTRAM to {output}")
