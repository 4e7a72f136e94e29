"""Misspelled copies of training words, each with its correct word's target, for the form stage.

A misspelling is a rare word with no contexts anywhere, so its vector is the form part
alone. Trained on frequent words only, the form part learns what a word's n-grams say
about an unseen *word*, not that a slip of one character leaves the word what it was.
As in LOVE (Chen et al., 2022), the form stage also sees seeded misspellings
(keyboard slips, dropped, inserted and transposed characters, the generators of
`spacy_bertram.misspell`) of its training words and of every word the encoder's vocabulary
keeps whole (`whole_vocabulary_words`: their targets are their own embedding rows,
so they cost no OTA), each with the correct word's target, so a misspelled known
word comes out near that word's own vector.
"""
import random
from typing import Callable, Dict, Iterable, List, Sequence

from ..misspell import misspell
from ..model.encoder import word_pieces


def misspelled_copies(
    words: Iterable[str],
    per_word: int,
    *,
    seed: int = 0,
    accept: Callable[[List[str]], Sequence[bool]] = lambda typos: [True] * len(typos),
) -> Dict[str, str]:
    """`{misspelling: word}`: up to `per_word` distinct misspellings of each word.

    A misspelling is lowercased and kept when `accept` allows it (the trainer refuses
    real words: ones with targets of their own, and ones the tokenizer keeps whole).
    `accept` judges a list of candidates at once, one round of a candidate per word,
    so a model-backed check is one batched call a round. A misspelling two words
    share goes to the first word, in sorted order, to draw it. Seeded, so the same
    inputs always give the same copies.
    """
    if per_word < 0:
        raise ValueError(f"per_word must be >= 0, got {per_word}.")
    rng = random.Random(seed)
    copies: Dict[str, str] = {}
    made = {word: 0 for word in sorted(set(words))}
    for _ in range(3 * per_word):  # a few tries: short words have few misspellings
        wanting = [word for word, count in made.items() if count < per_word]
        if not wanting:
            break
        drawn: Dict[str, str] = {}
        for word in wanting:
            typo = misspell(word, rng)
            typo = typo.lower() if typo else None
            if typo and typo != word and typo not in copies and typo not in drawn:
                drawn[typo] = word
        for (typo, word), ok in zip(drawn.items(), accept(list(drawn))):
            if ok:
                copies[typo] = word
                made[word] += 1
    return copies


def whole_vocabulary_words(tokenizer, min_length: int = 3) -> List[str]:
    """The alphabetic words of at least `min_length` letters that are one entry of the
    tokenizer's vocabulary and that it keeps whole inside a sentence (sorted)."""
    entries = sorted(tokenizer.get_vocab())
    words = [tokenizer.convert_tokens_to_string([e]).strip() for e in entries]
    words = sorted({w for w in words if len(w) >= min_length and w.isalpha()})
    pieces = word_pieces(tokenizer, words)
    return [w for w, ids in zip(words, pieces) if len(ids) == 1 and ids[0] != tokenizer.unk_token_id]
