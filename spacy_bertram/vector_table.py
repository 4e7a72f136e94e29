"""Precomputed BERTRAM vectors: a folder of safetensors chunks and JSON word lists.

`python -m spacy_bertram precompute` writes it; the `bertram` component reads it
(`vectors_path`) so that a word of the store costs no model call. Layout:

    table.json              identity: the model's and the store's fingerprints, max_contexts
    words-00000.json        the words of chunk 0, in row order
    vectors-00000.safetensors   their vectors: one float32 tensor "vectors" [n_words, dim]

A chunk counts once its vectors file exists (each file is written whole, then renamed),
so an interrupted run leaves a usable table and a re-run continues after its last chunk.
A vector is valid only for the model and store it was inferred with, and the sample
size `max_contexts`: a table made with others is refused. Nothing here is pickled.
"""
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

import numpy
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from .contexts.store import ContextStore
from .model import BertramModel
from .util import read_json

TABLE_FILE = "table.json"
TABLE_FORMAT = "spacy-bertram vector table"
TABLE_VERSION = 1
_CHUNK = re.compile(r"vectors-(\d{5})\.safetensors")
# The store's statistics that change whenever text is added (not its path or file size).
_STORE_KEYS = ("schema_version", "max_contexts_per_word", "seed", "words", "occurrences", "tokens",
               "sentences_added", "contexts", "sources")


def table_identity(
    model: BertramModel, model_name: str, store: Optional[ContextStore], max_contexts: int
) -> "TableIdentity":
    """What a table of vectors by `model` from `store`'s samples of `max_contexts` is made with."""
    return TableIdentity(
        model=model_name,
        model_sha256=model_fingerprint(model),
        store=None if store is None else str(store.path),
        store_sha256=store_fingerprint(store),
        max_contexts=max_contexts,
        dim=model.embedding_dim,
    )


def model_fingerprint(model: BertramModel) -> str:
    """sha256 of everything a vector depends on: config, n-grams, tokenizer vocabulary, all weights."""
    digest = hashlib.sha256()
    digest.update(json.dumps(model.config.to_dict(), sort_keys=True).encode("utf8"))
    vocab = model.ngram_vocab
    digest.update(json.dumps([vocab.n_min, vocab.n_max, vocab.lowercase, vocab.ngrams]).encode("utf8"))
    digest.update(json.dumps(sorted(model.tokenizer.get_vocab().items())).encode("utf8"))
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode("utf8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def store_fingerprint(store: Optional[ContextStore]) -> Optional[str]:
    """sha256 of the store's settings and sizes (any added text changes them); None without a store."""
    if store is None:
        return None
    stats = store.stats()
    return hashlib.sha256(json.dumps([stats[k] for k in _STORE_KEYS]).encode("utf8")).hexdigest()


class TableIdentity:
    """What a table's vectors were inferred with; two tables agree only when all of it matches."""

    def __init__(self, model: str, model_sha256: str, store: Optional[str], store_sha256: Optional[str],
                 max_contexts: int, dim: int) -> None:
        self.model, self.model_sha256 = model, model_sha256
        self.store, self.store_sha256 = store, store_sha256
        self.max_contexts, self.dim = max_contexts, dim

    def to_dict(self) -> Dict[str, Any]:
        return {"format": TABLE_FORMAT, "version": TABLE_VERSION, **self.__dict__}

    @classmethod
    def read(cls, folder: Path) -> "TableIdentity":
        path = folder / TABLE_FILE
        fix = f"make the table with `python -m spacy_bertram precompute --store STORE --model MODEL --out {folder}`"
        data = read_json(path, fix)
        fields = {"model": str, "model_sha256": str, "store": (str, type(None)),
                  "store_sha256": (str, type(None)), "max_contexts": int, "dim": int}
        if (
            not isinstance(data, dict)
            or data.get("format") != TABLE_FORMAT
            or data.get("version") != TABLE_VERSION
            or not all(isinstance(data.get(k), t) for k, t in fields.items())
        ):
            raise ValueError(
                f"bertram: {path} is not a version-{TABLE_VERSION} vector table record. "
                "Make the table again with `python -m spacy_bertram precompute`."
            )
        return cls(**{k: data[k] for k in fields})

    def write(self, folder: Path) -> None:
        _write_atomic(folder / TABLE_FILE, json.dumps(self.to_dict(), indent=2).encode("utf8"))

    def check_same(self, other: "TableIdentity", table: Path) -> None:
        """Raise unless `other` (the model and store in use) made the vectors of `table`."""
        fix = (
            f"Make a new table with `python -m spacy_bertram precompute --store {other.store} "
            f"--model {other.model} --out NEW_FOLDER`, or set vectors_path = null."
        )
        if other.model_sha256 != self.model_sha256:
            if other.model == self.model:
                fix = f"The folder's weights or the component's settings (keep_whole_words) changed since. {fix}"
            raise ValueError(
                f"bertram: the vector table {table} is stale: it was made with the model {self.model} "
                f"(sha256 {self.model_sha256[:12]}), not {other.model} (sha256 {other.model_sha256[:12]}). {fix}"
            )
        if other.store_sha256 != self.store_sha256:
            raise ValueError(
                f"bertram: the vector table {table} is stale: it was made from the context store {self.store} "
                f"(sha256 {str(self.store_sha256)[:12]}), not {other.store} "
                f"(sha256 {str(other.store_sha256)[:12]}). {fix}"
            )
        if other.max_contexts != self.max_contexts:
            raise ValueError(
                f"bertram: the vector table {table} was made with max_contexts = {self.max_contexts}, "
                f"not {other.max_contexts}. Set max_contexts = {self.max_contexts}. {fix}"
            )


class VectorTable:
    """The vectors of a table folder, read whole: word -> read-only float32 vector."""

    def __init__(self, folder: Union[str, Path], expected: TableIdentity) -> None:
        self.folder = Path(folder)
        self.identity = TableIdentity.read(self.folder)
        self.identity.check_same(expected, self.folder)
        words: List[str] = []
        blocks: List[numpy.ndarray] = []
        for index in _chunk_indices(self.folder):
            chunk_words, vectors = _read_chunk(self.folder, index, self.identity.dim)
            words += chunk_words
            blocks.append(vectors)
        self.vectors = numpy.concatenate(blocks) if blocks else numpy.zeros((0, self.identity.dim), numpy.float32)
        self.vectors.flags.writeable = False
        self.rows = {word: row for row, word in enumerate(words)}

    def settle(
        self, words: Sequence[str], contexts: Callable[[Sequence[str]], Dict[str, List[str]]], in_domain: bool,
        store_contexts: Callable[[Sequence[str]], Dict[str, List[str]]],
    ) -> Tuple[Dict[str, List[str]], Dict[str, numpy.ndarray]]:
        """(contexts of the words the table does not settle, the table's vectors).

        A table vector holds for the store's own sample: with in-domain text, a word whose
        sample takes in text of the batch is left to the cache and the model.
        """
        found = {w: self.get(w) for w in words if w in self}
        found_contexts = contexts([w for w in words if in_domain or w not in found])
        if found and in_domain:
            alone = store_contexts(list(found))
            found = {w: v for w, v in found.items() if found_contexts[w] == alone[w]}
        return found_contexts, found

    def get(self, word: str) -> Optional[numpy.ndarray]:
        """The word's precomputed vector, else None."""
        row = self.rows.get(word)
        return None if row is None else self.vectors[row]

    def __contains__(self, word: str) -> bool:
        return word in self.rows

    def __len__(self) -> int:
        return len(self.rows)


class TableWriter:
    """Appends chunks to a table folder; a new writer on the same folder resumes it.

    A folder holding a table of another model, store or max_contexts is refused.
    """

    def __init__(self, folder: Union[str, Path], identity: TableIdentity) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"bertram: --out {self.folder} is a file; give a folder for the vector table.")
        if (self.folder / TABLE_FILE).exists():
            TableIdentity.read(self.folder).check_same(identity, self.folder)
        elif self.folder.exists() and any(self.folder.iterdir()):
            raise ValueError(
                f"bertram: --out {self.folder} is a non-empty folder without a vector table; "
                "give a new or empty folder."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        identity.write(self.folder)
        self.dim = identity.dim
        self.next_index = max(_chunk_indices(self.folder), default=-1) + 1

    def done_words(self) -> Set[str]:
        """The words the folder's chunks already hold."""
        return {w for index in _chunk_indices(self.folder) for w in _read_chunk(self.folder, index, self.dim)[0]}

    def write_chunk(self, vectors: Mapping[str, numpy.ndarray]) -> None:
        """Write one chunk: its word list first, then (completing it) its vectors."""
        words = list(vectors)
        matrix = numpy.stack([vectors[w] for w in words]).astype(numpy.float32, copy=False)
        name = f"{self.next_index:05d}"
        _write_atomic(self.folder / f"words-{name}.json", json.dumps(words, ensure_ascii=False).encode("utf8"))
        tmp = self.folder / f".vectors-{name}.tmp"
        save_file({"vectors": numpy.ascontiguousarray(matrix)}, str(tmp))
        os.replace(tmp, self.folder / f"vectors-{name}.safetensors")
        self.next_index += 1


def _chunk_indices(folder: Path) -> List[int]:
    return sorted(int(m.group(1)) for m in (_CHUNK.fullmatch(p.name) for p in folder.iterdir()) if m)


def _read_chunk(folder: Path, index: int, dim: int) -> Tuple[List[str], numpy.ndarray]:
    vectors_path = folder / f"vectors-{index:05d}.safetensors"
    words_path = folder / f"words-{index:05d}.json"
    redo = "Delete the folder and run `python -m spacy_bertram precompute` again."
    try:
        words = json.loads(words_path.read_text(encoding="utf8"))
        vectors = load_file(str(vectors_path)).get("vectors")
    except (OSError, ValueError, SafetensorError) as err:
        raise ValueError(f"bertram: cannot read the vector table chunk {vectors_path} ({err}). {redo}") from None
    if (
        not isinstance(words, list)
        or not all(isinstance(w, str) for w in words)
        or vectors is None
        or vectors.dtype != numpy.float32
        or vectors.shape != (len(words), dim)
    ):
        raise ValueError(
            f"bertram: the vector table chunk {vectors_path} does not match {words_path.name} "
            f"(expected one float32 tensor 'vectors' of shape [{len(words) if isinstance(words, list) else '?'}, "
            f"{dim}]). {redo}"
        )
    return words, vectors


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

