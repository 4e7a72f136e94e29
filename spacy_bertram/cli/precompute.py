"""`python -m spacy_bertram precompute`: a vector table for the rare words of a store.

    python -m spacy_bertram precompute --store corpus/brown.sqlite \\
        --model training/bertram-add --out corpus/brown-vectors
"""
import json
from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("precompute")
def precompute_command(
    store: Path = typer.Option(..., "--store", "-s", help="Context store whose rare words get vectors."),
    model: Path = typer.Option(..., "--model", "-m", help="BERTRAM model folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Table folder to create, or to resume."),
    config: Optional[Path] = typer.Option(
        None, "--config", "-c",
        help="Pipeline config (or folder) whose bertram settings decide rarity and max_contexts.",
    ),
    max_contexts: Optional[int] = typer.Option(None, "--max-contexts", help="Contexts per word (the component's: 32)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Contexts per forward pass (64)."),
    device: Optional[str] = typer.Option(
        None, "--device", help='Torch device (the component\'s "auto": the GPU when there is one).'
    ),
    chunk_words: int = typer.Option(4096, "--chunk-words", help="Words per written chunk (what a re-run may redo)."),
) -> None:
    """Infer a vector for every word of STORE that the bertram component flags rare.

    The pipeline's component reads the table with `vectors_path` and then calls
    the model only for words outside it (or whose contexts take in-domain text).
    A re-run with the same model, store and max_contexts continues where one stopped.
    """
    from ..precompute import bertram_component, precompute_vectors

    settings = {"max_contexts": max_contexts, "batch_size": batch_size, "device": device}
    component = bertram_component(model, store, config, **{k: v for k, v in settings.items() if v is not None})
    typer.echo(json.dumps(precompute_vectors(component, out, chunk_words=chunk_words), indent=2))
