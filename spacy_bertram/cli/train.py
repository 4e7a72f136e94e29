"""`python -m spacy_bertram train WORDS --output DIR`: train a BERTRAM model.

Besides the inputs, every option is a `TrainingConfig` setting (`--context-epochs` is
`TrainingConfig.context.epochs`, `--mode` is `TrainingConfig.model.mode`), derived from
its field with the field's default and help.
"""
from pathlib import Path

import typer

from ..training.config import TrainingConfig
from . import app
from .config_options import ConfigOptions

TRAINING_OPTIONS = ConfigOptions(TrainingConfig(), flat=("model",))


@app.command("train")
@TRAINING_OPTIONS
def train_command(
    words: Path = typer.Argument(..., help="Context store (.sqlite) or `word<TAB>context...` file."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the model, checkpoints and log."),
    encoder: str = typer.Option("default", help="Local encoder folder; 'default' is the offline MiniLM."),
    device: str = typer.Option(
        "auto", help="GPU id as for `spacy train --gpu-id` (-1: CPU), or cpu, cuda:1; auto: the GPU when there is one."
    ),
    progress: bool = typer.Option(True, help="Show progress bars."),
    restart: bool = typer.Option(
        False, help="If OUTPUT holds a run with other settings, remove its files (not the target cache) and start over."
    ),
    **settings,
) -> None:
    """Train BERTRAM (targets, then context, form and combined stages); re-runs resume."""
    from ..training import train_bertram

    config = TRAINING_OPTIONS.build(settings)
    folder = train_bertram(encoder, words, output, config, device=device, show_progress=progress, restart=restart)
    typer.echo(f"Saved the BERTRAM model to {folder} (log: {folder / 'training_log.jsonl'}).")
