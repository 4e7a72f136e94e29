"""Save the pipeline that scores best on the dev set, ready for packaging.

The choice never looks at a test set: each system's pipeline is scored on the task's
dev set (spaCy's `textcat` score, `cats_score`) and the best one is copied with the
`bertram` component's context store bundled (`include_store`), so the packaged
pipeline needs no file outside itself.
"""
import json
import shutil
from pathlib import Path
from typing import Dict, List

import spacy
import typer
from spacy.tokens import DocBin
from spacy.training import Example

SCORE = "cats_score"


def dev_scores(training_dir: Path, systems: List[str], dev_path: Path) -> Dict[str, float]:
    """Each system's `cats_score` on the dev set (NAME/model-best under training_dir)."""
    scores = {}
    for name in systems:
        nlp = spacy.load(training_dir / name / "model-best")
        examples = [Example(nlp.make_doc(doc.text), doc) for doc in DocBin().from_disk(dev_path).get_docs(nlp.vocab)]
        scores[name] = float(nlp.evaluate(examples)[SCORE])
    return scores


def pick_best(scores: Dict[str, float]) -> str:
    """The system with the highest dev score; the first listed on ties."""
    if not scores:
        raise ValueError("No systems to choose from: pass --systems NAME,NAME,...")
    return max(scores, key=scores.__getitem__)


def main(
    training_dir: Path = typer.Argument(..., help="Folder holding NAME/model-best for each system", exists=True),
    dev_path: Path = typer.Argument(..., help="The task's dev set (.spacy)", exists=True),
    systems: str = typer.Option(..., "--systems", help="Comma-separated system names, the baseline first"),
    output: Path = typer.Option(..., "--output", "-o", help="Where to save the best pipeline"),
    scores_path: Path = typer.Option(None, "--scores", help="Write every system's dev score to this JSON file"),
) -> None:
    """Pick the system with the highest dev-set score and save it with its store."""
    scores = dev_scores(training_dir, [s for s in systems.split(",") if s], dev_path)
    best = pick_best(scores)
    if scores_path is not None:
        scores_path.parent.mkdir(parents=True, exist_ok=True)
        scores_path.write_text(json.dumps({"metric": SCORE, "scores": scores, "best": best}, indent=2), encoding="utf8")
    path = training_dir / best / "model-best"
    has_bertram = "bertram" in spacy.util.load_config(path / "config.cfg")["components"]
    nlp = spacy.load(path, config={"components": {"bertram": {"include_store": True}}} if has_bertram else {})
    if output.exists():
        shutil.rmtree(output)
    nlp.to_disk(output)
    typer.echo(f"best on dev: {best} ({SCORE} {100 * scores[best]:.1f}) -> {output}")


if __name__ == "__main__":
    typer.run(main)
