"""Downstream evaluation on a rarified test set, split the way BERTRAM's figures are.

Instances are grouped into: all; with a misspelling; with a synonym; and by the
frequency of their substituted words (the highest one per instance, in half-open
buckets `[lo, hi)`). Each group gets accuracy and macro-F1 over the gold labels.
"""
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from ..rarify.greedy_masking import gold_label, predict, predicted_label, unlabelled_copy
from ..rarify.rarifier import Replacement

DEFAULT_FREQUENCY_EDGES = (0, 1, 2, 4, 8, 16, 32, 64, 128)
ALL, MISSPELLING, SYNONYM = "all", "misspelling", "synonym"
KIND_GROUPS = (ALL, MISSPELLING, SYNONYM)


@dataclass
class GroupScore:
    n: int
    accuracy: float
    macro_f1: float


@dataclass
class DownstreamReport:
    """Scores per group; per-instance correctness and the instances of each kind group
    (all, misspelling, synonym), so that significance can be tested on each group."""

    groups: Dict[str, GroupScore] = field(default_factory=dict)
    correct: List[bool] = field(default_factory=list)
    members: Dict[str, List[int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "groups": {k: asdict(v) for k, v in self.groups.items()},
            "correct": self.correct,
            "members": self.members,
        }


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold) if gold else float("nan")


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over the labels seen in gold or predictions."""
    labels = sorted(set(gold) | set(predicted))
    if not labels:
        return float("nan")
    scores = []
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def bucket_label(low: float, high: Optional[float]) -> str:
    return f"[{low:g}, {high:g})" if high is not None else f">= {low:g}"


def frequency_bucket(frequency: Optional[float], edges: Sequence[float]) -> str:
    if frequency is None:
        return "unknown"
    if frequency < edges[0]:
        return bucket_label(float("-inf"), edges[0])
    for low, high in zip(edges, list(edges[1:]) + [None]):
        if high is None or frequency < high:
            return bucket_label(low, high)
    raise AssertionError("unreachable")


def instance_groups(
    n_docs: int,
    replacements: Mapping[int, List[Replacement]],
    edges: Sequence[float] = DEFAULT_FREQUENCY_EDGES,
) -> Dict[str, List[int]]:
    """Doc indices per group: all, misspelling, synonym, then frequency buckets in order."""
    if list(edges) != sorted(edges) or not edges:
        raise ValueError(f"Frequency bucket edges must be non-empty and ascending, got {list(edges)}.")
    beyond = [i for i in replacements if not 0 <= i < n_docs]
    if beyond:
        raise ValueError(
            f"The replacement file names doc ids {beyond[:5]} but the test set has {n_docs} "
            "docs; pass the `.spacy` file written together with it."
        )
    groups: Dict[str, List[int]] = {ALL: list(range(n_docs)), MISSPELLING: [], SYNONYM: []}
    buckets = [bucket_label(lo, hi) for lo, hi in zip(edges, list(edges[1:]) + [None])]
    groups.update({name: [] for name in buckets})
    for i in range(n_docs):
        doc_replacements = replacements.get(i, [])
        kinds = {r.kind for r in doc_replacements}
        for kind in (MISSPELLING, SYNONYM):
            if kind in kinds:
                groups[kind].append(i)
        if doc_replacements:
            known = [r.frequency for r in doc_replacements if r.frequency is not None]
            top = max(known) if len(known) == len(doc_replacements) else None
            groups.setdefault(frequency_bucket(top, edges), []).append(i)
    return groups


def check_replacements(docs: Sequence[Doc], replacements: Mapping[int, List[Replacement]]) -> None:
    """Fail early when the replacement file does not describe these docs."""
    for doc_id, items in replacements.items():
        for r in items:
            if doc_id >= len(docs) or r.token >= len(docs[doc_id]) or docs[doc_id][r.token].text != r.substitute:
                raise ValueError(
                    f"Replacement {r} does not match the test set (token text differs). "
                    "Pass the `.spacy` file and JSONL written by the same `rarify apply` run."
                )


def evaluate_downstream(
    nlp: Language,
    docs: Sequence[Doc],
    replacements: Mapping[int, List[Replacement]],
    edges: Sequence[float] = DEFAULT_FREQUENCY_EDGES,
    batch_size: int = 64,
) -> DownstreamReport:
    """Score `nlp` on the gold-labelled `docs`, overall and per group."""
    check_replacements(docs, replacements)
    gold = [gold_label(doc) for doc in docs]
    unlabelled = [unlabelled_copy(doc) for doc in docs]
    predicted = [predicted_label(cats) if cats else "" for cats in predict(nlp, unlabelled, batch_size)]
    report = DownstreamReport(correct=[g == p for g, p in zip(gold, predicted)])
    for name, members in instance_groups(len(docs), replacements, edges).items():
        if name in KIND_GROUPS:
            report.members[name] = members
        g = [gold[i] for i in members]
        p = [predicted[i] for i in members]
        report.groups[name] = GroupScore(len(members), accuracy(g, p), macro_f1(g, p))
    return report
