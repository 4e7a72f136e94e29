"""Rarification: turn correctly classified test candidates into a rare-word test set.

The baseline classifier picks the words it relies on (the masking loop); those words
are then replaced by rare synonyms or misspellings. Candidates the baseline gets wrong
are left out, since a substitution cannot show a loss there, and so are candidates
whose prediction never flips within `max_masks` masks (BERTRAM, section 4): their
label does not hang on the words that would be replaced. Every replacement is
listed (doc id = index in the output `.spacy` file) so evaluation can split results
by substitution kind and frequency.
"""
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

from .candidates import substitutable_tokens, token_substitutes
from .greedy_masking import copy_with_words, find_masks, gold_label, predict, predicted_label, unlabelled_copy
from .substitutions import SubstitutionDictionary


@dataclass(frozen=True)
class Replacement:
    """One substituted token of the rarified set."""

    doc_id: int
    token: int
    original: str
    substitute: str
    kind: str
    frequency: Optional[float]


@dataclass
class RarifyStats:
    """Where the candidates went: every one is misclassified, without masks, unflipped or rarified."""

    candidates: int = 0
    misclassified: int = 0
    without_masks: int = 0
    unflipped: int = 0
    rarified: int = 0
    replacements: int = 0


def rarify(
    nlp: Language,
    candidates: Sequence[Doc],
    substitutions: SubstitutionDictionary,
    mask_string: str = "[MASK]",
    max_masks: int = 5,
    seed: int = 0,
    batch_size: int = 64,
) -> Tuple[List[Doc], List[Replacement], RarifyStats]:
    """Rarify the candidates with the baseline `nlp`: (docs, replacements, stats)."""
    stats = RarifyStats(candidates=len(candidates))
    plain = [unlabelled_copy(doc) for doc in candidates]
    scores = predict(nlp, plain, batch_size)
    kept = [doc for doc, cats in zip(candidates, scores)
            if cats and predicted_label(cats) == gold_label(doc)]
    stats.misclassified = len(candidates) - len(kept)
    positions = [substitutable_tokens(doc, substitutions) for doc in kept]
    results = find_masks(nlp, kept, positions, mask_string, max_masks, batch_size)
    rng = random.Random(seed)
    docs: List[Doc] = []
    replacements: List[Replacement] = []
    for doc, result in zip(kept, results):
        if not result.masked:
            stats.without_masks += 1
            continue
        if not result.flipped:
            stats.unflipped += 1
            continue
        doc_id = len(docs)
        words = [t.text for t in doc]
        misspelled = substitutions.misspelled_positions(doc)
        for i in sorted(result.masked):
            substitute = rng.choice(token_substitutes(doc[i], substitutions, i in misspelled))
            words[i] = substitute.text
            replacements.append(Replacement(
                doc_id, i, doc[i].text, substitute.text, substitute.kind, substitute.frequency
            ))
        rarified = copy_with_words(doc, words)
        rarified.cats = dict(doc.cats)
        docs.append(rarified)
    stats.rarified = len(docs)
    stats.replacements = len(replacements)
    return docs, replacements, stats


def write_replacements(path: Union[str, Path], replacements: Iterable[Replacement]) -> None:
    """One JSON object a line: doc_id, token, original, substitute, kind, frequency."""
    with Path(path).open("w", encoding="utf8") as file:
        for replacement in replacements:
            file.write(json.dumps(asdict(replacement)) + "\n")


def read_replacements(path: Union[str, Path]) -> Dict[int, List[Replacement]]:
    """Replacements of a JSONL file written by `write_replacements`, grouped by doc id."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Replacement file not found: {path}. It is written next to the rarified "
            "`.spacy` file by `python -m spacy_bertram rarify apply`."
        )
    grouped: Dict[int, List[Replacement]] = {}
    with path.open(encoding="utf8") as file:
        for line_no, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                replacement = Replacement(**json.loads(line))
            except (json.JSONDecodeError, TypeError) as err:
                raise ValueError(
                    f"{path}:{line_no}: not a replacement record ({err}). Expected keys "
                    "doc_id, token, original, substitute, kind, frequency."
                ) from err
            grouped.setdefault(replacement.doc_id, []).append(replacement)
    return grouped
