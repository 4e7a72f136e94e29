"""Command-line interface: `python -m spacy_bertram COMMAND` (or `spacy-bertram COMMAND`).

Each command lives in its own module and registers itself on `app` when imported.
"""
import importlib

import typer

app = typer.Typer(
    name="spacy-bertram",
    help="Index corpora, train BERTRAM, rarify datasets and evaluate pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ("rarify", "evaluate", "train", "index", "attach")


def load_commands() -> typer.Typer:
    """The app with every command registered on it."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return app


def main() -> None:
    """Entry point of the console script and of `python -m spacy_bertram`."""
    load_commands()()
