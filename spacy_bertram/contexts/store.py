"""The context store: an embedded SQLite file of sentences, word counts and contexts.

One file in WAL mode. Sentences are stored once (keyed by a hash of their text);
each word keeps an exact occurrence count and up to `max_contexts_per_word`
sentences, sampled bottom-k with seeded keys (see `batch.py`): a uniform sample that
is the same whatever the order or the partitioning of the input. `contexts(word,
limit)` returns the `limit` smallest-key contexts, itself a uniform sample.

Words are keyed lower-cased as spaCy's blank English tokenizer splits them, and only
tokens with at least one letter get counts and contexts. The store is path-based:
it pickles as its settings and opens one connection per process, lazily, so
`nlp.pipe(n_process=...)` workers and Dask tasks can use it. Writers take short
`BEGIN IMMEDIATE` transactions with a busy timeout and retries, so concurrent
writers wait for each other instead of failing.

Corpus sources are recorded by content digest in the transaction that writes
their counts, which fails (`SourcesAlreadyIndexed`, nothing written) when another
writer recorded one of them first: each distinct content is counted once, however
many processes index it at once. A store in a folder this process cannot write
(e.g. one installed with a packaged pipeline) is read in place, as immutable.
"""
import json
import os
import random
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import (
    Any,
    Callable,
    Collection,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

import numpy
from spacy.attrs import LOWER
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span

from .batch import CorpusSample

SCHEMA_VERSION = 1
APPLICATION_ID = 0x42525452  # "BRTR": marks the file as a spacy-bertram context store
BUSY_TIMEOUT_MS = 60_000
WRITE_RETRIES = 8
DEFAULT_BATCH_SIZE = 5_000
DEFAULT_MAX_CONTEXTS = 256
DEFAULT_SEED = 0
_SQL_INT_MAX = 2**63 - 1
# The files SQLite keeps beside a store (WAL, shared-memory index, rollback journal).
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")
_META_KEYS = ("max_contexts_per_word", "seed", "tokens", "sentences_added")
_TABLES = ("meta", "sentences", "words", "contexts", "sources")
_REBUILD = "Rebuild it with `python -m spacy_bertram index CORPUS --store NEW_PATH`."

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sentences (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE words (word TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE contexts (
    word TEXT NOT NULL,
    key INTEGER NOT NULL,
    sentence_id INTEGER NOT NULL,
    PRIMARY KEY (word, key)
) WITHOUT ROWID;
CREATE TABLE sources (
    digest TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sentences INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    indexed_at REAL NOT NULL
);
"""

# One statement for many words: per word, one index seek finds the key of its
# limit-th context, then a range scan of its contexts up to that key.
_CONTEXTS_MANY = """
SELECT c.word, s.text
FROM (SELECT DISTINCT value AS word FROM json_each(?)) AS q
JOIN contexts AS c ON c.word = q.word
JOIN sentences AS s ON s.id = c.sentence_id
WHERE c.key <= COALESCE(
    (SELECT key FROM contexts WHERE word = q.word ORDER BY key LIMIT 1 OFFSET ?), 9223372036854775807
)
ORDER BY c.word, c.key
"""

_OVER_CAP = "SELECT word FROM words WHERE word IN (SELECT value FROM json_each(?)) AND count > ?"

_SOURCES_OF = """
SELECT digest, name, sentences, tokens FROM sources
WHERE digest IN (SELECT value FROM json_each(?)) OR name IN (SELECT value FROM json_each(?))
"""

_KTH_KEYS = """
SELECT word, key FROM (
    SELECT word, key, ROW_NUMBER() OVER (PARTITION BY word ORDER BY key) AS rank
    FROM contexts WHERE word IN (SELECT value FROM json_each(?))
) WHERE rank = ?
"""


_per_thread = threading.local()


def english_tokenizer() -> Tokenizer:
    """The blank English tokenizer that defines how the store splits and keys words.

    One per thread (tokenizers keep a cache), built once.
    """
    tokenizer = getattr(_per_thread, "tokenizer", None)
    if tokenizer is None:
        import spacy

        tokenizer = _per_thread.tokenizer = spacy.blank("en").tokenizer
    return tokenizer


def word_key(word: str) -> str:
    """The form under which the store keys a word."""
    return word.lower()


def is_indexed_word(text: str) -> bool:
    """Only tokens with at least one letter, and no NUL, get counts and contexts.

    NUL is excluded because SQLite's JSON functions cut strings at it.
    """
    return "\0" not in text and any(c.isalpha() for c in text)


def _is_space(text: str) -> bool:
    return not text or text.isspace()


class SourceRecord(NamedTuple):
    """An indexed corpus source, recorded with the text it contributed."""

    digest: str
    name: str
    sentences: int
    tokens: int


class SourcesAlreadyIndexed(Exception):
    """Another writer recorded some of a batch's sources first; the batch was not written."""

    def __init__(self, digests: Collection[str]) -> None:
        self.digests = frozenset(digests)
        super().__init__(f"{len(self.digests)} source(s) of the batch are already indexed; nothing was written.")


def store_files(path: Union[str, Path]) -> List[Path]:
    """A store file and the side files SQLite keeps beside it."""
    path = Path(path)
    return [path] + [path.with_name(path.name + suffix) for suffix in SIDE_FILE_SUFFIXES]


def make_batch(
    sentences: Sequence[str],
    lower_hashes: Sequence[numpy.ndarray],
    lookup: Callable[[int], str],
    cap: int,
    seed: int,
) -> CorpusSample:
    """A CorpusSample of tokenized sentences, keyed and filtered as the store keys words."""
    return CorpusSample.from_token_arrays(
        sentences, lower_hashes, lookup, cap=cap, seed=seed, is_word=is_indexed_word, is_space=_is_space
    )


class ContextStore:
    """Sentences, exact word counts and sampled contexts in one SQLite file.

    path: the store file; created (with its settings) when missing or empty.
    max_contexts_per_word, seed: the sampling settings, recorded in a new store.
        An existing store keeps the settings it was built with (a warning says
        so when different ones are given; None takes them silently), so its
        samples stay consistent.
    read_only: open an existing store for reading only; one in a folder this
        process cannot write is opened immutable (SQLite cannot keep its WAL
        index beside it, and nobody can change it there).
    """

    def __init__(
        self,
        path: Union[str, Path],
        max_contexts_per_word: Optional[int] = DEFAULT_MAX_CONTEXTS,
        seed: Optional[int] = DEFAULT_SEED,
        read_only: bool = False,
    ) -> None:
        if max_contexts_per_word is not None and (
            not isinstance(max_contexts_per_word, int) or max_contexts_per_word < 1
        ):
            raise ValueError(
                f"max_contexts_per_word must be a positive integer, got {max_contexts_per_word!r}."
            )
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"seed must be an integer, got {type(seed).__name__}.")
        self.path = Path(path)
        self.read_only = bool(read_only)
        self._requested = (max_contexts_per_word, seed)
        self.max_contexts_per_word = DEFAULT_MAX_CONTEXTS if max_contexts_per_word is None else max_contexts_per_word
        self.seed = DEFAULT_SEED if seed is None else seed
        self._conn: Optional[sqlite3.Connection] = None
        self._pid: Optional[int] = None
        # word -> key of its k-th context, for words at the cap. Keys only ever
        # shrink, so a stale value is a safe pre-filter; pruning stays exact.
        self._thresholds: Dict[str, int] = {}
        self._open()

    # -- connection ------------------------------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        return {
            "_requested": (None, None),
            "path": self.path,
            "read_only": self.read_only,
            "max_contexts_per_word": self.max_contexts_per_word,
            "seed": self.seed,
        }

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._conn = None
        self._pid = None
        self._thresholds = {}

    def __enter__(self) -> "ContextStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        settings = f"max_contexts_per_word={self.max_contexts_per_word}, seed={self.seed}"
        return f"ContextStore({str(self.path)!r}, {settings}, {mode})"

    def close(self) -> None:
        """Close this process's connection; the store reopens on next use."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None
        self._pid = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self._open()
        assert self._conn is not None
        return self._conn

    def _open(self) -> None:
        if self.path.is_dir():
            raise ValueError(
                f"{self.path} is a directory, not a context store; give the path of a store "
                f"file, e.g. {self.path / 'contexts.sqlite'}."
            )
        if self.read_only:
            if not self.path.exists():
                raise FileNotFoundError(
                    f"No context store at {self.path}. Build one with "
                    f"`python -m spacy_bertram index CORPUS --store {self.path}`."
                )
            conn = sqlite3.connect(self._read_only_uri(), uri=True, isolation_level=None, check_same_thread=False)
        else:
            self._check_can_write()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            self._check_or_create(conn)
        except BaseException:
            conn.close()
            raise
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -65536")
        self._conn = conn
        self._pid = os.getpid()

    def _read_only_uri(self) -> str:
        path = self.path.resolve()
        _, wal, shm, _ = store_files(path)
        if os.access(path.parent, os.W_OK) or shm.exists():
            return f"{path.as_uri()}?mode=ro"
        if wal.exists() and wal.stat().st_size > 0:
            raise ValueError(
                f"The context store {self.path} cannot be read in place: its folder is read-only "
                f"and {wal.name} holds changes not yet merged into it. Open it once read-write "
                f"where its folder is writable (or copy it with its -wal file to such a folder)."
            )
        # SQLite cannot create the WAL index in a folder it cannot write; nobody can
        # change the store there either, so it is read as immutable.
        return f"{path.as_uri()}?immutable=1"

    def _check_can_write(self) -> None:
        """Refuse up front a store this process could read but not extend."""
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise self._read_only_error("the file is not writable")
        if not os.access(folder, os.W_OK):
            raise self._read_only_error(f"its folder {folder} is not writable (SQLite keeps its -wal file beside it)")

    def _read_only_error(self, reason: str) -> ValueError:
        return ValueError(
            f"Cannot write the context store {self.path}: {reason}. Make it writable or pass "
            f"a new store path to add text; to only read it, open it with read_only=True."
        )

    def _check_or_create(self, conn: sqlite3.Connection) -> None:
        try:
            app_id, version = self._header(conn)
            if app_id == 0 and version == 0 and not self._has_tables(conn):
                if self.read_only:
                    raise ValueError(
                        f"{self.path} is an empty file, not a context store. Build one with "
                        f"`python -m spacy_bertram index CORPUS --store {self.path}`."
                    )
                self._retry(lambda: self._create(conn))
                app_id, version = self._header(conn)
        except sqlite3.DatabaseError as err:
            raise ValueError(
                f"{self.path} is not a spacy-bertram context store (SQLite: {err}). "
                f"Nothing was changed. Pass a new path to build a store, or the path of "
                f"a store built by `python -m spacy_bertram index`."
            ) from err
        if app_id != APPLICATION_ID:
            raise ValueError(
                f"{self.path} is an SQLite file of another application, not a spacy-bertram "
                f"context store. Nothing was changed. Pass a new path or an existing store."
            )
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"{self.path} is a context store of schema version {version}, newer than this "
                f"spacy-bertram supports ({SCHEMA_VERSION}). Upgrade spacy-bertram to read it."
            )
        recorded = self._settings(conn)
        given = tuple(r if g is None else g for g, r in zip(self._requested, recorded))
        if recorded != given and not self.read_only:
            warnings.warn(
                f"The context store {self.path} was built with max_contexts_per_word="
                f"{recorded[0]}, seed={recorded[1]}; it keeps those settings (given "
                f"{given[0]}, {given[1]}). Use a new path for other settings.",
                UserWarning,
                stacklevel=4,
            )
        self.max_contexts_per_word, self.seed = recorded

    def _settings(self, conn: sqlite3.Connection) -> Tuple[int, int]:
        """The recorded (max_contexts_per_word, seed), after checking the store is whole."""
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in _TABLES if t not in tables]
        meta = {} if missing else dict(conn.execute("SELECT key, value FROM meta").fetchall())
        missing += [f"meta row {k!r}" for k in _META_KEYS if k not in meta or not str(meta[k]).lstrip("-").isdigit()]
        if missing:
            raise ValueError(
                f"{self.path} is not a complete spacy-bertram context store ({', '.join(missing)} "
                f"missing or damaged). {_REBUILD}"
            )
        return int(meta["max_contexts_per_word"]), int(meta["seed"])

    @staticmethod
    def _header(conn: sqlite3.Connection) -> Tuple[int, int]:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return app_id, version

    @staticmethod
    def _has_tables(conn: sqlite3.Connection) -> bool:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._header(conn) == (0, 0) and not self._has_tables(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                meta = {
                    "max_contexts_per_word": self.max_contexts_per_word,
                    "seed": self.seed,
                    "tokens": 0,
                    "sentences_added": 0,
                }
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _retry(self, work: Callable[[], T]) -> T:
        """Run a write, retrying with jittered backoff while another writer holds the lock."""
        for attempt in range(WRITE_RETRIES):
            try:
                return work()
            except sqlite3.OperationalError as err:
                message = str(err).lower()
                if "readonly" in message:
                    raise self._read_only_error(f"SQLite says {err}") from err
                if ("locked" not in message and "busy" not in message) or attempt == WRITE_RETRIES - 1:
                    raise
                time.sleep(min(5.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _check_writable(self) -> None:
        if self.read_only:
            raise ValueError(
                f"The context store {self.path} is open read-only; open it with read_only=False to add text."
            )

    # -- writing ---------------------------------------------------------------

    def add_sentences(self, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Add sentences (one string each); returns the number added.

        Counts grow with every occurrence, also of a sentence seen before; the
        sentence text is stored once.
        """
        self._check_writable()
        tokenizer = english_tokenizer()
        added = 0
        chunk: List[str] = []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"add_sentences expects strings, got {type(text).__name__}: {text!r:.80}")
            text = text.strip()
            if text:
                chunk.append(text)
            if len(chunk) >= batch_size:
                added += self._add_tokenized(chunk, tokenizer)
                chunk = []
        if chunk:
            added += self._add_tokenized(chunk, tokenizer)
        return added

    def _add_tokenized(self, sentences: List[str], tokenizer: Tokenizer) -> int:
        arrays = [doc.to_array(LOWER) for doc in tokenizer.pipe(sentences, batch_size=1000)]
        self.add_batch(self.make_batch(sentences, arrays, tokenizer.vocab.strings.__getitem__))
        return len(sentences)

    def add_docs(self, docs: Iterable[Doc], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Add the sentences of spaCy docs (doc.sents when set, else the whole doc).

        The docs' own tokens are used; returns the number of sentences added.
        """
        self._check_writable()
        sentences: List[str] = []
        arrays: List[numpy.ndarray] = []
        vocab = None
        added = 0
        for doc in docs:
            if not isinstance(doc, Doc):
                raise TypeError(f"add_docs expects spaCy Doc objects, got {type(doc).__name__}.")
            if vocab is not None and (doc.vocab is not vocab or len(sentences) >= batch_size):
                added += self._add_arrays(sentences, arrays, vocab)
                sentences, arrays = [], []
            vocab = doc.vocab
            for text, array, _, _ in doc_sentences(doc):
                sentences.append(text)
                arrays.append(array)
        if sentences:
            added += self._add_arrays(sentences, arrays, vocab)
        return added

    def _add_arrays(self, sentences: List[str], arrays: List[numpy.ndarray], vocab: Any) -> int:
        self.add_batch(self.make_batch(sentences, arrays, vocab.strings.__getitem__))
        return len(sentences)

    def make_batch(
        self, sentences: Sequence[str], lower_hashes: Sequence[numpy.ndarray], lookup: Callable[[int], str]
    ) -> CorpusSample:
        """A CorpusSample of tokenized sentences with this store's sampling settings."""
        return make_batch(sentences, lower_hashes, lookup, self.max_contexts_per_word, self.seed)

    def add_batch(self, batch: CorpusSample, sources: Sequence[SourceRecord] = ()) -> None:
        """Merge a batch into the store in one transaction.

        sources: the corpus sources whose text the batch holds, recorded in the same
        transaction, so an interrupted indexing run never records a missing source.
        Raises SourcesAlreadyIndexed, writing nothing, when the store already
        records one of them (e.g. another process indexed it meanwhile).
        """
        self._check_writable()
        if (batch.cap, batch.seed) != (self.max_contexts_per_word, self.seed):
            raise ValueError(
                f"The batch was sampled with cap={batch.cap}, seed={batch.seed} but the store "
                f"uses {self.max_contexts_per_word}, {self.seed}; build batches with store.make_batch."
            )
        conn = self._connection()
        new_thresholds = self._retry(lambda: self._write(conn, batch, sources))
        self._thresholds.update(new_thresholds)

    def _write(self, conn: sqlite3.Connection, batch: CorpusSample, sources: Sequence[SourceRecord]) -> Dict[str, int]:
        cap = self.max_contexts_per_word
        thresholds = numpy.array(
            [self._thresholds.get(w, _SQL_INT_MAX) for w in batch.words], dtype=numpy.int64
        )
        keep = batch.pair_key < thresholds[batch.pair_word] if batch.n_pairs else numpy.zeros(0, bool)
        rows = batch.pair_rows(keep)  # in B-tree order: inserts touch each page once
        sentence_ids = numpy.unique(batch.pair_sentence[keep]).tolist()
        touched = sorted(batch.words[w] for w in numpy.unique(batch.pair_word[keep]).tolist())
        digests = json.dumps([source.digest for source in sources])
        conn.execute("BEGIN IMMEDIATE")
        try:
            if sources:
                claimed = "SELECT digest FROM sources WHERE digest IN (SELECT value FROM json_each(?))"
                taken = [d for (d,) in conn.execute(claimed, (digests,))]
                if taken:
                    raise SourcesAlreadyIndexed(taken)
            conn.executemany(
                "INSERT INTO words (word, count) VALUES (?, ?) "
                "ON CONFLICT (word) DO UPDATE SET count = count + excluded.count",
                sorted(zip(batch.words, batch.counts.tolist())),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO sentences (id, text) VALUES (?, ?)",
                ((i, batch.sentences[i]) for i in sentence_ids),
            )
            conn.executemany("INSERT OR IGNORE INTO contexts (word, key, sentence_id) VALUES (?, ?, ?)", rows)
            # Only words seen more than `cap` times can hold more than `cap` contexts.
            over = [w for (w,) in conn.execute(_OVER_CAP, (json.dumps(touched), cap))] if touched else []
            kth = dict(conn.execute(_KTH_KEYS, (json.dumps(over), cap)).fetchall()) if over else {}
            conn.executemany("DELETE FROM contexts WHERE word = ? AND key > ?", kth.items())
            conn.executemany(
                "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = ?",
                [(batch.n_tokens, "tokens"), (batch.n_sentences, "sentences_added")],
            )
            conn.executemany(
                "INSERT INTO sources (digest, name, sentences, tokens, indexed_at) VALUES (?, ?, ?, ?, ?)",
                [(*source, time.time()) for source in sources],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return kth

    def compact(self) -> int:
        """Delete sentences that no word samples any more; returns how many."""
        self._check_writable()
        conn = self._connection()

        def work() -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "DELETE FROM sentences WHERE id NOT IN (SELECT sentence_id FROM contexts)"
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return cursor.rowcount

        return self._retry(work)

    # -- reading ---------------------------------------------------------------

    def contexts(self, word: str, limit: Optional[int] = None) -> List[str]:
        """Sentences containing the word: its whole sample, or a `limit`-sized subset."""
        if "\0" in word:
            return []
        rows = self._connection().execute(
            "SELECT s.text FROM contexts AS c JOIN sentences AS s ON s.id = c.sentence_id "
            "WHERE c.word = ? ORDER BY c.key LIMIT ?",
            (word_key(word), _sql_limit(limit)),
        )
        return [text for (text,) in rows]

    def contexts_many(self, words: Iterable[str], limit: Optional[int] = None) -> Dict[str, List[str]]:
        """Contexts of many words in one query; keys are the words as given."""
        words = list(words)
        keys = sorted({word_key(w) for w in words if "\0" not in w})  # never indexed words
        found: Dict[str, List[str]] = {key: [] for key in keys}
        offset = _SQL_INT_MAX if limit is None else _sql_limit(limit) - 1
        if offset >= 0:
            for key, text in self._connection().execute(_CONTEXTS_MANY, (json.dumps(keys), offset)):
                found[key].append(text)
        return {w: list(found.get(word_key(w), ())) for w in words}

    def count(self, word: str) -> int:
        """Exact number of occurrences of the word in all text added."""
        if "\0" in word:
            return 0
        row = self._connection().execute("SELECT count FROM words WHERE word = ?", (word_key(word),)).fetchone()
        return 0 if row is None else int(row[0])

    def counts(self, min_count: int = 1) -> Iterator[Tuple[str, int]]:
        """(word, count) pairs with count >= min_count, most frequent first."""
        cursor = self._connection().execute(
            "SELECT word, count FROM words WHERE count >= ? ORDER BY count DESC, word", (min_count,)
        )
        cursor.arraysize = 10_000
        while True:
            rows = cursor.fetchmany()
            if not rows:
                return
            yield from rows

    def total_tokens(self) -> int:
        """Number of (non-space) tokens added, the denominator of relative frequencies."""
        row = self._connection().execute("SELECT value FROM meta WHERE key = 'tokens'").fetchone()
        return int(row[0])

    def recorded_sources(self, digests: Iterable[str], names: Iterable[str]) -> List[SourceRecord]:
        """The recorded sources with one of these content digests or names."""
        rows = self._connection().execute(_SOURCES_OF, (json.dumps(list(digests)), json.dumps(list(names))))
        return [SourceRecord(*row) for row in rows]

    def stats(self) -> Dict[str, Any]:
        """Sizes and settings of the store."""
        conn = self._connection()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())

        def scalar(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0] or 0)

        return {
            "path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            "max_contexts_per_word": self.max_contexts_per_word,
            "seed": self.seed,
            "words": scalar("SELECT count(*) FROM words"),
            "occurrences": scalar("SELECT sum(count) FROM words"),
            "tokens": int(meta["tokens"]),
            "sentences_added": int(meta["sentences_added"]),
            "sentences_stored": scalar("SELECT count(*) FROM sentences"),
            "contexts": scalar("SELECT count(*) FROM contexts"),
            "sources": scalar("SELECT count(*) FROM sources"),
            "file_bytes": self.path.stat().st_size if self.path.exists() else 0,
        }


def doc_sentences(doc: Doc) -> Iterator[Tuple[str, numpy.ndarray, int, int]]:
    """(text, LOWER hashes, start, end) of each sentence of a doc (the whole doc if unsplit)."""
    lowers = doc.to_array(LOWER)
    spans: Iterable[Span] = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
    for span in spans:
        text = span.text.strip()
        if text:
            yield text, lowers[span.start : span.end], span.start, span.end


def _sql_limit(limit: Optional[int]) -> int:
    if limit is None:
        return -1
    if not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be None or a non-negative integer, got {limit!r}.")
    return limit
