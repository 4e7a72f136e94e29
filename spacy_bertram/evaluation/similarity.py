"""Word-pair similarity evaluation (CRW style): Spearman's rho of cosine vs. gold scores.

A pair whose word has no vector (a system gave none, or the tokenizer turned it into
unknown pieces only) is kept and scored with similarity 0, so that every system is
ranked on the same pairs; how many pairs that hit is reported as `missing`.
"""
import tarfile
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple, Union

import numpy
from scipy.stats import spearmanr


class WordPair(NamedTuple):
    first: str
    second: str
    score: float


@dataclass(frozen=True)
class SimilarityResult:
    spearman: float
    pairs: int
    missing: int


@dataclass
class SimilarityData:
    """Word pairs and, for the rare words, their contexts (one sentence each)."""

    pairs: List[WordPair]
    contexts: Dict[str, List[str]]


def parse_pairs(lines, source: str = "<pairs>") -> List[WordPair]:
    """Parse `word1<TAB>word2<TAB>score` lines (blank lines skipped)."""
    pairs: List[WordPair] = []
    for line_no, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            first, second, score = fields
            pairs.append(WordPair(first, second, float(score)))
        except ValueError:
            raise ValueError(
                f"{source}:{line_no}: expected `word1<TAB>word2<TAB>score`, got {line!r}."
            ) from None
    if not pairs:
        raise ValueError(f"{source}: no word pairs found.")
    return pairs


def read_pairs(path: Union[str, Path]) -> List[WordPair]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Word-pair file not found: {path}.")
    with path.open(encoding="utf8") as file:
        return parse_pairs(file, str(path))


def read_crw_archive(path: Union[str, Path], pairs_name: str = "CRW-550.txt") -> SimilarityData:
    """Read CRW pairs and `context/<word>.txt` files from the `.tar.gz` or its unpacked folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"CRW data not found: {path}. Pass crw-dev.tar.gz, or the crw-dev folder, "
            f"that holds {pairs_name} and a context/ folder."
        )
    pairs: Optional[List[WordPair]] = None
    contexts: Dict[str, List[str]] = {}
    fix = "pass crw-dev.tar.gz as downloaded, or its unpacked folder"
    try:
        for name, read in _crw_files(path):
            parts = Path(name).parts
            if parts[-1] == pairs_name:
                pairs = parse_pairs(read().splitlines(), f"{path}!{name}")
            elif len(parts) >= 2 and parts[-2] == "context" and parts[-1].endswith(".txt"):
                contexts[parts[-1][:-4]] = [s for s in read().splitlines() if s.strip()]
    except tarfile.ReadError as err:
        raise ValueError(f"{path} is neither a folder nor a tar archive; {fix}.") from err
    except (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} could not be read ({err}); {fix}.") from err
    if pairs is None:
        raise ValueError(f"{path} holds no {pairs_name}; is it the CRW-dev data?")
    return SimilarityData(pairs, contexts)


def _crw_files(path: Path) -> Iterator[Tuple[str, Callable[[], str]]]:
    """(name, reader) for each file of a folder or a tar archive, read only when asked."""
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            yield str(file.relative_to(path)), partial(file.read_text, encoding="utf8")
        return
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            if member.isfile():
                yield member.name, lambda m=member: archive.extractfile(m).read().decode("utf8")


def cosine(u: numpy.ndarray, v: numpy.ndarray) -> float:
    norm = float(numpy.linalg.norm(u) * numpy.linalg.norm(v))
    return float(numpy.dot(u, v) / norm) if norm > 0 else 0.0


def spearman(x, y) -> float:
    """Spearman's rho with average ranks for ties (NaN when a side is constant)."""
    return float(spearmanr(x, y).statistic)


def evaluate_similarity(
    pairs: List[WordPair], vectors: Mapping[str, numpy.ndarray]
) -> SimilarityResult:
    """Spearman's rho between gold scores and cosines (0 for pairs with a missing word)."""
    predicted, missing = [], 0
    for pair in pairs:
        u, v = vectors.get(pair.first), vectors.get(pair.second)
        if u is None or v is None:
            missing += 1
            predicted.append(0.0)
        else:
            predicted.append(cosine(u, v))
    return SimilarityResult(spearman([p.score for p in pairs], predicted), len(pairs), missing)
