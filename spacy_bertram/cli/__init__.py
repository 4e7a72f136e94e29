"""Command-line interface: `python -m spacy_bertram COMMAND` (or `spacy-bertram COMMAND`).

Each command lives in its own module and registers itself on `app` when imported.
Bad input (a `ValueError` or `OSError` from any command, or an `ImportError` for a
missing dependency) is reported as one `error: ...` line on stderr with exit code 1;
`--verbose` (or SPACY_BERTRAM_VERBOSE=1) adds the traceback. `--threads N` (or
SPACY_BERTRAM_THREADS=N) sets torch's intra-op threads for any command. Any other exception,
including an `ImportError` inside this package, is a bug and keeps its traceback.
"""
import importlib
import traceback
from typing import Any, Optional

import click
import typer
from typer.core import TyperGroup

USER_ERRORS = (ValueError, OSError, ImportError)
PACKAGE = __name__.split(".")[0]


class BertramGroup(TyperGroup):
    """The root command group: runs a command and reports its user errors in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise  # click's own handling: output piped into e.g. `head`
        except USER_ERRORS as err:
            if isinstance(err, ImportError) and (err.name or "").split(".")[0] == PACKAGE:
                raise  # a broken install or a bug, not a missing dependency
            if ctx.params.get("verbose"):
                traceback.print_exc()
            message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
            typer.echo(f"error: {message or type(err).__name__}", err=True)
            raise typer.Exit(code=1) from None


app = typer.Typer(
    cls=BertramGroup,
    name="spacy-bertram",
    help="Index corpora, train BERTRAM, rarify datasets and evaluate pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def options(
    verbose: bool = typer.Option(
        False, "--verbose", envvar="SPACY_BERTRAM_VERBOSE",
        help="On an error, print its traceback before the message.",
    ),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, envvar="SPACY_BERTRAM_THREADS",
        help="Torch intra-op threads (default: torch's, one per core). On a loaded machine 1 is often faster.",
    ),
) -> None:
    """Options for every command (`BertramGroup` reads `--verbose`)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


COMMAND_MODULES = ("rarify", "evaluate", "train", "index", "attach", "precompute", "explain")


def load_commands() -> typer.Typer:
    """The app with every command registered on it."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return app


def main() -> None:
    """Entry point of the console script and of `python -m spacy_bertram`."""
    load_commands()()
