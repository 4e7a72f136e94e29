"""Training-data augmentation for classifiers that read BERTRAM's slash form.

BERTRAM's downstream recipe trains the classifier with 5% of words masked and 10% of
words written as `w / w` (each copy masked with 25%), so that it learns both to cope
without a word and to read a word next to its BERTRAM vector. `misspell_level` also
writes a share of words misspelled (the generators of `misspell.py`): a misspelling
is a rare word, so the `bertram` component gives it a vector in training as it does in
use, and a classifier learns how far to trust that vector when the word's own
wordpieces are noise. Use it in a training config:

    [corpora.train.augmenter]
    @augmenters = "bertram.mask_slash_augmenter.v1"
    mask_string = "[MASK]"

spacy-transformers tokenizes the doc's text, and Hugging Face fast tokenizers map the
text of a special token (BERT's "[MASK]", RoBERTa's "<mask>") to its id, so the mask
string should be the encoder's mask token. Only doc-level labels (`doc.cats`) and
sentence starts are carried over: masking and duplication would misalign token labels.
"""
import random
from typing import Callable, Iterator, List, Optional

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .misspell import misspell, misspellable

SLASH = "/"
TOKEN_ANNOTATIONS = ("TAG", "POS", "MORPH", "LEMMA", "DEP", "ENT_IOB")


@registry.augmenters("bertram.mask_slash_augmenter.v1")
def create_mask_slash_augmenter(
    mask_level: float = 0.05,
    slash_level: float = 0.1,
    slash_mask_level: float = 0.25,
    mask_string: str = "[MASK]",
    seed: Optional[int] = 0,
    misspell_level: float = 0.0,
) -> Callable[[Language, Example], Iterator[Example]]:
    """Mask `mask_level` of the words, write `slash_level` of them as `w / w` and
    `misspell_level` of them misspelled.

    Punctuation and whitespace tokens are left alone, and only alphabetic words of three
    or more letters are misspelled. Each copy of a duplicated word is masked
    independently with `slash_mask_level`. `seed` makes the stream reproducible.
    """
    levels = (("mask_level", mask_level), ("slash_level", slash_level),
              ("slash_mask_level", slash_mask_level), ("misspell_level", misspell_level))
    for name, value in levels:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}.")
    if mask_level + slash_level + misspell_level > 1.0:
        raise ValueError(
            f"mask_level + slash_level + misspell_level must be at most 1 (a word is "
            f"masked, duplicated or misspelled, not two of them), got {mask_level} + "
            f"{slash_level} + {misspell_level}."
        )
    if not mask_string or any(c.isspace() for c in mask_string):
        raise ValueError(f"mask_string must be one non-empty token without spaces, got {mask_string!r}.")
    rng = random.Random(seed)

    def augment(nlp: Language, example: Example) -> Iterator[Example]:
        yield mask_and_slash(
            nlp, example, rng, mask_level, slash_level, slash_mask_level, mask_string,
            misspell_level,
        )

    return augment


def mask_and_slash(
    nlp: Language,
    example: Example,
    rng: random.Random,
    mask_level: float,
    slash_level: float,
    slash_mask_level: float,
    mask_string: str,
    misspell_level: float = 0.0,
) -> Example:
    """One augmented copy of `example` (see `create_mask_slash_augmenter`)."""
    reference = example.reference
    annotated = [a for a in TOKEN_ANNOTATIONS if reference.has_annotation(a)]
    if annotated:
        raise ValueError(
            f"The mask/slash augmenter only carries doc-level labels (cats), but the "
            f"training doc {reference.text[:50]!r} has token annotations {annotated}. "
            "Use it for text classification corpora only, or drop the augmenter."
        )
    has_sents = reference.has_annotation("SENT_START")
    words: List[str] = []
    spaces: List[bool] = []
    sent_starts: List[Optional[bool]] = []

    def add(text: str, space: bool, sent_start: Optional[bool]) -> None:
        words.append(text)
        spaces.append(space)
        sent_starts.append(sent_start)

    for token in reference:
        start = token.is_sent_start if has_sents else None
        if token.is_punct or token.is_space:
            add(token.text, bool(token.whitespace_), start)
            continue
        draw = rng.random()
        if draw < mask_level:
            add(mask_string, bool(token.whitespace_), start)
        elif draw < mask_level + slash_level:
            first = mask_string if rng.random() < slash_mask_level else token.text
            second = mask_string if rng.random() < slash_mask_level else token.text
            add(first, True, start)
            add(SLASH, True, False if has_sents else None)
            add(second, bool(token.whitespace_), False if has_sents else None)
        elif draw < mask_level + slash_level + misspell_level and misspellable(token.text):
            add(misspell(token.text, rng) or token.text, bool(token.whitespace_), start)
        else:
            add(token.text, bool(token.whitespace_), start)
    kwargs = {"sent_starts": sent_starts} if has_sents else {}
    predicted = Doc(nlp.vocab, words=words, spaces=spaces, **kwargs)
    gold = Doc(nlp.vocab, words=words, spaces=spaces, **kwargs)
    gold.cats = dict(reference.cats)
    return Example(predicted, gold)
