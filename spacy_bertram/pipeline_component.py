"""The `bertram` pipeline component: flags rare words and gives each one a BERTRAM vector.

It runs before the `transformer` component, whose "bertram.TransformerModel.v1"
architecture reads `Doc._.bertram_vectors` and feeds the vectors to the encoder in
place of (or beside) the rare words' wordpieces. The component is a thin Pipe: the
model lives in `model/`, the contexts it reads in `contexts/pipeline_store.py`, the
vectors it keeps in `vector_cache.py`.
"""
import os
import re
import tempfile
import warnings
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

from .contexts.pipeline_store import PipelineStore
from .extensions import set_doc_vectors
from .frequency import FrequencySource, RareTokens
from .layers.transformer_model import encoder_identity
from .model import BertramModel, infer_vectors
from .model.encoder import EncoderIdentity
from .model.modeling_bertram import ENCODER_DIR
from .util import get_torch_device
from .vector_cache import VectorCache
from .vector_table import TableIdentity, VectorTable, table_identity

MODEL_DIR = "model"
STORE_FILE = "store.sqlite"
# What a saved component bundles: {MODEL_DIR: bool, STORE_FILE: bool}.
BUNDLE_FILE = "cfg"
# The only files `to_bytes` writes, so the only names `from_bytes` accepts.
_BYTES_NAME = re.compile(r"cfg|store\.sqlite|model/(encoder/)?[A-Za-z0-9_][A-Za-z0-9_.-]*")

DEFAULT_CONFIG = {
    "model_path": None,
    "frequency": {"@misc": "bertram.WordfreqFrequency.v1"},
    "rare_filter": {"@misc": "bertram.RareWordFilter.v2"},
    "store_path": None,
    "max_contexts": 32,
    "in_domain": True,
    "batch_size": 64,
    "device": "auto",
    "include_store": False,
    "keep_whole_words": True,
    "vectors_path": None,
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
    keep_whole_words: bool,
    vectors_path: Optional[str],
) -> "Bertram":
    """Construct the `bertram` component, which gives rare words BERTRAM vectors.

    model_path (Optional[str]): Folder of a trained BERTRAM model (`save_pretrained`).
        None flags rare words without vectors. A pipeline saved with a model loads
        only the copy it bundles (never this path of the machine that saved it).
    frequency (FrequencySource): Decides which words are rare.
    rare_filter (Callable[[Token], bool]): Whether a token may be rare at all. A token
        containing NUL is never rare.
    store_path (Optional[str]): SQLite context store with contexts for rare words. It
        must exist; it is opened read-only and never modified.
    max_contexts (int): Most contexts per word given to the model.
    in_domain (bool): Also take contexts from the texts being processed: the sentence
        (or the doc, or a window of 32 tokens each side) of every rare token in the
        current batch of `nlp.pipe` (one doc for `nlp(text)`). They are sampled with
        the store's contexts as if indexed into it; nothing is kept between batches,
        so a doc's vectors depend only on its batch and the store, never on earlier
        batches, `n_process` or the order of the docs in the batch.
    batch_size (int): Contexts per forward pass of the BERTRAM model.
    device (str): "auto" (GPU when spaCy uses one), "cpu", "cuda:0", ...
    include_store (bool): Save the context store with the pipeline.
    keep_whole_words (bool): Leave rare words that the tokenizer keeps whole (one known
        wordpiece) at their own embedding row, with no vector (as the transformer reads
        them anyway). False gives them a BERTRAM vector too: their row was trained on
        few occurrences. The setting overrides the model's own keep_whole_words.
    vectors_path (Optional[str]): Vector table of `python -m spacy_bertram precompute`
        for this model, store and max_contexts (another is refused). A word in it costs
        no model call, unless in-domain text of the batch enters its contexts.
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
        keep_whole_words=keep_whole_words,
        vectors_path=vectors_path,
    )


class Bertram(Pipe):
    """Flags rare tokens and sets `Doc._.bertram_rare` and `Doc._.bertram_vectors`.

    With keep_whole_words, rare words that the tokenizer keeps whole are flagged but
    get no vector: the transformer already reads exactly their row.

    Vectors are cached per word and recomputed only when the word's contexts change.
    `pipe` batches across docs: one store query and one model call per batch, and
    none for a batch without rare words.
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
        keep_whole_words: bool = True,
        vectors_path: Optional[Union[str, Path]] = None,
    ):
        if max_contexts < 1 or batch_size < 1:
            raise ValueError(
                f"bertram: max_contexts ({max_contexts}) and batch_size ({batch_size}) "
                "must be at least 1; fix them in [components.bertram]."
            )
        self.name = name
        self.vocab = vocab
        self.rare_tokens = RareTokens(frequency, rare_filter)
        paths = {"model_path": model_path, "store_path": store_path, "vectors_path": vectors_path}
        self.cfg: Dict[str, Any] = {
            **{key: None if path is None else str(path) for key, path in paths.items()},
            "max_contexts": max_contexts, "in_domain": in_domain, "batch_size": batch_size,
            "device": device, "include_store": include_store, "keep_whole_words": keep_whole_words,
        }
        self.contexts = PipelineStore(store_path)
        self.vectors = VectorCache()
        self._pid = os.getpid()
        self._use_model(model_path)

    def __reduce__(self):
        # Pipe is a Cython class whose generated pickling would skip __getstate__.
        return (self.__class__.__new__, (self.__class__,), self.__getstate__())

    def __getstate__(self) -> Dict[str, Any]:
        state = {**self.__dict__, "_table": None}  # a worker reads the table again
        state.pop("_bytes_dir", None)  # the parent keeps the folder alive
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

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
        if self._pid != os.getpid():
            # A forked worker of nlp.pipe(n_process=...): the OpenMP thread pool that
            # torch used in the parent does not survive fork, so run single-threaded.
            torch.set_num_threads(1)
            self._pid = os.getpid()
        rare = [self.rare_tokens.indices(doc) for doc in docs]
        model = self.bertram_model
        if model is None or not any(rare):
            return rare, {}
        keys = model.word_keys(doc[i].text for doc, indices in zip(docs, rare) for i in indices)
        # A word the model would give its own embedding row is left as the
        # transformer sees it anyway: no contexts, no model call, no slash copy.
        words = model.vector_words(sorted(set(keys.values())))
        in_domain_rare = rare if self.cfg["in_domain"] else None
        contexts_of = lambda ws: self.contexts.batch_contexts(ws, self.cfg["max_contexts"], docs, in_domain_rare)  # noqa: E731
        if self.vector_table is None:
            contexts, vectors = contexts_of(words), {}
        else:
            store_only = lambda ws: self.contexts.contexts(ws, self.cfg["max_contexts"])  # noqa: E731
            contexts, vectors = self.vector_table.settle(words, contexts_of, self.cfg["in_domain"], store_only)
        vectors.update({word: self.vectors.get(word, contexts[word]) for word in words if word not in vectors})
        todo = {word: contexts[word] for word, vector in vectors.items() if vector is None}
        if todo:
            settings = {"max_contexts": self.cfg["max_contexts"], "batch_size": self.cfg["batch_size"]}
            for word, vector in infer_vectors(model, todo, **settings).items():
                self.vectors.put(word, todo[word], vector)
                vectors[word] = vector
        return rare, {text: vectors[key] for text, key in keys.items() if vectors.get(key) is not None}

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
        if model is not None:
            if not isinstance(model, BertramModel):
                self.cfg["model_path"] = str(model)
            self._use_model(model)
        if store is not None:
            self.cfg["store_path"] = str(store)
            self._use_store(store)
        self.contexts.open()  # fail now, not at the first doc, on a missing or bad file
        _ = self.vector_table  # likewise for a missing, broken or stale vector table
        if nlp is not None and self.bertram_model is not None:
            check_encoder(nlp, self.name, self.bertram_model)
        if self.bertram_model is None:
            message = f"bertram: no BERTRAM model is configured, so '{self.name}' flags rare words without vectors."
            warnings.warn(f"{message} Set model_path in [components.bertram] to a BERTRAM model folder.", stacklevel=2)

    @property
    def bertram_model(self) -> Optional[BertramModel]:
        """The BERTRAM model (model_path is loaded on first use); None when there is none.
        Its keep_whole_words is the component's."""
        if self._model is not None and not isinstance(self._model, BertramModel):
            self._model = load_model(Path(self._model), bundled=False, device=self.cfg["device"])
        if self._model is not None:
            self._model.config.keep_whole_words = self.cfg["keep_whole_words"]
        return self._model

    @property
    def vector_table(self) -> Optional[VectorTable]:
        """The table of `vectors_path` (read and checked on first use); None without one or a model."""
        if self._table is None and self.cfg["vectors_path"] is not None and self.bertram_model is not None:
            self._table = VectorTable(self.cfg["vectors_path"], component_table_identity(self))
        return self._table

    def clear_cache(self) -> None:
        """Forget cached vectors and rarity decisions (they are rebuilt on demand)."""
        self.vectors.clear()
        self.rare_tokens.known.clear()

    def _use_model(self, model: Union[None, str, Path, BertramModel]) -> None:
        self._model = model
        self._table: Optional[VectorTable] = None  # checked against the new model on first use
        self.clear_cache()

    def _use_store(self, path: Optional[Union[str, Path]]) -> None:
        self.contexts.close()
        self.contexts = PipelineStore(path)
        self._table = None
        self.clear_cache()

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """Save the BERTRAM model with its encoder (and the store if `include_store`)."""
        model = self.bertram_model
        writers: Dict[str, Callable[[Path], None]] = {}
        if model is not None:
            writers[MODEL_DIR] = lambda p: model.save_pretrained(p, save_encoder=True)
        if self.cfg["include_store"] and self.contexts.open() is not None:
            writers[STORE_FILE] = self.contexts.copy_to
        bundles = {name: name in writers and name not in exclude for name in (MODEL_DIR, STORE_FILE)}
        util.to_disk(path, {BUNDLE_FILE: lambda p: srsly.write_json(p, bundles), **writers}, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "Bertram":
        """Load what `to_disk` saved: a bundled model or store, never the saving machine's paths.

        The config's model_path applies only to a pipeline saved without a model (it can
        only have been set when loading), and not at all to one saved by 0.1.0.
        """
        path = Path(path)
        bundles = _read_bundles(path)
        if not (path / BUNDLE_FILE).exists() and not bundles[MODEL_DIR]:
            self._use_model(None)  # 0.1.0: its model_path may be the saving machine's
        readers: Dict[str, Callable[[Path], None]] = {
            MODEL_DIR: lambda p: self._use_model(load_model(p, bundled=True, device=self.cfg["device"])),
            STORE_FILE: lambda p: self._use_store(_check_bundled(p)),
        }
        util.from_disk(path, {name: read for name, read in readers.items() if bundles.get(name)}, exclude)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """Serialize the model folder's files (and the store if `include_store`)."""
        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(tmp, exclude=exclude)
            return _pack_folder(Path(tmp))

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "Bertram":
        """Load what `to_bytes` made (untrusted: only the names it writes are accepted)."""
        files = _unpack_files(bytes_data)  # checked before anything is written
        self._bytes_dir = tempfile.TemporaryDirectory(prefix="bertram-")
        _write_files(files, Path(self._bytes_dir.name))
        return self.from_disk(self._bytes_dir.name, exclude=exclude)


def component_table_identity(component: Bertram) -> TableIdentity:
    """What a vector table for the component is made with: its model, store and max_contexts."""
    if component.bertram_model is None:
        raise ValueError(f"bertram: '{component.name}' has no model to make or check a vector table with.")
    name = component.cfg["model_path"] or "the pipeline's bundled model"
    return table_identity(component.bertram_model, name, component.contexts.open(), component.cfg["max_contexts"])


def _read_bundles(path: Path) -> Dict[str, bool]:
    """What a saved component bundles; one saved by 0.1.0 (no record) bundles what it holds."""
    record = path / BUNDLE_FILE
    if not record.exists():
        return {name: (path / name).exists() for name in (MODEL_DIR, STORE_FILE)}
    try:
        saved = srsly.read_json(record)
    except ValueError:
        saved = None
    if not isinstance(saved, dict) or not all(isinstance(saved.get(n), bool) for n in (MODEL_DIR, STORE_FILE)):
        raise ValueError(
            f"bertram: {record} does not say what the saved component bundles "
            f'(expected {{"{MODEL_DIR}": true/false, "{STORE_FILE}": true/false}}). Save the pipeline again.'
        )
    return saved


def _pack_folder(folder: Path) -> bytes:
    files = {f.relative_to(folder).as_posix(): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}
    return srsly.msgpack_dumps(files)


def _write_files(files: Dict[str, bytes], folder: Path) -> None:
    for name, data in files.items():
        target = folder.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _unpack_files(bytes_data: bytes) -> Dict[str, bytes]:
    """The files of `_pack_folder` output, refusing any name the component does not write."""
    files = srsly.msgpack_loads(bytes_data)
    if not isinstance(files, dict):
        raise ValueError(
            "bertram: these bytes are not a serialized bertram component; pass the output of Bertram.to_bytes."
        )
    for name, data in files.items():
        if not isinstance(name, str) or not _BYTES_NAME.fullmatch(name) or not isinstance(data, bytes):
            raise ValueError(
                f"bertram: refusing serialized data with the entry {name!r}: the component "
                "only reads the files it writes (cfg, store.sqlite, model/FILE, "
                "model/encoder/FILE). Pass the output of Bertram.to_bytes or nlp.to_bytes."
            )
    return files


def load_model(path: Path, *, bundled: bool, device: str) -> BertramModel:
    """Load a BERTRAM model folder: a bundled one only with the encoder inside it."""
    if not bundled and not path.exists():
        raise ValueError(
            f"bertram: model_path '{path}' does not exist. Point model_path in "
            "[components.bertram] at a folder saved by BertramModel.save_pretrained, "
            "or set it to null to only flag rare words."
        )
    encoder = None
    if bundled:
        encoder = path / ENCODER_DIR
        _check_bundled(path)
        _check_bundled(encoder)
    return BertramModel.from_pretrained(path, device=get_torch_device(device), encoder_path=encoder)


def _check_bundled(path: Path) -> Path:
    if not path.exists():
        raise ValueError(
            f"bertram: the saved pipeline bundles {path}, which is missing. Restore it or "
            "save the pipeline again with nlp.to_disk; a saved pipeline loads only what it "
            "bundles, never the paths of the machine that saved it."
        )
    return path


def check_encoder(nlp: Language, name: str, model: BertramModel) -> None:
    """Raise if a transformer after `name` has another encoder than the one `model` was
    trained for: its vectors would be read in a space they do not belong to."""
    ours = EncoderIdentity.of(model.config.encoder_path, model.embedding_dim, model.tokenizer)
    names = nlp.pipe_names
    for trf in names[names.index(name) + 1 :]:
        if nlp.get_pipe_meta(trf).factory != "transformer":
            continue
        theirs = encoder_identity(nlp.get_pipe(trf).model)
        if theirs is not None and (theirs.width, theirs.tokenizer) != (ours.width, ours.tokenizer):
            raise ValueError(
                f"bertram: the BERTRAM model of '{name}' was trained for the encoder {ours}, but "
                f"the transformer '{trf}' uses {theirs}. Use a BERTRAM model trained for "
                f"the transformer's encoder (model_path in [components.{name}])."
            )


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
                f"[components.{trf}.model].",
                stacklevel=2,
            )
    if name not in config["training"].get("annotating_components", []):
        warnings.warn(
            f"bertram: '{name}' is not in [training] annotating_components, so training "
            "docs get no vectors while predictions do. Add it there, or pass "
            f"annotates=['{name}'] to nlp.update.",
            stacklevel=2,
        )
