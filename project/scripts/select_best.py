"""Save the pipeline with the best accuracy on the rarified test set, ready for packaging.

The copy bundles the `bertram` component's context store (`include_store`), so the
packaged pipeline needs no file outside itself.
"""
import json
import shutil
from pathlib import Path

import spacy
import typer


def main(
    report: Path = typer.Argument(..., help="report.json of `evaluate downstream`", exists=True),
    training_dir: Path = typer.Argument(..., help="Folder holding NAME/model-best for each system"),
    output: Path = typer.Option(..., "--output", "-o", help="Where to save the best pipeline"),
) -> None:
    """Pick the system with the highest accuracy on all instances (the first on ties)."""
    systems = json.loads(report.read_text(encoding="utf8"))["systems"]
    best = max(systems, key=lambda name: systems[name]["groups"]["all"]["accuracy"])
    nlp = spacy.load(training_dir / best / "model-best", config={"components": {"bertram": {"include_store": True}}})
    if output.exists():
        shutil.rmtree(output)
    nlp.to_disk(output)
    typer.echo(f"best: {best} ({100 * systems[best]['groups']['all']['accuracy']:.1f}%) -> {output}")


if __name__ == "__main__":
    typer.run(main)
