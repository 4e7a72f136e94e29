"""Inflection of WordNet lemmas, so that a substitute keeps the original word's form.

A plural noun must be replaced by a plural synonym and a past-tense verb by a
past-tense one. Forms are analysed from a Penn Treebank tag when the doc has one, else
from WordNet's morphology; a synonym whose inflected form is ambiguous (irregular verbs
with several past forms, consonant doubling, -o plurals) yields no form, and is dropped.
"""
import re
from typing import NamedTuple, Optional

from .wordnet import WordNet

VOWELS = "aeiou"
_CVC = re.compile(r"[^aeiou][aeiou][^aeiouwxy]$")

PTB_TAGS = {
    "NN": ("n", "base"), "NNS": ("n", "plural"),
    "VB": ("v", "base"), "VBP": ("v", "base"), "VBZ": ("v", "third"),
    "VBG": ("v", "gerund"), "VBD": ("v", "past"), "VBN": ("v", "past"),
    "JJ": ("a", "base"), "RB": ("r", "base"),
}
POS_PREFERENCE = ("n", "v", "a", "r")


class Analysis(NamedTuple):
    """A word form read as `lemma` under WordNet `pos` with an inflection name."""

    lemma: str
    pos: str
    inflection: str


def analyse(form: str, wordnet: WordNet, tag: Optional[str] = None) -> Optional[Analysis]:
    """The form's lemma, POS and inflection; None when it cannot be told or handled.

    With a PTB `tag` the POS and inflection come from the tag. Without one the POS whose
    lemma WordNet's concordance tagged most often wins (its most frequent use). Either
    way an analysis counts only if inflecting its lemma gives back the form.
    """
    form = form.lower()
    if tag:
        if tag not in PTB_TAGS:
            return None
        options = [PTB_TAGS[tag]]
    else:
        options = [(pos, None) for pos in POS_PREFERENCE]
    best: Optional[Analysis] = None
    best_count = -1
    for pos, inflection in options:
        for lemma in wordnet.lemmas(form, pos):
            analysis = Analysis(lemma, pos, inflection or _inflection_of(form, lemma, pos) or "")
            if not analysis.inflection or inflect(lemma, analysis, wordnet) != form:
                continue
            count = wordnet.tag_count(lemma, pos)
            if count > best_count:
                best, best_count = analysis, count
            break
    return best


def _inflection_of(form: str, lemma: str, pos: str) -> Optional[str]:
    if form == lemma:
        return "base"
    if pos == "n":
        return "plural"
    if pos == "v":
        if form.endswith("ing"):
            return "gerund"
        if form.endswith("ed") or not form.endswith("s"):
            return "past"
        return "third"
    return None  # comparatives and superlatives are not handled


def inflect(lemma: str, analysis: Analysis, wordnet: WordNet) -> Optional[str]:
    """`lemma` in the analysis' inflection, or None when the form is ambiguous."""
    pos, inflection = analysis.pos, analysis.inflection
    if inflection == "base":
        return lemma
    irregular = wordnet.irregular_forms(lemma, pos)
    if inflection == "plural" or inflection == "third":
        if pos == "v":
            irregular = {f for f in irregular if f.endswith("s")}
        form = _single(irregular) if irregular else _add_s(lemma)
    elif inflection == "gerund":
        irregular = {f for f in irregular if f.endswith("ing")}
        form = _single(irregular) if irregular else _add_ing(lemma)
    elif inflection == "past":
        irregular = {f for f in irregular if not f.endswith("ing")}
        form = _single(irregular) if irregular else _add_ed(lemma)
    else:
        return None
    if form is None or lemma not in wordnet.lemmas(form, pos):
        return None
    return form


def _single(forms) -> Optional[str]:
    return next(iter(forms)) if len(forms) == 1 else None


def _add_s(lemma: str) -> Optional[str]:
    if lemma.endswith(("s", "x", "z", "ch", "sh")):
        return lemma + "es"
    if len(lemma) > 1 and lemma.endswith("y") and lemma[-2] not in VOWELS:
        return lemma[:-1] + "ies"
    if len(lemma) > 1 and lemma.endswith("o") and lemma[-2] not in VOWELS:
        return None  # potatoes or pianos: cannot tell
    return lemma + "s"


def _add_ing(lemma: str) -> Optional[str]:
    if lemma.endswith("ie"):
        return lemma[:-2] + "ying"
    if lemma.endswith("e") and not lemma.endswith(("ee", "oe", "ye")):
        return lemma[:-1] + "ing"
    if _CVC.search(lemma):
        return None  # stopping or opening: cannot tell
    return lemma + "ing"


def _add_ed(lemma: str) -> Optional[str]:
    if lemma.endswith("e"):
        return lemma + "d"
    if len(lemma) > 1 and lemma.endswith("y") and lemma[-2] not in VOWELS:
        return lemma[:-1] + "ied"
    if _CVC.search(lemma):
        return None  # stopped or opened: cannot tell
    return lemma + "ed"
