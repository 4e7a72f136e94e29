"""The `bertram` pipeline component: flags rare words and gives each one a BERTRAM vector.

It runs before the `transformer` component, whose "bertram.TransformerModel.v1"
architecture reads `Doc._.bertram_vectors` and feeds the vectors to the encoder in
place of (or beside) the rare words' wordpieces.
"""
import os
import shutil
import sqlite3
import tempfile
import warnings
from collections import OrderedDict
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
import torch
from spacy import util
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Token
from spacy.training import Example

from .contexts.store import ContextStore
from .extensions import register_extensions, set_doc_vectors
from .frequency import FrequencySource
from .model import BertramModel
from .util import get_torch_device

# Tokens on each side of a rare word that make its in-domain context when the doc
# has no sentence boundaries (bertram runs before any parser or senter).
CONTEXT_WINDOW = 32
# Most words whose vectors stay cached; the least recently used go first.
CACHE_SIZE = 100_000
MODEL_DIR = "model"
STORE_FILE = "store.sqlite"

DEFAULT_CONFIG = {
    "model_path": None,
    "frequency": {"@misc": "bertram.WordfreqFrequency.v1"},
    "rare_filter": {"@misc": "bertram.RareWordFilter.v1"},
    "store_path": None,
    "max_contexts": 32,
    "in_domain": True,
    "batch_size": 64,
    "device": "auto",
    "include_store": False,
}

# Per doc: the rare token indices; per word: its vector.
Predictions = Tuple[List[List[int]], Dict[str, numpy.ndarray]]


@Language.factory(
    "bertram",
    assigns=["doc._.bertram_vectors", "doc._.bertram_rare"],
    default_config=DEFAULT_CONFIG,
)
def make_bertram(
    nlp: Language,
    name: str,
    model_path: Optional[str],
    frequency: FrequencySource,
    rare_filter: Callable[[Token], bool],
    store_path: Optional[str],
    max_contexts: int,
    in_domain: bool,
    batch_size: int,
    device: str,
    include_store: bool,
) -> "Bertram":
    """Construct the `bertram` component, which gives rare words BERTRAM vectors.

    model_path (Optional[str]): Folder of a trained BERTRAM model (`save_pretrained`).
        None flags rare words without vectors. A pipeline saved with a model loads
        it from its own folder instead.
    frequency (FrequencySource): Decides which words are rare.
    rare_filter (Callable[[Token], bool]): Whether a token may be rare at all.
    store_path (Optional[str]): SQLite context store with contexts for rare words.
    max_contexts (int): Most contexts per word given to the model.
    in_domain (bool): Add the contexts of rare words the pipeline sees to the store
        before inferring. They go to a private temporary copy of the store (one per
        process), so the file at `store_path` is never modified.
    batch_size (int): Contexts per forward pass of the BERTRAM model.
    device (str): "auto" (GPU when spaCy uses one), "cpu", "cuda:0", ...
    include_store (bool): Save the context store with the pipeline.
    """
    return Bertram(
        nlp.vocab,
        name=name,
        model_path=model_path,
        frequency=frequency,
        rare_filter=rare_filter,
        store_path=store_path,
        max_contexts=max_contexts,
        in_domain=in_domain,
        batch_size=batch_size,
        device=device,
        include_store=include_store,
    )


class Bertram(Pipe):
    """Flags rare tokens and sets `Doc._.bertram_rare` and `Doc._.bertram_vectors`.

    Rare words that the model leaves at their own embedding row (a model trained with
    keep_whole_words, a word its tokenizer keeps whole) are flagged but get no vector:
    the transformer already reads exactly that row for them.

    Vectors are cached per word and recomputed only when the word's contexts in the
    store change. `pipe` batches across docs: one store query and one model call
    per batch, and none for a batch without rare words.
    """

    def __init__(
        self,
        vocab,
        *,
        name: str = "bertram",
        model_path: Optional[Union[str, Path]] = None,
        frequency: FrequencySource,
        rare_filter: Callable[[Token], bool],
        store_path: Optional[Union[str, Path]] = None,
        max_contexts: int = 32,
        in_domain: bool = True,
        batch_size: int = 64,
        device: str = "auto",
        include_store: bool = False,
    ):
        if max_contexts < 1 or batch_size < 1:
            raise ValueError(
                f"bertram: max_contexts ({max_contexts}) and batch_size ({batch_size}) "
                "must be at least 1; fix them in [components.bertram]."
            )
        self.name = name
        self.vocab = vocab
        self.frequency = frequency
        self.rare_filter = rare_filter
        self.cfg: Dict[str, Any] = {
            "model_path": None if model_path is None else str(model_path),
            "store_path": None if store_path is None else str(store_path),
            "max_contexts": max_contexts,
            "in_domain": in_domain,
            "batch_size": batch_size,
            "device": device,
            "include_store": include_store,
        }
        self._bertram_model: Optional[BertramModel] = None
        self._model_resolved = False
        self._lowercase = True  # set from the model's config when it loads
        # The store file to open (the configured one, or one saved with the pipeline)
        # and whether it belongs to the pipeline, so in-domain writes go to a copy.
        self._store_source: Optional[Path] = None if store_path is None else Path(store_path)
        self._store_bundled = False
        self.clear_cache()
        self._reset_process_state()
        register_extensions()

    def clear_cache(self) -> None:
        """Forget cached vectors and rarity decisions (they are rebuilt on demand)."""
        self._rare_words: Dict[str, bool] = {}
        self._cache: "OrderedDict[str, Tuple[int, numpy.ndarray]]" = OrderedDict()

    def _reset_process_state(self) -> None:
        """State of one process (the store connection): opened lazily, never shared."""
        self._pid = os.getpid()
        self._store: Optional[ContextStore] = None
        self._private_folder: Optional[str] = None
        self._added: set = set()

    def _check_process(self) -> None:
        if self._pid != os.getpid():
            # A forked worker of nlp.pipe(n_process=...). The OpenMP thread pool that
            # torch used in the parent does not survive fork, so torch must run
            # single-threaded here or it hangs; the store gets its own connection.
            torch.set_num_threads(1)
            self._reset_process_state()

    def __reduce__(self):
        # Pipe is a Cython class whose generated pickling would skip __getstate__.
        return (self.__class__.__new__, (self.__class__,), self.__getstate__())

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_pid", "_store", "_private_folder", "_added", "_rare_words", "_cache"):
            state.pop(key)
        state.pop("_bytes_dir", None)  # the parent keeps the folder alive
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.clear_cache()
        self._reset_process_state()

    def __call__(self, doc: Doc) -> Doc:
        """Flag the rare tokens of one doc and set their vectors."""
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Process docs in batches: one store query and one model call per batch."""
        error_handler = self.get_error_handler()
        for docs in util.minibatch(stream, size=batch_size):
            try:
                self.set_annotations(docs, self.predict(docs))
                yield from docs
            except Exception as e:
                error_handler(self.name, self, docs, e)

    def predict(self, docs: Sequence[Doc]) -> Predictions:
        """Find the rare tokens of a batch and the vectors of their words."""
        self._check_process()
        rare = [self._rare_indices(doc) for doc in docs]
        model = self.bertram_model
        if model is None or not any(rare):
            return rare, {}
        keys = {
            doc[i].text: self._word_key(doc[i]) for doc, idx in zip(docs, rare) for i in idx
        }
        store = self._open_store()
        if store is not None and self.cfg["in_domain"]:
            self._add_in_domain(store, docs, rare)
        # A word the model would give its own embedding row is left as the
        # transformer sees it anyway: no contexts, no model call, no slash copy.
        candidates = sorted(set(keys.values()))
        words = [w for w, own in zip(candidates, model.keeps_own_row(candidates)) if not own]
        found = self._contexts(store, words)
        contexts = {word: found.get(word.lower(), []) for word in words}
        vectors, todo = {}, {}
        for word in words:
            fingerprint = hash(tuple(contexts[word]))
            cached = self._cache.get(word)
            if cached is not None and cached[0] == fingerprint:
                self._cache.move_to_end(word)
                vectors[word] = cached[1]
            else:
                todo[word] = contexts[word]
        if todo:
            inferred = model.infer_vectors(
                todo, max_contexts=self.cfg["max_contexts"], batch_size=self.cfg["batch_size"]
            )
            for word, vector in inferred.items():
                self._cache_put(word, hash(tuple(todo[word])), vector)
                vectors[word] = vector
        return rare, {text: vectors[key] for text, key in keys.items() if key in vectors}

    def set_annotations(self, docs: Sequence[Doc], predictions: Predictions) -> None:
        """Write the rare indices and their vectors to the docs."""
        rare, vectors = predictions
        for doc, indices in zip(docs, rare):
            doc_vectors = {i: vectors[doc[i].text] for i in indices if doc[i].text in vectors}
            set_doc_vectors(doc, indices, doc_vectors)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        model: Optional[Union[str, Path, BertramModel]] = None,
        store: Optional[Union[str, Path]] = None,
    ) -> None:
        """Check the pipeline and load the model and store that the config names.

        model, store: override `model_path` and `store_path` (e.g. from
            [initialize.components.bertram]); a loaded BertramModel is used as is.
        """
        if nlp is not None:
            check_pipeline(nlp, self.name)
        if isinstance(model, BertramModel):
            self._set_model(model)
        elif model is not None:
            self.cfg["model_path"] = str(model)
            self._bertram_model, self._model_resolved = None, False
        if store is not None:
            self.cfg["store_path"] = str(store)
            self._set_store_source(store, bundled=False)
        self._open_store()  # fail now, not at the first doc, on a missing file
        if self.bertram_model is None:
            warnings.warn(
                f"bertram: no BERTRAM model is configured, so '{self.name}' flags rare "
                "words without vectors. Set model_path in [components.bertram] to a "
                "folder saved by BertramModel.save_pretrained."
            )

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """Save the BERTRAM model with its encoder (and the store if `include_store`)."""
        serialize: Dict[str, Callable[[Path], None]] = {}
        model = self.bertram_model
        if model is not None:
            serialize[MODEL_DIR] = lambda p: model.save_pretrained(p, save_encoder=True)
        store_file = self._store_file() if self.cfg["include_store"] else None
        if store_file is not None:
            serialize[STORE_FILE] = lambda p: _copy_sqlite(store_file, p)
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "Bertram":
        """Load what `to_disk` saved."""
        path = Path(path)
        deserialize: Dict[str, Callable[[Path], None]] = {}
        if (path / MODEL_DIR).exists():
            deserialize[MODEL_DIR] = self._load_model
        if (path / STORE_FILE).exists():
            deserialize[STORE_FILE] = lambda p: self._set_store_source(p, bundled=True)
        util.from_disk(path, deserialize, exclude)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """Serialize the model folder's files (and the store if `include_store`)."""
        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(tmp, exclude=exclude)
            files = {
                str(file.relative_to(tmp)): file.read_bytes()
                for file in sorted(Path(tmp).rglob("*"))
                if file.is_file()
            }
        return srsly.msgpack_dumps(files)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "Bertram":
        """Load what `to_bytes` made; a store is kept in a temporary folder."""
        files: Dict[str, bytes] = srsly.msgpack_loads(bytes_data)
        self._bytes_dir = tempfile.TemporaryDirectory(prefix="bertram-")
        for name, data in files.items():
            target = Path(self._bytes_dir.name) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return self.from_disk(self._bytes_dir.name, exclude=exclude)

    def _rare_indices(self, doc: Doc) -> List[int]:
        rare_words = self._rare_words
        indices = []
        for token in doc:
            text = token.text
            is_rare = rare_words.get(text)
            if is_rare is None:
                is_rare = rare_words[text] = bool(
                    self.rare_filter(token) and self.frequency.is_rare(text)
                )
            if is_rare:
                indices.append(token.i)
        return indices

    def _word_key(self, token: Token) -> str:
        return token.lower_ if self._lowercase else token.text

    @property
    def bertram_model(self) -> Optional[BertramModel]:
        """The BERTRAM model: loaded from `model_path` on first use, None if unset."""
        if not self._model_resolved:
            self._model_resolved = True
            if self._bertram_model is None and self.cfg["model_path"] is not None:
                path = Path(self.cfg["model_path"])
                if not path.exists():
                    raise ValueError(
                        f"bertram: model_path '{path}' does not exist. Point model_path "
                        "in [components.bertram] at a folder saved by "
                        "BertramModel.save_pretrained, or set it to null to only flag "
                        "rare words."
                    )
                self._load_model(path)
        return self._bertram_model

    def _load_model(self, path: Path) -> None:
        device = get_torch_device(self.cfg["device"])
        self._set_model(BertramModel.from_pretrained(path, device=device))

    def _set_model(self, model: BertramModel) -> None:
        self._bertram_model = model
        self._model_resolved = True
        # The model masks contexts case-insensitively, so case only matters to its form.
        self._lowercase = model.config.lowercase_ngrams
        self._cache.clear()

    def _set_store_source(self, path: Optional[Union[str, Path]], *, bundled: bool) -> None:
        self._close_store()
        self._store_source = None if path is None else Path(path)
        self._store_bundled = bundled
        self._cache.clear()

    def _store_file(self) -> Optional[Path]:
        """The file the component reads contexts from (a private copy if in-domain)."""
        store = self._open_store()
        return None if store is None else Path(store.path)

    def _open_store(self) -> Optional[ContextStore]:
        """Open the store once per process: lazily, so the component pickles without it."""
        self._check_process()
        if self._store is not None:
            return self._store
        source, in_domain = self._store_source, self.cfg["in_domain"]
        if source is None and not in_domain:
            return None
        if source is not None and not source.exists() and (self._store_bundled or not in_domain):
            raise ValueError(
                f"bertram: the context store '{source}' does not exist. Build it with "
                "ContextStore.add_sentences (or the corpus indexer), fix store_path in "
                "[components.bertram], or set in_domain = true to collect contexts "
                "from the texts the pipeline sees."
            )
        path = source
        if in_domain:
            # Never write into the configured store or a saved pipeline: in-domain
            # contexts go to a private copy, so other pipelines and reruns see the
            # corpus store unchanged.
            path = self._private_store_path()
            if source is not None:
                _copy_sqlite(source, path)
        # None: keep the cap and seed recorded in the store.
        self._store = ContextStore(
            path, max_contexts_per_word=None, seed=None, read_only=not in_domain
        )
        self._added = set()
        return self._store

    def _private_store_path(self) -> Path:
        """A temporary store file that is removed when the component or process ends.

        multiprocessing's finalizers also run when a forked worker exits, and a
        worker never runs those of its parent.
        """
        self._private_folder = tempfile.mkdtemp(prefix="bertram-store-")
        Finalize(self, shutil.rmtree, args=(self._private_folder, True), exitpriority=0)
        return Path(self._private_folder) / STORE_FILE

    def _close_store(self) -> None:
        self._check_process()
        if self._store is not None:
            self._store.close()
            if self._private_folder is not None:
                shutil.rmtree(self._private_folder, ignore_errors=True)
        self._store = None
        self._private_folder = None

    def _add_in_domain(self, store: ContextStore, docs: Sequence[Doc], rare: List[List[int]]) -> None:
        """Add the text around each rare token, once per distinct text and process."""
        texts = []
        for doc, indices in zip(docs, rare):
            for text in _contexts_of(doc, indices):
                key = hash(text)
                if key not in self._added:
                    self._added.add(key)
                    texts.append(text)
        if texts:
            store.add_sentences(texts)

    def _contexts(self, store: Optional[ContextStore], words: List[str]) -> Dict[str, List[str]]:
        if store is None:
            return {}
        lowered = sorted({word.lower() for word in words})
        return store.contexts_many(lowered, limit=self.cfg["max_contexts"])

    def _cache_put(self, word: str, fingerprint: int, vector: numpy.ndarray) -> None:
        self._cache[word] = (fingerprint, vector)
        self._cache.move_to_end(word)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)


def _contexts_of(doc: Doc, indices: List[int]) -> List[str]:
    """The distinct contexts of a doc's rare tokens."""
    return list(dict.fromkeys(_context_of(doc, i) for i in indices))


def _context_of(doc: Doc, i: int) -> str:
    """The token's sentence, else the doc, else (when too long) a window around it."""
    longest = 2 * CONTEXT_WINDOW + 1
    if doc.has_annotation("SENT_START"):
        sentence = doc[i].sent
        if len(sentence) <= longest:
            return sentence.text
    if len(doc) <= longest:
        return doc.text
    return doc[max(0, i - CONTEXT_WINDOW) : i + CONTEXT_WINDOW + 1].text


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy a SQLite file consistently (even while open) into a self-contained file."""
    target = Path(target)
    if target.exists():
        if target.resolve() == Path(source).resolve():  # saving where it was loaded from
            return
        target.unlink()
    with sqlite3.connect(str(source)) as src, sqlite3.connect(str(target)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    src.close()
    dst.close()


def check_pipeline(nlp: Language, name: str) -> None:
    """Raise if no transformer follows `name`; warn if it cannot read the vectors."""
    names = nlp.pipe_names
    position = names.index(name)
    transformers = [n for n in names if nlp.get_pipe_meta(n).factory == "transformer"]
    if not transformers:
        raise ValueError(
            f"bertram: the pipeline {names} has no `transformer` component, so nothing "
            f"reads the vectors that '{name}' sets. Add one after it: "
            f"nlp.add_pipe('transformer', after='{name}', config={{'model': "
            "{'@architectures': 'bertram.TransformerModel.v1', ...}})."
        )
    before = [n for n in transformers if names.index(n) < position]
    if before:
        raise ValueError(
            f"bertram: '{name}' runs after the transformer component(s) {before} in "
            f"{names}, so they never see its vectors. Place it first: "
            f"nlp.add_pipe('bertram', before='{transformers[0]}')."
        )
    config = nlp.config
    for trf in transformers:
        architecture = config["components"][trf].get("model", {}).get("@architectures", "")
        if not architecture.startswith("bertram."):
            warnings.warn(
                f"bertram: the transformer '{trf}' uses the architecture '{architecture}', "
                "which ignores BERTRAM vectors. Use 'bertram.TransformerModel.v1' in "
                f"[components.{trf}.model]."
            )
    if name not in config["training"].get("annotating_components", []):
        warnings.warn(
            f"bertram: '{name}' is not in [training] annotating_components, so training "
            "docs get no vectors while predictions do. Add it there, or pass "
            f"annotates=['{name}'] to nlp.update."
        )
