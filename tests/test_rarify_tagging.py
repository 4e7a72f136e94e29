"""Synonyms keep the part of speech a word has in its sentence (a tagger's PTB tags)."""
import importlib.util
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import DocBin

from spacy_bertram.rarify import SubstitutionDictionary, load_tagger, load_wordnet, tag_docs
from spacy_bertram.rarify.candidates import token_substitutes

PROJECT = Path(__file__).parent.parent / "project"


class EverythingRare:
    def is_rare(self, word):
        return True


class RunTagger:
    """A stub tagger: "buy" after a determiner or adjective is a noun, else a verb."""

    labels = ("DT", "JJ", "NN", "PRP", "VBP", ".")

    def __call__(self, doc):
        for token in doc:
            if token.text == "buy":
                token.tag_ = "NN" if token.i and doc[token.i - 1].tag_ in ("DT", "JJ") else "VBP"
            elif token.lower_ in ("a", "the"):
                token.tag_ = "DT"
            elif token.text == "good":
                token.tag_ = "JJ"
            else:
                token.tag_ = "."
        return doc


@Language.factory("test_run_tagger")
def make_run_tagger(nlp, name):
    return RunTagger()


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory):
    nlp = spacy.blank("en")
    nlp.add_pipe("test_run_tagger", name="tagger")
    path = tmp_path_factory.mktemp("tagger")
    nlp.to_disk(path)
    return path


def test_synonym_follows_the_pos_in_the_sentence(tagger_dir):
    subs = SubstitutionDictionary(EverythingRare(), load_wordnet(), misspelling_share=0.0)
    blank = spacy.blank("en")
    noun_doc, verb_doc = tag_docs(load_tagger(tagger_dir), [blank("a good buy"), blank("I buy")])
    assert [s.text for s in token_substitutes(noun_doc[2], subs, False)] == ["bargain", "steal"]
    assert [s.text for s in token_substitutes(verb_doc[1], subs, False)] == ["purchase"]
    # untagged, the word's most frequent WordNet POS (verb) decides, whatever the sentence
    untagged = token_substitutes(blank("a good buy")[2], subs, False)
    assert [s.text for s in untagged] == ["purchase"]


def test_a_tag_without_a_wordnet_pos_gives_no_synonym():
    subs = SubstitutionDictionary(EverythingRare(), load_wordnet(), misspelling_share=0.0)
    doc = spacy.blank("en")("Cars")
    doc[0].tag_ = "NNP"  # a proper noun in this sentence
    assert token_substitutes(doc[0], subs, False) == []


def test_load_tagger_refuses_a_pipeline_without_a_tagger(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a spaCy pipeline"):
        load_tagger(tmp_path)
    spacy.blank("en").to_disk(tmp_path / "blank")
    with pytest.raises(ValueError, match="no `tagger` component"):
        load_tagger(tmp_path / "blank")


def test_cli_split_tags_docs_in_context(tagger_dir, tmp_path):
    from typer.testing import CliRunner

    import spacy_bertram.cli.rarify  # noqa: F401
    from spacy_bertram.cli import app

    nlp = spacy.blank("en")
    docs = [nlp("a good buy"), nlp("I buy"), nlp("and the")]  # the last: stop words only, for training
    for doc in docs:
        doc.cats = {"A": 1.0, "B": 0.0}
    DocBin(docs=docs).to_disk(tmp_path / "data.spacy")
    result = CliRunner().invoke(app, [
        "rarify", "split", str(tmp_path / "data.spacy"), str(tmp_path / "out"), "--misspelling-share", "0",
        "--min-train-share", "0", "--zipf-threshold", "8", "--tagger", str(tagger_dir),
    ])
    assert result.exit_code == 0, result.output
    written = list(DocBin().from_disk(tmp_path / "out" / "candidates.spacy").get_docs(nlp.vocab))
    assert [doc[-1].tag_ for doc in written] == ["NN", "VBP"]
    (train,) = DocBin().from_disk(tmp_path / "out" / "train.spacy").get_docs(nlp.vocab)
    assert train.text == "and the" and train.cats == {"A": 1.0, "B": 0.0}
    assert not train.has_annotation("TAG")  # the classifier's augmenter takes labels only


def test_brown_tags_map_to_penn_treebank():
    spec = importlib.util.spec_from_file_location("prepare_tagger_data", PROJECT / "scripts" / "prepare_tagger_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = {"nn": "NN", "nns-tl": "NNS", "np$": "NNP", "vb": "VB", "vbz": "VBZ", "bedz*": "VBD",
             "hvd": "VBD", "jjt": "JJS", "at": "DT", "pps+bez": "PRP", "fw-nn": "FW", "*": "RB", "nil": "XX"}
    assert {tag: module.brown_to_ptb(tag) for tag in cases} == cases
