"""Sample the reference corpus: up to N text units (sentences or paragraphs), one a line.

Reads whatever the indexer reads (plain text, Brown's `word/TAG`, JSONL, zips of
them) with the package's own corpus readers, so the sample is indexed exactly as the
full corpus would be. A seeded sample keeps every part of the corpus represented.
"""
import random
from pathlib import Path
from typing import List

import typer
from spacy_bertram.contexts.readers import list_sources, read_texts


def main(
    corpus: List[Path] = typer.Argument(..., help="Corpus files, folders or zip archives", exists=True),
    output: Path = typer.Option(..., "--output", "-o", help="Plain-text sample, one unit a line"),
    max_units: int = typer.Option(0, "--max-units", help="Most units kept (0: all)"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write a seeded random sample of the corpus's sentences/paragraphs, in corpus order."""
    units = [text for source in list_sources(corpus) for text in read_texts(source)]
    keep = range(len(units))
    if max_units and max_units < len(units):
        keep = sorted(random.Random(seed).sample(keep, max_units))
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf8") as file_:
        for i in keep:
            file_.write(units[i].replace("\n", " ") + "\n")
    typer.echo(f"{output}: {len(keep)} of {len(units)} units")


if __name__ == "__main__":
    typer.run(main)
