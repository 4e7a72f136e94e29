"""The project's `select_best` step picks the packaged pipeline by its dev score only."""
import importlib.util
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example

SCRIPT = Path(__file__).parent.parent / "project" / "scripts" / "select_best.py"
TEXTS = [("good fun great", "POS"), ("bad dull awful", "NEG")] * 10


@pytest.fixture(scope="module")
def select_best():
    spec = importlib.util.spec_from_file_location("select_best", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docs(nlp, data):
    docs = []
    for text, label in data:
        doc = nlp.make_doc(text)
        doc.cats = {"POS": float(label == "POS"), "NEG": float(label == "NEG")}
        docs.append(doc)
    return docs


def _save_pipeline(path: Path, steps: int) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("textcat")
    examples = [Example(nlp.make_doc(d.text), d) for d in _docs(nlp, TEXTS)]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    path.mkdir()
    nlp.to_disk(path / "model-best")


def test_picks_the_best_dev_score_and_ignores_test_results(select_best, tmp_path):
    _save_pipeline(tmp_path / "untrained", steps=0)
    _save_pipeline(tmp_path / "trained", steps=10)
    dev = tmp_path / "dev.spacy"
    DocBin(docs=_docs(spacy.blank("en"), TEXTS)).to_disk(dev)
    # A test report that favours the untrained system must not matter: it is not an input.
    scores = select_best.dev_scores(tmp_path, ["untrained", "trained"], dev)
    assert scores["trained"] > scores["untrained"]
    assert select_best.pick_best(scores) == "trained"

    select_best.main(tmp_path, dev, "untrained,trained", tmp_path / "best", tmp_path / "scores.json")
    assert json.loads((tmp_path / "scores.json").read_text())["best"] == "trained"
    assert spacy.load(tmp_path / "best")("good fun").cats["POS"] > 0.5


def test_ties_go_to_the_first_system(select_best):
    assert select_best.pick_best({"plain": 0.8, "slash": 0.8}) == "plain"
    with pytest.raises(ValueError, match="--systems"):
        select_best.pick_best({})
