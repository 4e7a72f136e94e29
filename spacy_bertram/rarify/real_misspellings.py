"""Real misspellings for test sets: codespell's list of human misspelling -> correction pairs.

Test misspellings never come from the generators that make training misspellings
(`misspell.py`): rarified sets read them from this list, collected from real text.
Only entries whose misspelling and (single) correction are alphabetic words are kept.
"""
from functools import lru_cache
from importlib import resources
from typing import Dict, Iterable, List, Tuple

PACKAGE = "codespell_lib"
DICTIONARY = "data/dictionary.txt"


def parse_misspellings(lines: Iterable[str]) -> Dict[str, Tuple[str, ...]]:
    """correction -> its misspellings (lower-cased, in file order) from `misspelling->correction` lines."""
    found: Dict[str, List[str]] = {}
    for line in lines:
        misspelling, arrow, corrections = line.strip().partition("->")
        options = [c.strip() for c in corrections.split(",") if c.strip()]
        if not arrow or len(options) != 1 or not (misspelling.isalpha() and options[0].isalpha()):
            continue
        word, typo = options[0].lower(), misspelling.lower()
        if typo != word and typo not in found.setdefault(word, []):
            found[word].append(typo)
    return {word: tuple(typos) for word, typos in found.items()}


@lru_cache(maxsize=1)
def load_real_misspellings() -> Dict[str, Tuple[str, ...]]:
    """codespell's dictionary as correction -> misspellings (read once, from the installed wheel)."""
    try:
        text = resources.files(PACKAGE).joinpath(DICTIONARY).read_text(encoding="utf8")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "Rarified test sets take their misspellings from codespell's list of real ones: "
            "pip install 'spacy-bertram[eval]' (or pip install codespell)."
        ) from err
    return parse_misspellings(text.splitlines())
