"""Text pairs as one Doc with two sentences.

A pair (premise/hypothesis, question/answer) is stored as a single Doc whose two texts
are its two sentences: the first token of each text starts a sentence and nothing else
does. The classifier reads the concatenation; the `bertram` component and context
collection see two separate contexts; rarification substitutes tokens in either text.
`DocBin` keeps sentence starts, so pairs survive a `.spacy` round trip.
"""
from typing import Dict, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc


def make_pair_doc(
    nlp: Language, text_a: str, text_b: str, cats: Optional[Dict[str, float]] = None
) -> Doc:
    """Tokenize both texts with `nlp`'s tokenizer and join them as a two-sentence Doc."""
    first, second = nlp.make_doc(text_a), nlp.make_doc(text_b)
    if not len(first) or not len(second):
        raise ValueError(
            f"Both texts of a pair need at least one token, got {text_a!r} and {text_b!r}."
        )
    words = [t.text for t in first] + [t.text for t in second]
    spaces = [bool(t.whitespace_) for t in first] + [bool(t.whitespace_) for t in second]
    spaces[len(first) - 1] = True
    sent_starts = [i == 0 or i == len(first) for i in range(len(words))]
    doc = Doc(nlp.vocab, words=words, spaces=spaces, sent_starts=sent_starts)
    doc.cats = dict(cats or {})
    return doc


def pair_texts(doc: Doc) -> Tuple[str, str]:
    """The two texts of a pair Doc made by `make_pair_doc`."""
    sents = list(doc.sents) if doc.has_annotation("SENT_START") else []
    if len(sents) != 2:
        raise ValueError(
            f"Expected a pair Doc with exactly two sentences, got {len(sents)} in "
            f"{doc.text[:50]!r}. Build pairs with `make_pair_doc`."
        )
    return sents[0].text, sents[1].text
