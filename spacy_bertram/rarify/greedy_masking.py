"""The greedy masking loop of BERTRAM's rarification (section 4).

For a correctly classified doc, mask the word whose masking lowers the gold label's
probability most, then the next, up to `max_masks` words or until the prediction
flips. Each step runs every remaining one-more-mask variant of every active doc
through a single `nlp.pipe` call, so the classifier sees large batches.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm


@dataclass
class MaskingResult:
    """Masked token indices in the order chosen, and the gold probability after each."""

    gold_label: str
    masked: List[int] = field(default_factory=list)
    gold_probs: List[float] = field(default_factory=list)
    flipped: bool = False


def gold_label(doc: Doc) -> str:
    """The doc's gold label: its highest-scoring category."""
    if not doc.cats:
        raise ValueError(
            f"Doc {doc.text[:50]!r} has no gold categories (doc.cats is empty); "
            "rarification needs labelled docs."
        )
    return max(doc.cats, key=doc.cats.get)


def predicted_label(cats: Dict[str, float]) -> str:
    return max(cats, key=cats.get)


def masked_copy(doc: Doc, indices: Sequence[int], mask_string: str) -> Doc:
    """An unlabelled copy of `doc` with the tokens at `indices` replaced by `mask_string`."""
    chosen = set(indices)
    words = [mask_string if t.i in chosen else t.text for t in doc]
    return copy_with_words(doc, words)


def unlabelled_copy(doc: Doc) -> Doc:
    """The doc's tokens (spaces, sentence starts) without labels, for prediction."""
    return copy_with_words(doc, [t.text for t in doc])


def copy_with_words(doc: Doc, words: List[str]) -> Doc:
    """A copy of `doc` with other token texts, keeping spaces and sentence starts."""
    spaces = [bool(t.whitespace_) for t in doc]
    kwargs = {}
    if doc.has_annotation("SENT_START"):
        kwargs["sent_starts"] = [bool(t.is_sent_start) for t in doc]
    return Doc(doc.vocab, words=words, spaces=spaces, **kwargs)


def predict(nlp: Language, docs: Sequence[Doc], batch_size: int = 64) -> List[Dict[str, float]]:
    """Category scores for unlabelled docs, batched through `nlp.pipe`."""
    return [dict(d.cats) for d in nlp.pipe(docs, batch_size=batch_size)]


def find_masks(
    nlp: Language,
    docs: Sequence[Doc],
    positions: Sequence[Sequence[int]],
    mask_string: str = "[MASK]",
    max_masks: int = 5,
    batch_size: int = 64,
) -> List[MaskingResult]:
    """Greedy masking for each doc over its allowed token `positions` (see module doc)."""
    if len(docs) != len(positions):
        raise ValueError(f"Got {len(docs)} docs but {len(positions)} position lists.")
    results = [MaskingResult(gold_label(doc)) for doc in docs]
    active = [i for i in range(len(docs)) if positions[i]]
    for _ in tqdm(range(max_masks), desc="masking", unit="step", disable=None):
        if not active:
            break
        variants: List[Doc] = []
        owners: List[tuple] = []
        for i in active:
            for pos in positions[i]:
                if pos not in results[i].masked:
                    variants.append(masked_copy(docs[i], results[i].masked + [pos], mask_string))
                    owners.append((i, pos))
        scores = predict(nlp, variants, batch_size)
        best: Dict[int, tuple] = {}
        for (i, pos), cats in zip(owners, scores):
            prob = cats.get(results[i].gold_label, 0.0)
            if i not in best or prob < best[i][1]:
                best[i] = (pos, prob, cats)
        still_active = []
        for i in active:
            if i not in best:
                continue
            pos, prob, cats = best[i]
            result = results[i]
            result.masked.append(pos)
            result.gold_probs.append(prob)
            result.flipped = predicted_label(cats) != result.gold_label
            if not result.flipped and len(result.masked) < len(positions[i]):
                still_active.append(i)
        active = still_active
    return results
