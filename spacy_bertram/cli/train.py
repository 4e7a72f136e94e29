"""`python -m spacy_bertram train WORDS --output DIR`: train a BERTRAM model."""
from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("train")
def train_command(
    words: Path = typer.Argument(..., help="Context store (.sqlite) or `word<TAB>context...` file."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the model, checkpoints and log."),
    encoder: str = typer.Option("default", help="Local encoder folder; 'default' is the offline MiniLM."),
    mode: str = typer.Option("add", help="add, replace, shallow, form or context."),
    seed: int = typer.Option(0),
    min_count: int = typer.Option(100, help="Occurrences a store word needs to be a training word."),
    max_words: Optional[int] = typer.Option(None, help="Random sample of this many words."),
    max_contexts: int = typer.Option(32, help="Contexts kept per word."),
    held_out: float = typer.Option(0.05, help="Held-out words: a fraction below 1, else a count."),
    validation: float = typer.Option(
        0.1, help="Validation words for early stopping (a fraction below 1, else a count; 0: off)."
    ),
    context_epochs: int = typer.Option(5),
    context_lr: float = typer.Option(1e-4),
    form_epochs: int = typer.Option(20),
    form_lr: float = typer.Option(0.01),
    combined_epochs: int = typer.Option(3),
    combined_lr: float = typer.Option(1e-4),
    ota_steps: int = typer.Option(100, help="Optimiser steps of the one-token approximation."),
    wordpiece_residual: bool = typer.Option(
        True,
        help="Output the mean of the word's wordpiece embeddings plus a learned correction.",
    ),
    wordpiece_map: bool = typer.Option(
        False,
        help="With the residual: correct a split word's wordpiece mean by a fitted linear map (closer to the targets, worse on CRW-dev).",
    ),
    keep_whole_words: bool = typer.Option(
        True,
        help="With the residual: words the tokenizer keeps whole keep their own embedding row.",
    ),
    context_weight: float = typer.Option(
        0.25,
        help="Blend weight of the context part, which then predicts whole vectors (fitted on validation words when there are any).",
    ),
    context_blend: bool = typer.Option(
        True,
        help="Blend a whole-vector context part into the form vector; --no-context-blend makes it a correction to the base.",
    ),
    form_misspellings: int = typer.Option(
        8,
        help="Seeded misspellings of each training word that the form stage learns to map to the word's vector (0: none).",
    ),
    device: str = typer.Option("auto", help="GPU id as for `spacy train --gpu-id` (-1: CPU), or cpu, cuda:1; auto: the GPU when there is one."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Train BERTRAM (targets, then context, form and combined stages); re-runs resume."""
    from ..training import OtaConfig, StageConfig, TrainingConfig, train_bertram

    defaults = TrainingConfig()
    config = TrainingConfig(
        mode=mode,
        seed=seed,
        min_count=min_count,
        max_words=max_words,
        max_contexts=max_contexts,
        held_out=held_out,
        validation=validation,
        context=StageConfig(context_epochs, context_lr, defaults.context.batch_size),
        form=StageConfig(form_epochs, form_lr, defaults.form.batch_size),
        combined=StageConfig(combined_epochs, combined_lr, defaults.combined.batch_size),
        ota=OtaConfig(steps=ota_steps),
        min_contexts_per_step=min(defaults.min_contexts_per_step, max_contexts),
        wordpiece_residual=wordpiece_residual,
        wordpiece_map=wordpiece_map,
        keep_whole_words=keep_whole_words,
        context_weight=context_weight if context_blend else None,
        form_misspellings=form_misspellings,
    )
    folder = train_bertram(encoder, words, output, config, device=device, show_progress=progress)
    typer.echo(f"Saved the BERTRAM model to {folder} (log: {folder / 'training_log.jsonl'}).")
