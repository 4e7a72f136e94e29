"""A spacy-transformers TransformerModel that feeds rare words' BERTRAM vectors to the encoder.

The vectors come from `Doc._.bertram_vectors`. Between alignment and truncation the
wordpiece batch is edited (see `wordpiece_edit`), and the encoder gets
`inputs_embeds`: its own input embeddings with the vector slots overwritten. Batches
without vectors take spacy-transformers' own forward pass unchanged.
"""
import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy
import torch
from spacy.tokens import Doc, Span
from spacy.util import registry
from spacy_transformers.align import get_alignment, get_alignment_via_offset_mapping
from spacy_transformers.data_classes import FullTransformerBatch, HFObjects, WordpieceBatch
from spacy_transformers.layers import TransformerModel, split_trf_batch, trfs2arrays
from spacy_transformers.layers._util import replace_listener_cfg
from spacy_transformers.layers.transformer_model import (
    _convert_transformer_inputs,
    huggingface_tokenize,
    set_pytorch_transformer,
)
from spacy_transformers.layers.transformer_model import forward as plain_forward
from spacy_transformers.util import maybe_flush_pytorch_cache
from thinc.api import Model, chain, xp2torch
from thinc.model import serialize_attr
from thinc.types import ArgsKwargs, Floats2d, Ints1d, Ragged

from ..extensions import doc_vectors
from ..model.encoder import EncoderIdentity, load_tokenizer
from ..util import resolve_encoder_path
from .wordpiece_edit import EditPieces, check_mode, insert_vector_slots, truncate_with_slots

TOK2VEC_ARCHITECTURE = "bertram.Tok2VecTransformer.v1"


@dataclass(frozen=True)
class InjectionSettings:
    """How rare words' vectors enter the encoder: set by the config alone.

    They are not saved with the weights, so a trained pipeline loaded with another
    `mode` (e.g. a baseline given BERTRAM vectors at prediction time) uses that mode.
    """

    mode: str
    freeze_embeddings: bool


@serialize_attr.register(InjectionSettings)
def _skip_injection_settings(_, value, name: str, model: Model) -> bytes:
    # thinc's Model.to_dict leaves out attrs whose serializer raises TypeError.
    raise TypeError("InjectionSettings come from the config, not from saved weights")


class BertramTransformerModel(TransformerModel):
    """spacy-transformers' TransformerModel, with rare-word vectors put into its input
    (registered as "bertram.TransformerModel.v1").

    name (str): a local Hugging Face model folder, or "default" for the offline MiniLM.
    mode (str): "replace" puts each rare word's vector in place of its wordpieces;
        "slash" keeps the wordpieces and appends the separator and the vector.
    freeze_embeddings (bool): keep the input word embeddings fixed in training, so
        they stay in the space the BERTRAM vectors were trained for.
    """

    def __init__(
        self,
        name: str,
        get_spans: Callable,
        tokenizer_config: dict = {},
        transformer_config: dict = {},
        mixed_precision: bool = False,
        grad_scaler_config: dict = {},
        mode: str = "replace",
        freeze_embeddings: bool = True,
    ):
        name = resolve_encoder_path(name)
        # Copies: the shim writes into grad_scaler_config, and HF into transformer_config.
        super().__init__(
            name,
            get_spans,
            dict(tokenizer_config),
            dict(transformer_config),
            mixed_precision,
            dict(grad_scaler_config),
        )
        self._func = forward
        self.layers[0].attrs["convert_inputs"] = convert_inputs
        self.attrs["bertram"] = InjectionSettings(check_mode(mode), freeze_embeddings)
        self.attrs["set_transformer"] = set_transformer
        self.attrs["replace_listener_cfg"] = replace_bertram_listener_cfg

    @property
    def mode(self) -> str:
        return self.attrs["bertram"].mode

    def copy(self) -> "BertramTransformerModel":
        """A deep copy that stays a BertramTransformerModel (used by replace_listeners)."""
        copied = BertramTransformerModel(
            self.attrs["name"],
            self.attrs["get_spans"],
            mode=self.mode,
            freeze_embeddings=self.attrs["bertram"].freeze_embeddings,
        )
        for name in self.param_names:
            if self.has_param(name):
                copied.set_param(name, copy.deepcopy(self.get_param(name)))
        for name in self.dim_names:
            if self.has_dim(name):
                copied.set_dim(name, self.get_dim(name))
        copied.layers[0] = copy.deepcopy(self.layers[0])
        for name in ("has_transformer", "flush_cache_chance"):
            copied.attrs[name] = self.attrs[name]
        for name in self.grad_names:
            copied.set_grad(name, self.get_grad(name).copy())
        return copied


def set_transformer(model: BertramTransformerModel, hf_model: HFObjects) -> None:
    """Install the HF model; freeze its input embeddings when asked (the paper's setting).

    BERTRAM vectors live in the encoder's input-embedding space: fine-tuning that
    space during downstream training would leave them behind.
    """
    # In "slash" mode, fail here (initialize or load), not at the first doc with a vector.
    EditPieces.from_tokenizer(hf_model.tokenizer, model.mode)
    set_pytorch_transformer(model, hf_model)
    if model.attrs["bertram"].freeze_embeddings:
        hf_model.transformer.get_input_embeddings().weight.requires_grad_(False)


def encoder_identity(model: Model) -> Optional[EncoderIdentity]:
    """The encoder of a spacy-transformers TransformerModel (this package's or the stock one).

    Read from the loaded encoder, else from its folder before `initialize` loads it;
    None when neither is there (the transformer's own initialize then says why).
    """
    name = str(model.attrs.get("name", ""))
    if model.attrs.get("has_transformer"):
        width = model.transformer.get_input_embeddings().embedding_dim
        return EncoderIdentity.of(name, width, model.tokenizer)
    folder = Path(resolve_encoder_path(name)) if name else None
    if folder is None or not (folder / "config.json").is_file():
        return None
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder))
    width = getattr(config, "embedding_size", None) or config.hidden_size
    return EncoderIdentity.of(name, int(width), load_tokenizer(folder))


@dataclass
class WordpiecesWithVectors:
    """The encoder's input when some wordpiece positions take a given vector."""

    wordpieces: WordpieceBatch
    rows: Ints1d
    cols: Ints1d
    vectors: Floats2d


def forward(
    model: BertramTransformerModel, docs: List[Doc], is_train: bool
) -> Tuple[FullTransformerBatch, Callable]:
    doc_vecs = [doc_vectors(doc) for doc in docs]
    if not any(doc_vecs):
        return plain_forward(model, docs, is_train)
    tokenizer = model.tokenizer
    nested_spans = model.attrs["get_spans"](docs)
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    maybe_flush_pytorch_cache(chance=model.attrs.get("flush_cache_chance", 0))
    wordpieces, align = _tokenize_and_align(tokenizer, flat_spans)
    width = model.transformer.get_input_embeddings().embedding_dim
    rare, vectors = _collect_vectors(docs, nested_spans, doc_vecs, width)
    wordpieces, align, slots = insert_vector_slots(
        wordpieces, align, rare, model.mode, EditPieces.from_tokenizer(tokenizer, model.mode)
    )
    wordpieces, align, slots = truncate_with_slots(
        wordpieces, align, slots, tokenizer.model_max_length
    )
    rows, cols = numpy.divmod(slots.index, wordpieces.input_ids.shape[1])
    inputs = WordpiecesWithVectors(wordpieces, rows, cols, vectors[slots.vector])
    model_output, bp_tensors = model.layers[0](inputs, is_train)
    output = FullTransformerBatch(
        spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align
    )

    def backprop_transformer(d_output: FullTransformerBatch) -> List[Doc]:
        bp_tensors(d_output.model_output)
        return docs

    return output, backprop_transformer


def convert_inputs(model: Model, X, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    """HFWrapper input adapter: `inputs_embeds` with the vectors written in."""
    if isinstance(X, WordpieceBatch):
        return _convert_transformer_inputs(model, X, is_train)
    embeddings = model.shims[0]._hfmodel.transformer.get_input_embeddings()
    device = embeddings.weight.device
    wps = X.wordpieces
    grad_mode = contextlib.nullcontext() if is_train else torch.no_grad()
    with grad_mode:
        inputs_embeds = embeddings(xp2torch(wps.input_ids, device=device))
        vectors = xp2torch(X.vectors, device=device).to(inputs_embeds.dtype)
        position = (
            torch.as_tensor(X.rows, dtype=torch.long, device=device),
            torch.as_tensor(X.cols, dtype=torch.long, device=device),
        )
        inputs_embeds = inputs_embeds.index_put(position, vectors)
    if is_train and inputs_embeds.requires_grad:
        # The shim reads `.grad` from every input tensor after backprop (None when frozen).
        inputs_embeds.retain_grad()
    kwargs = {
        "inputs_embeds": inputs_embeds,
        "attention_mask": xp2torch(wps.attention_mask, device=device),
    }
    if wps.token_type_ids is not None:
        kwargs["token_type_ids"] = xp2torch(wps.token_type_ids, device=device)
    return ArgsKwargs(args=(), kwargs=kwargs), lambda dX: []


def replace_bertram_listener_cfg(tok2vec_model_cfg: Dict, listener_model_cfg: Dict) -> Dict:
    """Config for `nlp.replace_listeners`: this package's Tok2Vec, not spacy-transformers'."""
    result = replace_listener_cfg(tok2vec_model_cfg, listener_model_cfg)
    if result["@architectures"] != tok2vec_model_cfg["@architectures"]:
        result["@architectures"] = TOK2VEC_ARCHITECTURE
    return result


def _tokenize_and_align(tokenizer, flat_spans: List[Span]) -> Tuple[WordpieceBatch, Ragged]:
    batch_encoding = huggingface_tokenize(tokenizer, [span.text for span in flat_spans])
    wordpieces = WordpieceBatch.from_batch_encoding(batch_encoding)
    if "offset_mapping" in batch_encoding:
        align = get_alignment_via_offset_mapping(flat_spans, batch_encoding["offset_mapping"])
    else:
        align = get_alignment(flat_spans, wordpieces.strings, tokenizer.all_special_tokens)
    return wordpieces, align


def _collect_vectors(
    docs: List[Doc],
    nested_spans: List[List[Span]],
    doc_vecs: List[Dict[int, numpy.ndarray]],
    width: int,
) -> Tuple[Ints1d, Floats2d]:
    """Rare tokens as alignment rows (docs with spans, tokens in order) and their vectors."""
    rare: List[int] = []
    vectors: List[numpy.ndarray] = []
    offset = 0
    for doc, doc_spans, vecs in zip(docs, nested_spans, doc_vecs):
        if not doc_spans:
            continue
        for i, vector in sorted(vecs.items()):
            i = int(i)
            if not 0 <= i < len(doc):
                raise ValueError(
                    f"Doc._.bertram_vectors has a vector for token {i}, but the doc has "
                    f"{len(doc)} tokens. Keys must be token indices (token.i) of the doc "
                    "the vectors were set on; set them again after retokenizing."
                )
            vector = numpy.asarray(vector, dtype="float32")
            if vector.shape != (width,):
                raise ValueError(
                    f"Doc._.bertram_vectors[{i}] (token {doc[i].text!r}) has shape "
                    f"{vector.shape}, but the transformer's input embeddings have width "
                    f"{width}. Use a BERTRAM model trained for this transformer."
                )
            rare.append(offset + i)
            vectors.append(vector)
        offset += len(doc)
    matrix = numpy.stack(vectors) if vectors else numpy.zeros((0, width), dtype="float32")
    return numpy.asarray(rare, dtype="int64"), matrix


# The class is the architecture: `spacy-transformers.TransformerModel.v3`'s arguments
# plus `mode` and `freeze_embeddings` (see the class).
bertram_transformer_model_v1 = registry.architectures("bertram.TransformerModel.v1")(BertramTransformerModel)


@registry.architectures(TOK2VEC_ARCHITECTURE)
def bertram_tok2vec_transformer_v1(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict,
    pooling: Model[Ragged, Floats2d],
    grad_factor: float = 1.0,
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    mode: str = "replace",
    freeze_embeddings: bool = True,
) -> Model[List[Doc], List[Floats2d]]:
    """`spacy-transformers.Tok2VecTransformer.v3` over `bertram.TransformerModel.v1`.

    This is what `nlp.replace_listeners` puts in place of a listener; the nested
    chain matches a replaced `TransformerListener.v1`, so saved weights load back.
    """
    transformer = BertramTransformerModel(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        mixed_precision,
        grad_scaler_config,
        mode,
        freeze_embeddings,
    )
    return chain(chain(transformer, split_trf_batch()), trfs2arrays(pooling, grad_factor))
