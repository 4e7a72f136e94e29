"""Synthetic misspellings for training, as in LOVE (Chen et al., 2022): keyboard slips,
dropped, inserted and transposed characters. Each takes a word and a seeded
`random.Random`. They train the form stage and the classifier augmenter only; rarified
test sets take real misspellings (`rarify/real_misspellings.py`)."""
import random
from typing import Callable, Dict, Optional, Sequence

QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> Dict[str, str]:
    neighbours: Dict[str, str] = {}
    for r, row in enumerate(QWERTY_ROWS):
        for c, char in enumerate(row):
            near = []
            for dr in (-1, 0, 1):
                other_row = r + dr
                if not 0 <= other_row < len(QWERTY_ROWS):
                    continue
                for dc in (-1, 0, 1):
                    other = c + dc
                    if (dr, dc) != (0, 0) and 0 <= other < len(QWERTY_ROWS[other_row]):
                        near.append(QWERTY_ROWS[other_row][other])
            neighbours[char] = "".join(near)
    return neighbours


KEYBOARD_NEIGHBOURS = _keyboard_neighbours()
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _match_case(char: str, like: str) -> str:
    return char.upper() if like.isupper() else char


def keyboard_swap(word: str, rng: random.Random) -> Optional[str]:
    """Replace one letter by a neighbouring key on a QWERTY keyboard."""
    positions = [i for i, c in enumerate(word) if c.lower() in KEYBOARD_NEIGHBOURS]
    if not positions:
        return None
    i = rng.choice(positions)
    new = rng.choice(KEYBOARD_NEIGHBOURS[word[i].lower()])
    return word[:i] + _match_case(new, word[i]) + word[i + 1:]


def drop_char(word: str, rng: random.Random) -> Optional[str]:
    """Leave out one character (words of three or more characters only)."""
    if len(word) < 3:
        return None
    i = rng.randrange(len(word))
    return word[:i] + word[i + 1:]


def insert_char(word: str, rng: random.Random) -> Optional[str]:
    """Insert one random letter anywhere."""
    i = rng.randrange(len(word) + 1)
    like = word[min(i, len(word) - 1)] if word else "a"
    return word[:i] + _match_case(rng.choice(ALPHABET), like) + word[i:]


def transpose_chars(word: str, rng: random.Random) -> Optional[str]:
    """Swap two adjacent, different characters."""
    positions = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
    if not positions:
        return None
    i = rng.choice(positions)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


MISSPELLERS: Dict[str, Callable[[str, random.Random], Optional[str]]] = {
    "keyboard": keyboard_swap,
    "drop": drop_char,
    "insert": insert_char,
    "transpose": transpose_chars,
}


def misspellable(word: str) -> bool:
    """Whether a word is one the rarifier and the augmenter misspell: alphabetic, 3+ letters."""
    return len(word) >= 3 and word.isalpha()


def misspell(
    word: str,
    rng: random.Random,
    kinds: Sequence[str] = tuple(MISSPELLERS),
    accept: Callable[[str], bool] = lambda w: True,
    tries: int = 10,
) -> Optional[str]:
    """A misspelling of `word` that differs from it and that `accept` allows, or None."""
    unknown = [k for k in kinds if k not in MISSPELLERS]
    if unknown or not kinds:
        raise ValueError(
            f"Unknown misspelling kinds {unknown or '(none given)'}; choose from {sorted(MISSPELLERS)}."
        )
    for _ in range(tries):
        typo = MISSPELLERS[rng.choice(list(kinds))](word, rng)
        if typo and typo.lower() != word.lower() and accept(typo):
            return typo
    return None
