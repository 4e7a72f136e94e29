"""`python -m spacy_bertram explain`: what BERTRAM inferred for the rare words of a text.

    python -m spacy_bertram explain "an insouciant reply" --pipeline training/bertram/model-best \\
        --html explain.html
"""
from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("explain")
def explain_command(
    text: str = typer.Argument(..., help="Text to look at"),
    pipeline: Path = typer.Option(..., "--pipeline", "-p", help="Pipeline folder with a bertram component"),
    html: Optional[Path] = typer.Option(None, "--html", help="Also save the text, rare words marked, as HTML here"),
    k: int = typer.Option(5, "--neighbours", "-k", help="Nearest words shown per vector"),
    component: Optional[str] = typer.Option(None, "--component", help="The bertram component (if not the only one)"),
) -> None:
    """For each token flagged rare: how many contexts its vector came from, and the
    encoder's nearest whole words to its wordpiece mean, form vector and BERTRAM vector."""
    import spacy

    from ..explain import explain, explanation_html

    if not pipeline.is_dir():
        raise ValueError(f"explain: no pipeline folder at {pipeline}; pass a folder saved by nlp.to_disk.")
    nlp = spacy.load(pipeline)
    records = explain(nlp, text, k=k, component=component)
    if not records:
        typer.echo("no rare words in the text")
    for record in records:
        if record.own_row:
            typer.echo(f"{record.text} (token {record.i}): the encoder has a row for {record.word!r}; no vector")
        else:
            typer.echo(f"{record.text} (token {record.i}): {record.n_contexts} contexts")
        rows = [("wordpiece mean", record.wordpiece_mean), ("form", record.form), ("BERTRAM", record.bertram)]
        for title, neighbours in rows:
            if neighbours:
                shown = ", ".join(f"{n.word} {n.similarity:.2f}" for n in neighbours)
                typer.echo(f"  {title + ':':<16}{shown}")
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(explanation_html(nlp, text, records), encoding="utf8")
        typer.echo(f"saved {html}")
