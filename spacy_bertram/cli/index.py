"""`python -m spacy_bertram index`: count a corpus and sample its contexts into a store."""
import json
from pathlib import Path
from typing import List, Optional

import typer

from ..contexts.indexer import DEFAULT_BATCH_SIZE, ENGINES, FLUSH_PAIRS, index_corpus
from ..contexts.readers import FORMATS
from . import app


@app.command("index")
def index_command(
    corpus: List[Path] = typer.Argument(..., help="Text files, folders, zip archives, JSONL or .spacy files."),
    store: Path = typer.Option(..., "--store", "-s", help="Context store file to create or extend."),
    format: str = typer.Option("auto", "--format", "-f", help=f"Corpus format: {', '.join(FORMATS)}."),
    members: Optional[List[str]] = typer.Option(
        None, "--members", help="Glob that zip members must match (repeatable)."
    ),
    max_contexts: Optional[int] = typer.Option(
        None, "--max-contexts", help="Contexts kept per word (new stores; 256)."
    ),
    seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed (new stores; 0)."),
    engine: str = typer.Option("local", "--engine", help=f"Where to run: {', '.join(ENGINES)}."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (engine dask)."),
    partitions: Optional[int] = typer.Option(
        None, "--partitions", help="Dask partitions (default 4 per worker thread)."
    ),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", help="Sentences tokenized per batch."),
    flush_pairs: int = typer.Option(
        FLUSH_PAIRS, "--flush-pairs", help="Sampled pairs held in memory before a write (local engine)."
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Forked processes of the local engine (Linux; default: one per usable CPU; 1: none)."
    ),
) -> None:
    """Count every word of a corpus and sample its contexts into a context store.

    Re-running skips sources the store already holds (by content digest); several
    runs may index into one store at once. An edited source is refused (index into
    a new store); the store's own files and binary files are skipped.
    """
    summary = index_corpus(
        corpus,
        store,
        format=format,
        members=members or None,
        max_contexts_per_word=max_contexts,
        seed=seed,
        batch_size=batch_size,
        engine=engine,
        scheduler=scheduler,
        n_partitions=partitions,
        flush_pairs=flush_pairs,
        workers=workers,
    )
    typer.echo(json.dumps(summary, indent=2))
