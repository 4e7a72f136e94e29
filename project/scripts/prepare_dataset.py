"""Turn a labelled text-classification dataset into train, dev and test DocBins.

Tasks: `sst2` (tab-separated `sentence<TAB>label`, from LOVE's copy of SST-2), `trec`
(TREC question classification, nltk_data's `qc.zip`: 6 exclusive coarse classes), and
the nltk_data corpora `sentence_polarity` and `subjectivity`. The task's own
evaluation split (SST-2's dev set: GLUE's test labels are not public; TREC's 500 test
questions) becomes `test`, never used to choose anything; `dev`, which picks
checkpoints and the packaged pipeline, is a seeded hold-out of the training data (so is
`test` for tasks without an evaluation split). Rarification later splits its test
candidates off `train`.
"""
import random
import zipfile
from pathlib import Path
from typing import Dict, List, Tuple

import spacy
import typer
from spacy.tokens import DocBin

Example = Tuple[str, str]
SST2_LABELS = {"0": "NEGATIVE", "1": "POSITIVE"}


def read_sst2(folder: Path) -> Dict[str, List[Example]]:
    def read(path: Path) -> List[Example]:
        rows = (line.rsplit("\t", 1) for line in path.read_text(encoding="utf8").splitlines() if line.strip())
        return [(text.strip(), SST2_LABELS[label.strip()]) for text, label in rows]

    return {"train": read(folder / "train.tsv"), "test": read(folder / "dev.tsv")}


def read_zip_lines(path: Path, members: Dict[str, str]) -> List[Example]:
    """Lines of the archive's members (latin-1), each labelled with its member's label."""
    with zipfile.ZipFile(path) as archive:
        return [
            (line.strip(), label)
            for member, label in members.items()
            for line in archive.read(member).decode("latin-1").splitlines()
            if line.strip()
        ]


def read_trec(path: Path) -> Dict[str, List[Example]]:
    """TREC questions, `COARSE:fine question` a line; the label is the coarse class."""
    with zipfile.ZipFile(path) as archive:

        def read(member: str) -> List[Example]:
            lines = archive.read(member).decode("latin-1").splitlines()
            return [(line.split(" ", 1)[1].strip(), line.split(":", 1)[0]) for line in lines if line.strip()]

        return {"train": read("qc/train.txt"), "test": read("qc/test.txt")}


def read_task(task: str, source: Path) -> Dict[str, List[Example]]:
    if task == "sst2":
        return read_sst2(source)
    if task == "trec":
        return read_trec(source)
    if task == "sentence_polarity":
        members = {"sentence_polarity/rt-polarity.pos": "POSITIVE", "sentence_polarity/rt-polarity.neg": "NEGATIVE"}
        return {"train": read_zip_lines(source, members)}
    if task == "subjectivity":
        members = {"subjectivity/quote.tok.gt9.5000": "SUBJECTIVE", "subjectivity/plot.tok.gt9.5000": "OBJECTIVE"}
        return {"train": read_zip_lines(source, members)}
    raise typer.BadParameter(f"unknown task {task!r}: use sst2, trec, sentence_polarity or subjectivity")


def write_docbin(nlp, examples: List[Example], labels: List[str], path: Path) -> None:
    docs = DocBin(store_user_data=False)
    for doc, label in nlp.pipe(examples, as_tuples=True):
        doc.cats = {name: float(name == label) for name in labels}
        docs.add(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    docs.to_disk(path)
    typer.echo(f"{path}: {len(examples)} docs")


def main(
    task: str = typer.Argument(..., help="sst2 | trec | sentence_polarity | subjectivity"),
    source: Path = typer.Argument(..., help="The task's asset: SST-2 folder or nltk zip", exists=True),
    output_dir: Path = typer.Argument(..., help="Folder for train.spacy, dev.spacy and test.spacy"),
    dev_size: int = typer.Option(
        500, "--dev-size", help="Training examples held out as dev (and as test without a test split)"
    ),
    max_train: int = typer.Option(0, "--max-train", help="Cap on training examples (0: all)"),
    max_dev: int = typer.Option(0, "--max-dev", help="Cap on dev examples (0: all)"),
    max_test: int = typer.Option(0, "--max-test", help="Cap on test examples (0: all)"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Shuffle with a fixed seed, split, cap, and write DocBins with one-hot `doc.cats`."""
    splits = read_task(task, source)
    rng = random.Random(seed)
    train, test = list(splits["train"]), list(splits.get("test", []))
    rng.shuffle(train)
    rng.shuffle(test)
    if not test:
        test, train = train[:dev_size], train[dev_size:]
    dev, train = train[:dev_size], train[dev_size:]
    labels = sorted({label for _, label in splits["train"]})
    nlp = spacy.blank("en")
    for name, examples, cap in (("train", train, max_train), ("dev", dev, max_dev), ("test", test, max_test)):
        write_docbin(nlp, examples[:cap] if cap else examples, labels, output_dir / f"{name}.spacy")


if __name__ == "__main__":
    typer.run(main)
