"""CRW-dev from its folder (`CRW-550.txt` and `context/<word>.txt`), as the asset comes from git.

Same systems and output as `python -m spacy_bertram evaluate crw`, which reads the archive.
"""
import json
from pathlib import Path
from typing import List, Optional

import typer
from spacy_bertram.evaluation import evaluate_crw, similarity_table
from spacy_bertram.evaluation.similarity import SimilarityData, read_pairs


def read_crw_folder(folder: Path) -> SimilarityData:
    contexts = {
        path.stem: [line for line in path.read_text(encoding="utf8").splitlines() if line.strip()]
        for path in sorted((folder / "context").glob("*.txt"))
    }
    return SimilarityData(read_pairs(folder / "CRW-550.txt"), contexts)


def main(
    data: Path = typer.Option(..., "--data", help="CRW-dev folder", exists=True, file_okay=False),
    models: List[Path] = typer.Option([], "--model", "-m", help="BERTRAM model folder (repeatable)"),
    max_contexts: Optional[int] = typer.Option(None, "--max-contexts", help="Contexts per rare word (default: each model's)"),
    output: Path = typer.Option(..., "--output", "-o", help="JSON results"),
) -> None:
    """Spearman's rho on CRW-dev for wordpiece means, form-only, context-only and BERTRAM."""
    results = evaluate_crw(read_crw_folder(data), models, max_contexts=max_contexts)
    typer.echo(similarity_table(results))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({k: vars(v) for k, v in results.items()}, indent=2), encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
