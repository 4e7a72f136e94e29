"""A small reader of the WordNet 3.0 database files (wndb(5) format), without nltk.

Rarification needs only three things from WordNet: a word's lemmas under each part of
speech (morphy: exception lists plus suffix rules), the synsets of a lemma in
sense-frequency order (`index.POS`), and the words of a synset (`data.POS`). Reading
the files directly avoids nltk's corpus-path check and its need for a `lexnames` file,
which Debian's `wordnet-base` package does not ship.
"""
import os
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple, Union

POS_FILES: Dict[str, str] = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}

# morphy's detachment rules (suffix, replacement) per part of speech, from morph(7WN).
MORPHY_RULES: Dict[str, List[Tuple[str, str]]] = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
          ("shes", "sh"), ("men", "man"), ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"),
          ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}

DEFAULT_SEARCH_PATH: Tuple[str, ...] = (
    "/usr/share/wordnet",
    "/usr/local/share/wordnet",
    "/usr/local/WordNet-3.0/dict",
    "/opt/homebrew/share/wordnet",
)


def find_wordnet_dir(path: Union[str, Path, None] = None) -> Path:
    """The WordNet dict folder: `path`, else $WNSEARCHDIR, else the usual system folders."""
    candidates = [Path(path)] if path is not None else []
    if path is None and os.environ.get("WNSEARCHDIR"):
        candidates.append(Path(os.environ["WNSEARCHDIR"]))
    if path is None:
        candidates.extend(Path(p) for p in DEFAULT_SEARCH_PATH)
    for folder in candidates:
        if all((folder / f"{kind}.{name}").is_file() for name in POS_FILES.values()
               for kind in ("index", "data")):
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"WordNet 3.0 database files (index.noun, data.noun, ...) not found in: {tried}. "
        "Install them with `apt-get install wordnet-base` (Debian/Ubuntu), or pass the "
        "folder holding them (or set WNSEARCHDIR)."
    )


class WordNet:
    """Lemmas, sense-ordered synsets and synonyms from a WordNet dict folder."""

    def __init__(self, path: Union[str, Path, None] = None):
        self.path = find_wordnet_dir(path)
        self._index: Dict[str, Dict[str, List[int]]] = {}
        self._tag_counts: Dict[str, Dict[str, int]] = {}
        self._exceptions: Dict[str, Dict[str, List[str]]] = {}
        self._inflections: Dict[str, Dict[str, Set[str]]] = {}
        for pos, name in POS_FILES.items():
            self._read_index(pos, self.path / f"index.{name}")
            self._read_exceptions(pos, self.path / f"{name}.exc")
        self._data_files = {pos: open(self.path / f"data.{name}", "rb")
                            for pos, name in POS_FILES.items()}

    def _read_index(self, pos: str, path: Path) -> None:
        offsets: Dict[str, List[int]] = {}
        tag_counts: Dict[str, int] = {}
        with path.open(encoding="utf8") as file:
            for line in file:
                if line.startswith(" "):  # licence header
                    continue
                fields = line.split()
                lemma, synset_cnt, ptr_cnt = fields[0], int(fields[2]), int(fields[3])
                rest = fields[4 + ptr_cnt:]
                tag_counts[lemma] = int(rest[1])
                offsets[lemma] = [int(o) for o in rest[2:2 + synset_cnt]]
        self._index[pos] = offsets
        self._tag_counts[pos] = tag_counts

    def _read_exceptions(self, pos: str, path: Path) -> None:
        exceptions: Dict[str, List[str]] = {}
        inflections: Dict[str, Set[str]] = {}
        if path.is_file():
            with path.open(encoding="utf8") as file:
                for line in file:
                    form, *lemmas = line.split()
                    exceptions[form] = lemmas
                    for lemma in lemmas:
                        inflections.setdefault(lemma, set()).add(form)
        self._exceptions[pos] = exceptions
        self._inflections[pos] = inflections

    def has_lemma(self, lemma: str, pos: str) -> bool:
        return lemma in self._index[pos]

    def tag_count(self, lemma: str, pos: str) -> int:
        """How often the lemma was sense-tagged in WordNet's concordance (0 if absent)."""
        return self._tag_counts[pos].get(lemma, 0)

    def irregular_forms(self, lemma: str, pos: str) -> Set[str]:
        """Inflected forms listed for the lemma in the POS's exception file."""
        return set(self._inflections[pos].get(lemma, ()))

    def lemmas(self, form: str, pos: str) -> List[str]:
        """morphy: the base forms of `form` under `pos` that WordNet knows, exceptions first."""
        form = form.lower()
        found: List[str] = []
        for lemma in self._exceptions[pos].get(form, []):
            if self.has_lemma(lemma, pos) and lemma not in found:
                found.append(lemma)
        if self.has_lemma(form, pos) and form not in found:
            found.append(form)
        for suffix, replacement in MORPHY_RULES[pos]:
            if form.endswith(suffix) and len(form) > len(suffix):
                lemma = form[: len(form) - len(suffix)] + replacement
                if self.has_lemma(lemma, pos) and lemma not in found:
                    found.append(lemma)
        return found

    @lru_cache(maxsize=65536)  # noqa: B019 (one WordNet per process; the cache is meant to live as long)
    def synset_words(self, offset: int, pos: str) -> Tuple[str, ...]:
        """The words of the synset at `offset` in `data.POS`, adjective markers removed."""
        file = self._data_files[pos]
        file.seek(offset)
        fields = file.readline().decode("utf8").split()
        word_count = int(fields[3], 16)
        words = fields[4: 4 + 2 * word_count: 2]
        return tuple(w.split("(")[0] for w in words)

    def first_sense_synonyms(self, lemma: str, pos: str) -> List[str]:
        """Synonyms from the lemma's most frequent sense (first synset in `index.POS`)."""
        offsets = self._index[pos].get(lemma.lower())
        if not offsets:
            return []
        return [w for w in self.synset_words(offsets[0], pos) if w.lower() != lemma.lower()]

    def close(self) -> None:
        for file in self._data_files.values():
            file.close()


@lru_cache(maxsize=4)
def load_wordnet(path: Optional[str] = None) -> WordNet:
    """A cached reader per folder: the index files take a second or two to parse."""
    return WordNet(path)
