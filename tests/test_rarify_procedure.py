"""The rarification procedure on a tiny tok2vec textcat trained here for a few steps."""
import json
import random

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from typer.testing import CliRunner

from spacy_bertram.rarify import (
    SubstitutionDictionary, find_masks, load_wordnet, rarify,
    read_replacements, split_candidates, substitutable_tokens, write_replacements,
)
from spacy_bertram.rarify.greedy_masking import masked_copy

POSITIVE = ["funny", "clever", "beautiful"]
NEGATIVE = ["awful", "dull", "ugly"]
FILLERS = ["the", "movie", "was", "and", "plot", "very", "a", "film", "is"]
MASK = "[MASK]"


class FakeFrequency:
    def __init__(self, frequent):
        self.frequent = set(frequent)

    def is_rare(self, word):
        return word.lower() not in self.frequent

    def count(self, word):
        return 3 if self.is_rare(word) else 1000


def _texts(n, seed=0):
    rng = random.Random(seed)
    data = []
    for i in range(n):
        label = "POS" if i % 2 == 0 else "NEG"
        cues = POSITIVE if label == "POS" else NEGATIVE
        words = rng.sample(FILLERS, 4) + rng.sample(cues, 2)
        rng.shuffle(words)
        data.append((" ".join(words), label))
    return data


def _labelled(nlp, text, label):
    doc = nlp.make_doc(text)
    doc.cats = {"POS": float(label == "POS"), "NEG": float(label == "NEG")}
    return doc


@pytest.fixture(scope="module")
def textcat_nlp():
    spacy.util.fix_random_seed(0)  # the same classifier, so the same masks, on every run
    nlp = spacy.blank("en")
    nlp.add_pipe("textcat")
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {"POS": float(l == "POS"), "NEG": float(l == "NEG")}})
                for t, l in _texts(60)]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(8):
        for start in range(0, len(examples), 10):
            nlp.update(examples[start:start + 10], sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def substitutions():
    real = {word: (word[0] + word[2:], word[:-1]) for word in POSITIVE + NEGATIVE}  # one dropped letter
    return SubstitutionDictionary(FakeFrequency(FILLERS + POSITIVE + NEGATIVE), load_wordnet(),
                                  misspelling_share=0.5, misspellings=real, seed=0)


def _gold_prob(nlp, doc, masked, label):
    return nlp(masked_copy(doc, masked, MASK)).cats[label]


def test_masking_picks_the_most_harmful_word_brute_force(textcat_nlp):
    nlp = textcat_nlp
    docs = [_labelled(nlp, t, l) for t, l in _texts(6, seed=7)]
    positions = [[t.i for t in doc] for doc in docs]
    results = find_masks(nlp, docs, positions, MASK, max_masks=3, batch_size=4)
    steps = 0
    for doc, result in zip(docs, results):
        assert 1 <= len(result.masked) <= 3 and len(set(result.masked)) == len(result.masked)
        for step, chosen in enumerate(result.masked):
            before = result.masked[:step]
            probs = {i: _gold_prob(nlp, doc, before + [i], result.gold_label)
                     for i in range(len(doc)) if i not in before}
            assert probs[chosen] == pytest.approx(min(probs.values()), abs=1e-6)
            assert result.gold_probs[step] == pytest.approx(probs[chosen], abs=1e-6)
            steps += 1
        final = nlp(masked_copy(doc, result.masked, MASK)).cats
        assert result.flipped == (max(final, key=final.get) != result.gold_label)
        if not result.flipped:
            assert len(result.masked) == 3
    assert steps > len(docs)  # some docs needed more than one mask
    # the cue words are what the classifier relies on: the first mask hits one
    assert sum(docs[i][r.masked[0]].text in POSITIVE + NEGATIVE for i, r in enumerate(results)) >= 4


def test_split_keeps_a_third_for_training(textcat_nlp, substitutions):
    nlp = textcat_nlp
    docs = [_labelled(nlp, t, l) for t, l in _texts(30)]
    plain = [_labelled(nlp, "the one and only", "POS") for _ in range(3)]  # stop words
    train, candidates = split_candidates(docs + plain, substitutions, min_train_share=1 / 3, seed=0)
    assert len(train) + len(candidates) == 33 and len(train) >= 11
    assert all(substitutable_tokens(d, substitutions) for d in candidates)
    assert all(d in train for d in plain)
    train2, candidates2 = split_candidates(docs + plain, substitutions, 1 / 3, seed=0)
    assert [d.text for d in candidates2] == [d.text for d in candidates]


def test_rarify_keeps_only_candidates_whose_prediction_flips(textcat_nlp, substitutions):
    nlp = textcat_nlp
    candidates = [_labelled(nlp, t, l) for t, l in _texts(20, seed=3)]
    docs, replacements, stats = rarify(nlp, candidates, substitutions, MASK, max_masks=2, seed=0)
    assert stats.unflipped > 0 and stats.rarified == len(docs) > 0
    assert stats.misclassified + stats.without_masks + stats.unflipped + stats.rarified == 20
    originals = {tuple(t.text for t in c): c for c in candidates}
    for doc_id, doc in enumerate(docs):
        positions = [r.token for r in replacements if r.doc_id == doc_id]
        words = [t.text for t in doc]
        for r in replacements:
            if r.doc_id == doc_id:
                words[r.token] = r.original
        source = originals[tuple(words)]
        cats = nlp(masked_copy(source, positions, MASK)).cats
        assert max(cats, key=cats.get) != max(source.cats, key=source.cats.get)


def test_rarify_output_and_jsonl_match(textcat_nlp, substitutions, tmp_path):
    nlp = textcat_nlp
    candidates = [_labelled(nlp, t, l) for t, l in _texts(20, seed=3)]
    docs, replacements, stats = rarify(nlp, candidates, substitutions, MASK, max_masks=5, seed=0)
    assert stats.rarified == len(docs) > 0 and stats.candidates == 20
    assert stats.misclassified + stats.without_masks + stats.unflipped + stats.rarified == 20
    write_replacements(tmp_path / "r.jsonl", replacements)
    DocBin(docs=docs).to_disk(tmp_path / "r.spacy")
    reloaded = list(DocBin().from_disk(tmp_path / "r.spacy").get_docs(nlp.vocab))
    grouped = read_replacements(tmp_path / "r.jsonl")
    assert sum(len(v) for v in grouped.values()) == len(replacements)
    kinds = set()
    originals = {tuple(t.text for t in c): c for c in candidates}
    for doc_id, doc in enumerate(reloaded):
        assert doc.cats in ({"POS": 1.0, "NEG": 0.0}, {"POS": 0.0, "NEG": 1.0})
        for r in grouped[doc_id]:
            assert doc[r.token].text == r.substitute != r.original
            assert r.frequency == 3.0 and substitutions.frequency.is_rare(r.substitute)
            kinds.add(r.kind)
        # putting the originals back gives a candidate, with its label
        words = [t.text for t in doc]
        for r in grouped[doc_id]:
            words[r.token] = r.original
        source = originals[tuple(words)]
        assert source.cats == doc.cats
    assert kinds == {"synonym", "misspelling"}
    again, again_replacements, _ = rarify(nlp, candidates, substitutions, MASK, seed=0)
    assert [d.text for d in again] == [d.text for d in docs] and again_replacements == replacements


def test_read_replacements_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="rarify apply"):
        read_replacements(tmp_path / "none.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"doc_id": 0}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_replacements(tmp_path / "bad.jsonl")


def test_cli_split_and_apply(textcat_nlp, tmp_path):
    from spacy_bertram.cli import app
    from spacy_bertram.cli import evaluate, rarify as rarify_cli  # noqa: F401

    nlp = textcat_nlp
    nlp.to_disk(tmp_path / "baseline")
    DocBin(docs=[_labelled(nlp, t, l) for t, l in _texts(30, seed=5)]).to_disk(tmp_path / "data.spacy")
    runner = CliRunner()
    out = runner.invoke(app, ["rarify", "split", str(tmp_path / "data.spacy"), str(tmp_path / "corpus"),
                              "--zipf-threshold", "3.5"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "corpus" / "train.spacy").is_file()
    out = runner.invoke(app, ["rarify", "apply", str(tmp_path / "baseline"), str(tmp_path / "corpus" / "candidates.spacy"),
                              str(tmp_path / "rarified.spacy"), "--zipf-threshold", "3.5"])
    assert out.exit_code == 0, out.output
    lines = (tmp_path / "rarified.jsonl").read_text().splitlines()
    assert lines, out.output
    docs = list(DocBin().from_disk(tmp_path / "rarified.spacy").get_docs(nlp.vocab))
    for line in lines:
        r = json.loads(line)
        assert docs[r["doc_id"]][r["token"]].text == r["substitute"]
    out = runner.invoke(app, ["rarify", "apply", str(tmp_path / "nope"), str(tmp_path / "x.spacy"), str(tmp_path / "y.spacy")])
    assert out.exit_code != 0 and "pipeline folder" in out.output
