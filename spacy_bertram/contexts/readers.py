"""Corpus readers: files, folders and zip archives of text, JSONL and spaCy DocBins.

A corpus path becomes a list of `Source`s (a file, or one member of a zip), each
with a content digest so that an indexing run can skip what a store already holds.
Formats:

- "text": each non-empty line is a paragraph, split into sentences by spaCy's
  rule-based sentencizer;
- "lines": one sentence a line (e.g. tokenized corpora such as movie_reviews);
- "brown": the Brown corpus's `word/TAG` tokens, one sentence a line; tags are
  stripped and ``/'' quotes become plain double quotes;
- "jsonl": one JSON object a line with a "text" field, sentence-split;
- "docbin": spaCy `.spacy` files; their sentences when set, else sentence-split;
- "auto" (default): by file suffix (.jsonl, .spacy), else "brown" when the lines
  look like `word/TAG` tokens, else "text".

Files that look binary (judged on their first 8 KiB, as git does: a NUL byte, or
text that is not UTF-8 and full of control characters) are skipped with a
warning, unless they are DocBins.
"""
import fnmatch
import json
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, DocBin

FORMATS = ("auto", "text", "lines", "brown", "jsonl", "docbin")
SENTENCE_SPLIT_FORMATS = ("text", "jsonl")
# nltk_data archives ship these metadata files beside the texts.
METADATA_NAMES = frozenset({"README", "README.txt", "cats.txt", "CONTENTS", "LICENSE", "LICENSE.txt"})
_TAGGED_TOKEN = re.compile(r"^\S+/[^/\s]+$")
_SNIFF_LINES = 20
_HEAD_BYTES = 8192
_CONTROL_BYTES = frozenset(range(32)) - {9, 10, 11, 12, 13}


@dataclass(frozen=True)
class Source:
    """One unit of a corpus: a file, or a member of a zip archive."""

    path: str
    member: Optional[str]
    format: str
    digest: str
    size: int

    @property
    def name(self) -> str:
        return self.path if self.member is None else f"{self.path}!{self.member}"

    def read_bytes(self) -> bytes:
        if self.member is None:
            return Path(self.path).read_bytes()
        return _open_zip(self.path, *_file_version(self.path), os.getpid()).read(self.member)


@lru_cache(maxsize=4)
def _open_zip(path: str, mtime_ns: int, size: int, pid: int) -> zipfile.ZipFile:
    """An open archive, kept: reading its directory again for every member is slow.
    One per process: forked processes would share the file's read position."""
    return zipfile.ZipFile(path)


def _file_version(path: str) -> Tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


def list_sources(
    paths: Iterable[Union[str, Path]],
    format: str = "auto",
    members: Union[str, Sequence[str], None] = None,
    exclude: Iterable[Union[str, Path]] = (),
) -> List[Source]:
    """The sources of corpus paths (files, folders, zips), in a stable order.

    members: globs (one or several) of which zip members must match one
    (default: all but metadata files). exclude: files never read (e.g. the
    store being written, when it lies inside the corpus folder). Source names
    are absolute paths, so a file is recognised however it was given.
    """
    if isinstance(members, str):
        members = [members]
    if format not in FORMATS:
        raise ValueError(f"Unknown corpus format {format!r}; choose one of {', '.join(FORMATS)}.")
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    excluded = {Path(p).resolve() for p in exclude}
    if not paths:
        raise ValueError("No corpus paths given; pass files, folders or zip archives of text.")
    sources: List[Source] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"Corpus path {path} does not exist; check the path.")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.resolve() in excluded:
                continue
            file = Path(os.path.abspath(file))
            if zipfile.is_zipfile(file):
                sources.extend(_zip_sources(file, format, members))
            elif file.name not in METADATA_NAMES:
                data = file.read_bytes()
                fmt = _detect(file.name, data) if format == "auto" else format
                if _is_binary(str(file), fmt, data[:_HEAD_BYTES]):
                    continue
                digest = "blake2b:" + blake2b(data, digest_size=16).hexdigest()
                sources.append(Source(str(file), None, fmt, digest, len(data)))
    if not sources:
        raise ValueError(f"No text found under {', '.join(map(str, paths))}; check the paths and --members.")
    return sources


def _zip_sources(path: Path, format: str, members: Optional[Sequence[str]]) -> Iterator[Source]:
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            base = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or not base:
                continue
            if members is not None and not any(fnmatch.fnmatch(info.filename, m) for m in members):
                continue
            if members is None and base in METADATA_NAMES:
                continue
            with archive.open(info) as handle:
                head = handle.read(_HEAD_BYTES)
            fmt = _detect(info.filename, head) if format == "auto" else format
            if _is_binary(f"{path}!{info.filename}", fmt, head):
                continue
            digest = f"zip:{info.filename}:{info.CRC:08x}:{info.file_size}"
            yield Source(str(path), info.filename, fmt, digest, info.file_size)


def _detect(name: str, head: bytes) -> str:
    lower = name.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lower.endswith((".spacy", ".docbin")):
        return "docbin"
    lines = [line for line in _decode(head).splitlines() if line.strip()][:_SNIFF_LINES]
    tokens = [tok for line in lines for tok in line.split()]
    if tokens and sum(bool(_TAGGED_TOKEN.match(t)) for t in tokens) >= 0.9 * len(tokens):
        return "brown"
    return "text"


def _is_binary(name: str, format: str, head: bytes) -> bool:
    """Whether a text-format source looks binary; warns that it is skipped."""
    if format == "docbin":
        return False
    if b"\0" not in head:
        try:
            head.decode("utf8")
            return False
        except UnicodeDecodeError as err:
            if err.start >= len(head) - 3:  # a character cut by the 8 KiB boundary
                return False
        if sum(byte in _CONTROL_BYTES for byte in head) <= 0.01 * len(head):
            return False
    warnings.warn(
        f"Skipping {name}: it looks binary, not text. Convert it to UTF-8 text to index it, "
        f"or pass --format docbin if it is a spaCy DocBin.",
        UserWarning,
        stacklevel=3,
    )
    return True


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte is a latin-1 character: nothing is lost


def read_texts(source: Source) -> Iterator[str]:
    """The source's text units: sentences for "lines"/"brown", paragraphs otherwise."""
    if source.format == "docbin":
        raise ValueError(f"{source.name} is a DocBin; read it with read_docs.")
    text = _decode(source.read_bytes())
    if source.format == "jsonl":
        yield from _jsonl_texts(source, text)
        return
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if source.format == "brown":
            words = [tok.rsplit("/", 1)[0] for tok in line.split()]
            line = " ".join('"' if w in ("``", "''") else w for w in words)
        yield line


def _jsonl_texts(source: Source, text: str) -> Iterator[str]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{source.name} line {number} is not valid JSON ({err.msg}); fix or remove that line."
            ) from err
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(
                f"{source.name} line {number} has no string \"text\" field; each JSONL line must "
                f'be an object like {{"text": "..."}}.'
            )
        yield record["text"]


def read_docs(source: Source, vocab) -> Iterator[Doc]:
    """The docs of a DocBin source."""
    try:
        doc_bin = DocBin().from_bytes(source.read_bytes())
    except Exception as err:
        raise ValueError(f"{source.name} is not a spaCy DocBin ({err}); use --format to pick its format.") from err
    yield from doc_bin.get_docs(vocab)


def is_presplit(source: Source) -> bool:
    """Whether the source's text units are already sentences."""
    return source.format not in SENTENCE_SPLIT_FORMATS and source.format != "docbin"

