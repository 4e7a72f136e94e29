"""BertramModel: a frozen encoder plus BERTRAM's form, mimicking and output layers.

The model maps a word and its contexts to one vector in the encoder's input
word-embedding space. Trainable parts are tiny sub-modules with stable names, so the
training stages can move weights between models with `load_parts`:

- `form`: bag of character n-gram embeddings (masked mean, n-gram dropout in train,
  a sparse gradient)
- `mimicking`: attentive mimicking across a word's context vectors
- `output`: linear map from the encoder's hidden size into its input-embedding space
- `gate`: the shallow mode's gate over (context, form); only in "shallow" mode
- `wordpiece`: a linear correction of a multi-piece word's wordpiece mean; only with
  `config.wordpiece_residual` and `config.wordpiece_map`
- `encoder`: the frozen transformer; always in eval mode, never trained

With `config.wordpiece_residual`, `base_vectors` (the mean of the encoder's input
embeddings of the word's wordpieces, corrected by `wordpiece` when there is one) is
added to the form part and to the context part's output, so every mode outputs that
baseline plus a learned correction; with `config.keep_whole_words` only words the
tokenizer splits get the correction. With `config.context_weight` the context part
predicts the whole vector instead (it learns from every frequent word, whole ones
too), and `combine` blends it into the form vector with that weight.
"""
import dataclasses
import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..util import get_torch_device, resolve_encoder_path
from .configuration_bertram import BertramConfig
from .masking import ContextBatch, ContextTokenizer
from .ngrams import NGRAMS_NAME, PAD_ID, NgramVocab

WEIGHTS_NAME = "model.safetensors"
ENCODER_DIR = "encoder"
TRAINABLE_PARTS = ("form", "mimicking", "output", "gate", "wordpiece")
_FROM_ENCODER = {"encoder_path", "mode", "embedding_dim", "hidden_size"}


@dataclass
class BertramBatch:
    """A set of (word, contexts) items ready for `BertramModel.forward`."""

    words: List[str]
    ngram_ids: torch.Tensor  # [W, G] long, PAD_ID-padded
    ngram_mask: torch.Tensor  # [W, G] bool
    contexts: Optional[ContextBatch]  # None in "form" mode

    def __len__(self) -> int:
        return len(self.words)

    def to(self, device: torch.device) -> "BertramBatch":
        return BertramBatch(
            self.words,
            self.ngram_ids.to(device),
            self.ngram_mask.to(device),
            None if self.contexts is None else self.contexts.to(device),
        )


class NgramEmbedding(nn.Module):
    """Form vector: masked mean of a word's n-gram embeddings.

    The table's gradient is sparse (the rows a batch touches): the table has tens of
    thousands of rows and a batch touches a few hundred, so a dense gradient and
    optimiser update would cost far more than the step itself.
    """

    def __init__(self, n_ngrams: int, dim: int, dropout: float, init_std: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.embedding = nn.Embedding(n_ngrams, dim, padding_idx=PAD_ID, sparse=True)
        nn.init.normal_(self.embedding.weight, std=init_std)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()

    def forward(self, ngram_ids: torch.Tensor, ngram_mask: torch.Tensor) -> torch.Tensor:
        mask = ngram_mask
        if self.training and self.dropout > 0:
            kept = mask & (torch.rand(mask.shape, device=mask.device) >= self.dropout)
            emptied = kept.sum(dim=1, keepdim=True) == 0  # keep at least one n-gram
            mask = torch.where(emptied, mask, kept)
        weights = mask.unsqueeze(-1).to(self.embedding.weight.dtype)
        summed = (self.embedding(ngram_ids) * weights).sum(dim=1)
        return summed / weights.sum(dim=1).clamp_min(1.0)


class AttentiveMimicking(nn.Module):
    """Weights ρ_i over a word's contexts (summing to 1) from their mutual agreement.

    ρ_i ∝ exp(Σ_{j≠i} (Q v_i)·(K v_j) / √d), padding masked out; the output is Σ ρ_i v_i.
    A word with no contexts gets the zero vector.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.scale = dim**-0.5

    def weights(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[W, K, H] vectors, [W, K] bool mask -> [W, K] weights (0 on padding)."""
        scores = torch.bmm(self.query(vectors), self.key(vectors).transpose(1, 2)) * self.scale
        eye = torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
        pairs = mask.unsqueeze(2) & mask.unsqueeze(1) & ~eye
        totals = scores.masked_fill(~pairs, 0.0).sum(dim=2)
        totals = totals.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(totals, dim=1)
        return torch.nan_to_num(weights, nan=0.0)  # rows without any context

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.bmm(self.weights(vectors, mask).unsqueeze(1), vectors).squeeze(1)


class WordpieceMap(nn.Module):
    """W·mean + b for words split into several pieces, zero for words kept whole.

    The mean of a split word's pieces is a poor stand-in for the one input vector the
    encoder would treat like the pieces (its one-token approximation, the training
    target); the gap is systematic, so one linear map (fitted in closed form by
    `training.stages.fit_wordpiece_map`) closes much of it for every split word.
    A word the tokenizer keeps whole needs no correction: its embedding row is exact.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.requires_grad_(False)  # fitted in closed form, never by gradient steps

    def forward(self, mean: torch.Tensor, n_pieces: torch.Tensor) -> torch.Tensor:
        split = (n_pieces > 1).unsqueeze(-1).to(mean.dtype)
        return self.linear(mean) * split


class BertramModel(nn.Module):
    """Infers input vectors for (rare) words from their form and contexts."""

    def __init__(self, config: BertramConfig, ngram_vocab: NgramVocab, encoder, tokenizer) -> None:
        super().__init__()
        self.config = config
        self.ngram_vocab = ngram_vocab
        self.tokenizer = tokenizer
        self.encoder = encoder
        for param in self.encoder.parameters():
            param.requires_grad_(False)
        embeddings = encoder.get_input_embeddings()
        if config.embedding_dim != embeddings.embedding_dim:
            raise ValueError(
                f"config.embedding_dim={config.embedding_dim} but the encoder's input "
                f"embeddings have {embeddings.embedding_dim} dimensions."
            )
        if config.hidden_size != encoder.config.hidden_size:
            raise ValueError(
                f"config.hidden_size={config.hidden_size} but the encoder has hidden size "
                f"{encoder.config.hidden_size}."
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            init_std = float(embeddings.weight.detach().float().std())
            self.form = NgramEmbedding(
                len(ngram_vocab), config.embedding_dim, config.ngram_dropout, init_std
            )
            if config.wordpiece_residual:  # the correction starts at zero
                with torch.no_grad():
                    self.form.embedding.weight.zero_()
            self.mimicking = AttentiveMimicking(config.hidden_size)
            self.output = nn.Linear(config.hidden_size, config.embedding_dim)
            if config.mode == "shallow":
                self.gate = nn.Linear(2 * config.embedding_dim, 1)
            if config.wordpiece_residual and config.wordpiece_map:
                self.wordpiece = WordpieceMap(config.embedding_dim)
        self.contexts = ContextTokenizer(
            tokenizer, config.mode, config.max_seq_length, bool(config.quote_form)
        )
        self.train(False)

    # ----------------------------------------------------------------- building
    @classmethod
    def from_encoder(
        cls,
        encoder_path: Union[str, Path, None],
        words: Optional[Iterable[str]] = None,
        *,
        ngram_vocab: Optional[NgramVocab] = None,
        mode: str = "add",
        device: Union[str, int, torch.device, None] = None,
        **config_overrides,
    ) -> "BertramModel":
        """A randomly initialised model for a local encoder folder.

        The n-gram vocabulary is `ngram_vocab`, or built from `words` with the
        config's n-gram settings. `None`/"default" means the offline MiniLM encoder.
        """
        if (words is None) == (ngram_vocab is None):
            raise ValueError(
                "Pass exactly one of `words` (to build the n-gram vocabulary) or `ngram_vocab`."
            )
        settable = {f.name for f in dataclasses.fields(BertramConfig)} - _FROM_ENCODER
        unknown = sorted(set(config_overrides) - settable)
        if unknown:
            raise TypeError(
                f"Unknown or derived config settings {unknown}; from_encoder accepts "
                f"{sorted(settable)} (the rest is read from the encoder)."
            )
        path = resolve_encoder_path(encoder_path)
        encoder, tokenizer = _load_encoder(path)
        quote = config_overrides.pop("quote_form", None)
        if ngram_vocab is not None:  # the vocabulary decides how words are cut
            config_overrides.update(
                ngram_min=ngram_vocab.n_min,
                ngram_max=ngram_vocab.n_max,
                lowercase_ngrams=ngram_vocab.lowercase,
            )
        config = BertramConfig(
            encoder_path=str(Path(path).resolve()) if Path(path).exists() else path,
            mode=mode,
            embedding_dim=encoder.get_input_embeddings().embedding_dim,
            hidden_size=encoder.config.hidden_size,
            quote_form=_is_byte_level(tokenizer) if quote is None else quote,
            **config_overrides,
        )
        config.max_seq_length = min(config.max_seq_length, _encoder_max_length(encoder, tokenizer))
        if ngram_vocab is None:
            ngram_vocab = NgramVocab.build(
                words,
                min_count=config.ngram_min_count,
                n_min=config.ngram_min,
                n_max=config.ngram_max,
                lowercase=config.lowercase_ngrams,
            )
        model = cls(config, ngram_vocab, encoder, tokenizer)
        return model.to(get_torch_device(device))

    @classmethod
    def from_pretrained(
        cls,
        directory: Union[str, Path],
        device: Union[str, int, torch.device, None] = None,
        encoder_path: Union[str, Path, None] = None,
    ) -> "BertramModel":
        """Load a model saved by `save_pretrained` (safetensors only, nothing unpickled).

        The encoder is the copy inside the folder when there is one, else
        `encoder_path`, else the path recorded in the config.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"No BERTRAM model folder at {directory}.")
        config = BertramConfig.load(directory)
        ngram_vocab = NgramVocab.load(directory / NGRAMS_NAME)
        if encoder_path is None:
            encoder_path = directory / ENCODER_DIR
            if not encoder_path.is_dir():
                encoder_path = resolve_encoder_path(config.encoder_path)
        encoder, tokenizer = _load_encoder(str(encoder_path))
        model = cls(config, ngram_vocab, encoder, tokenizer)
        weights_path = directory / WEIGHTS_NAME
        if not weights_path.is_file():
            raise FileNotFoundError(f"No BERTRAM weights at {weights_path}; re-save the model.")
        try:
            state = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError) as err:
            raise ValueError(
                f"{weights_path} is not a readable safetensors file ({err}); re-save the model."
            ) from err
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("encoder.")]
        if missing or unexpected:
            raise ValueError(
                f"{weights_path} does not match config.mode={config.mode!r}: missing "
                f"{missing}, unexpected {unexpected}."
            )
        return model.to(get_torch_device(device))

    def save_pretrained(self, directory: Union[str, Path], save_encoder: bool = False) -> Path:
        """Write config.json, model.safetensors, ngrams.txt (and encoder/ if asked)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory)
        self.ngram_vocab.save(directory / NGRAMS_NAME)
        state = {k: v.detach().contiguous().cpu() for k, v in self.bertram_state_dict().items()}
        save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
        encoder_dir = directory / ENCODER_DIR
        if save_encoder:
            if encoder_dir.exists():
                shutil.rmtree(encoder_dir)
            self.encoder.save_pretrained(str(encoder_dir), safe_serialization=True)
            self.tokenizer.save_pretrained(str(encoder_dir))
        return directory

    # ------------------------------------------------------------ properties
    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    @property
    def blends_context(self) -> bool:
        """Whether the context part predicts whole vectors that `combine` blends into the
        form vector (config.context_weight), rather than a correction to the base."""
        return self.config.context_weight is not None

    @property
    def device(self) -> torch.device:
        return self.output.weight.device

    def train(self, mode: bool = True) -> "BertramModel":
        """Switch BERTRAM's own layers; the frozen encoder always stays in eval mode."""
        super().train(mode)
        self.encoder.eval()
        return self

    def bertram_state_dict(self) -> Dict[str, torch.Tensor]:
        """The trainable parts' weights (everything but the encoder)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def has_part(self, name: str) -> bool:
        """Whether this model has the trainable part `name` (see TRAINABLE_PARTS)."""
        return name in TRAINABLE_PARTS and isinstance(getattr(self, name, None), nn.Module)

    def load_parts(self, source: "BertramModel", parts: Sequence[str]) -> None:
        """Copy named sub-modules (e.g. ("mimicking", "output") from a stage-1 model,
        ("form",) from a stage-2 model) into this one; shapes must match."""
        for name in parts:
            if name not in TRAINABLE_PARTS:
                raise ValueError(f"Unknown part {name!r}; parts are {TRAINABLE_PARTS}.")
            if not self.has_part(name) or not source.has_part(name):
                raise ValueError(
                    f"Part {name!r} is missing from one of the models ('gate' exists only "
                    f"in 'shallow' mode, 'wordpiece' only with config.wordpiece_map)."
                )
            getattr(self, name).load_state_dict(getattr(source, name).state_dict())

    # ------------------------------------------------------------- batching
    def collate(
        self, items: Sequence[Tuple[str, Sequence[str]]], max_contexts: Optional[int] = None
    ) -> BertramBatch:
        """Build a batch from (word, contexts) items (contexts without the word are
        skipped; at most `max_contexts`, default config.max_contexts, per word)."""
        words = [word for word, _ in items]
        ngram_ids, ngram_mask = self.encode_ngrams(words)
        if self.config.mode == "form":
            return BertramBatch(words, ngram_ids, ngram_mask, None)
        limit = self.config.max_contexts if max_contexts is None else max_contexts
        texts: List[str] = []
        owners: List[int] = []
        for index, (word, contexts) in enumerate(items):
            selected = self.contexts.select(word, contexts, limit)
            texts.extend(selected)
            owners.extend([index] * len(selected))
        encoded = self.contexts.encode(texts)
        batch = self.contexts.pad(encoded, owners) if encoded else _empty_contexts()
        return BertramBatch(words, ngram_ids, ngram_mask, batch)

    def encode_ngrams(self, words: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        ids = self.ngram_vocab.encode_batch(words)
        width = max((len(i) for i in ids), default=1)
        ngram_ids = torch.full((len(ids), width), PAD_ID, dtype=torch.long)
        for row, word_ids in enumerate(ids):
            ngram_ids[row, : len(word_ids)] = torch.tensor(word_ids, dtype=torch.long)
        return ngram_ids, ngram_ids != PAD_ID

    # -------------------------------------------------------------- forward
    def forward(self, batch: BertramBatch) -> torch.Tensor:
        """[n_words, embedding_dim] vectors for a collated batch."""
        batch = batch.to(self.device)
        base, whole = self.base_and_whole(batch.words)  # tokenised once for both parts
        form = _add_base(self.form(batch.ngram_ids, batch.ngram_mask), base, whole)
        if self.config.mode == "form":
            return form
        contexts = batch.contexts
        vectors = self.encode_contexts(contexts, form) if len(contexts) else None
        grouped, mask = group_contexts(
            vectors, contexts.context_word, len(batch), self.config.hidden_size, self.device
        )
        context = self.output(self.mimicking(grouped, mask))
        if not self.blends_context:
            context = _add_base(context, base, whole)
        return self.combine(form, context, mask.any(dim=1), whole)

    def form_vectors(self, words: Sequence[str]) -> torch.Tensor:
        """Form-only vectors [n_words, embedding_dim] (the form part, on its own,
        through `add_base`)."""
        ngram_ids, ngram_mask = self.encode_ngrams(words)
        form = self.form(ngram_ids.to(self.device), ngram_mask.to(self.device))
        return self.add_base(form, words)

    def wordpiece_mean(self, words: Sequence[str]) -> torch.Tensor:
        """[n_words, embedding_dim]: mean of the frozen encoder's input embeddings of
        each word's wordpieces, tokenised as inside a sentence (after a space, no
        special tokens); the zero vector for a word without pieces. No gradient."""
        return self.wordpieces(words)[0]

    def wordpieces(self, words: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """`wordpiece_mean(words)` and each word's number of pieces ([n_words] long)."""
        weight = self.encoder.get_input_embeddings().weight
        pieces = self.tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
        flat = torch.tensor([i for ids in pieces for i in ids], dtype=torch.long, device=weight.device)
        offsets = torch.tensor(
            [0, *itertools.accumulate(len(ids) for ids in pieces)][: len(pieces)],
            dtype=torch.long,
            device=weight.device,
        )
        with torch.no_grad():
            mean = nn.functional.embedding_bag(flat, weight, offsets, mode="mean")
        counts = torch.tensor([len(ids) for ids in pieces], dtype=torch.long, device=self.device)
        return mean.to(device=self.device, dtype=self.output.weight.dtype), counts

    def base_vectors(self, words: Sequence[str]) -> torch.Tensor:
        """What the trained parts are added to: with config.wordpiece_residual, the
        wordpiece mean (plus the `wordpiece` map's correction when the model has
        one), else zeros ([n_words, embedding_dim])."""
        return self.base_and_whole(words)[0]

    def add_base(self, correction: torch.Tensor, words: Sequence[str]) -> torch.Tensor:
        """A trained part's output [n_words, embedding_dim] as the model's vectors:
        `base_vectors(words)` plus the correction. With config.keep_whole_words, words
        the tokenizer keeps whole get their base alone: their own embedding row, which
        is exact."""
        return _add_base(correction, *self.base_and_whole(words))

    def base_and_whole(self, words: Sequence[str]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """`base_vectors(words)` and the [n_words] bool mask of the words that get no
        correction (kept whole, with config.keep_whole_words; None when all get one)."""
        if not self.config.wordpiece_residual:
            return self.output.weight.new_zeros((len(words), self.config.embedding_dim)), None
        mean, counts = self.wordpieces(words)
        base = mean + self.wordpiece(mean, counts) if self.has_part("wordpiece") else mean
        return base, (counts == 1) if self.config.keep_whole_words else None

    def keeps_own_row(self, words: Sequence[str]) -> List[bool]:
        """Per word: does the model give it its own input-embedding row (a word the
        tokenizer keeps whole, with config.keep_whole_words)? Such a vector is exact,
        so callers can leave those words as they are and skip their contexts."""
        if not words or not (self.config.wordpiece_residual and self.config.keep_whole_words):
            return [False] * len(words)  # as base_and_whole: every word gets a correction
        return [c == 1 for c in self.wordpieces(words)[1].tolist()]

    def encode_contexts(
        self, contexts: ContextBatch, form: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Encoder states at each context's read position: [n_contexts, hidden_size].

        In "replace"/"add" mode `form` ([n_words, embedding_dim], indexed by
        `contexts.context_word`) fills the slot; in "context"/"shallow" mode the result
        depends on the context alone, so training can compute it once and cache it.
        """
        contexts = contexts.to(self.device)
        if self.config.mode in ("replace", "add"):
            if form is None:
                raise ValueError(f"Mode {self.config.mode!r} needs the form vectors.")
            embeds = self.encoder.get_input_embeddings()(contexts.input_ids)
            rows = torch.nonzero(contexts.slot_positions >= 0, as_tuple=True)[0]
            values = form[contexts.context_word[rows]].to(embeds.dtype)
            embeds = embeds.index_put((rows, contexts.slot_positions[rows]), values)
            out = self.encoder(inputs_embeds=embeds, attention_mask=contexts.attention_mask)
        else:
            out = self.encoder(
                input_ids=contexts.input_ids, attention_mask=contexts.attention_mask
            )
        states = out.last_hidden_state
        return states[torch.arange(states.shape[0], device=states.device), contexts.read_positions]

    def mimic(
        self,
        context_vectors: torch.Tensor,
        context_mask: torch.Tensor,
        words: Optional[Sequence[str]] = None,
    ) -> torch.Tensor:
        """Cached context vectors [W, K, hidden] + mask [W, K] -> [W, embedding_dim]:
        the context part (attentive mimicking, then the output map A·v + b; through
        `add_base` with config.wordpiece_residual, unless the model blends, where it
        is the whole vector; `words` is needed for `add_base`)."""
        out = self.output(self.mimicking(context_vectors, context_mask))
        if not self.config.wordpiece_residual or self.blends_context:
            return out
        if words is None or len(words) != out.shape[0]:
            raise ValueError("With wordpiece_residual, mimic needs the batch's words.")
        return self.add_base(out, words)

    def combine(
        self,
        form: torch.Tensor,
        context: torch.Tensor,
        has_context: torch.Tensor,
        whole: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Final vectors from form and context-part vectors, per mode. Words without
        contexts get their form vector (in "context" mode without blending: the output
        bias). When the model blends, the context vector, scaled to the form vector's
        norm, gets weight config.context_weight, and the `whole` rows (words kept at
        their own embedding row, see `base_and_whole`) keep the form vector."""
        mode = self.config.mode
        if mode == "form":
            return form
        if mode == "shallow":
            alpha = torch.sigmoid(self.gate(torch.cat([context, form], dim=-1)))
            context = alpha * context + (1 - alpha) * form
        elif self.blends_context:
            scale = form.norm(dim=-1, keepdim=True) / context.norm(dim=-1, keepdim=True).clamp_min(1e-8)
            context = torch.lerp(form, context * scale, self.config.context_weight)
            if whole is not None:
                context = torch.where(whole.unsqueeze(-1), form, context)
        elif mode == "context":
            return context
        return torch.where(has_context.unsqueeze(-1), context, form)

    def infer_vectors(
        self,
        contexts: Mapping[str, Sequence[str]],
        *,
        max_contexts: Optional[int] = None,
        batch_size: int = 64,
        show_progress: bool = False,
        half_precision: Optional[bool] = None,
    ) -> Dict[str, numpy.ndarray]:
        """{word: contexts} -> {word: float32 vector}; see `inference.infer_vectors`."""
        from .inference import infer_vectors

        return infer_vectors(
            self,
            contexts,
            max_contexts=max_contexts,
            batch_size=batch_size,
            show_progress=show_progress,
            half_precision=half_precision,
        )


def group_contexts(
    vectors: Optional[torch.Tensor],
    context_word: torch.Tensor,
    n_words: int,
    hidden_size: int,
    device: Optional[torch.device] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Scatter per-context vectors [C, H] into padded per-word [W, K, H] + mask [W, K]."""
    if vectors is None or vectors.shape[0] == 0:
        return torch.zeros((n_words, 1, hidden_size), device=device), torch.zeros(
            (n_words, 1), dtype=torch.bool, device=device
        )
    context_word = context_word.to(vectors.device)
    counts = torch.bincount(context_word, minlength=n_words)
    width = max(int(counts.max()), 1)
    order = torch.argsort(context_word, stable=True)
    starts = torch.cumsum(counts, dim=0) - counts
    sorted_words = context_word[order]
    slots = torch.arange(order.shape[0], device=vectors.device) - starts[sorted_words]
    grouped = vectors.new_zeros((n_words, width, vectors.shape[1]))
    grouped = grouped.index_put((sorted_words, slots), vectors[order])
    mask = torch.zeros((n_words, width), dtype=torch.bool, device=vectors.device)
    mask[sorted_words, slots] = True
    return grouped, mask


def _add_base(
    correction: torch.Tensor, base: torch.Tensor, whole: Optional[torch.Tensor]
) -> torch.Tensor:
    """base + correction, with the correction zeroed on the `whole` rows (if given)."""
    if whole is not None:
        correction = correction * (~whole).unsqueeze(-1).to(correction.dtype)
    return base + correction


def _empty_contexts() -> ContextBatch:
    empty = torch.zeros((0, 1), dtype=torch.long)
    none = torch.zeros((0,), dtype=torch.long)
    return ContextBatch(empty, empty, none, none, none)


def load_tokenizer(path: Union[str, Path]):
    """The fast tokenizer of a local encoder folder, with a clear error when it is not one."""
    from transformers import AutoTokenizer

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No encoder folder at {path}. Pass a local Hugging Face model folder "
            f"(config.json, tokenizer files, model.safetensors)."
        )
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"The encoder folder {path} has no config.json.")
    try:
        return AutoTokenizer.from_pretrained(str(path), use_fast=True)
    except OSError as err:
        raise FileNotFoundError(f"Could not load the tokenizer from {path} ({err}).") from err


def _load_encoder(path: str):
    from transformers import AutoModel

    tokenizer = load_tokenizer(path)
    try:
        encoder = AutoModel.from_pretrained(path, use_safetensors=True)
    except OSError as err:
        raise FileNotFoundError(
            f"Could not load the encoder from {path} ({err}). The folder needs tokenizer "
            f"files and safetensors weights (BERTRAM never unpickles weights)."
        ) from err
    return encoder.eval(), tokenizer


def _is_byte_level(tokenizer) -> bool:
    """True for byte-level BPE tokenizers (RoBERTa, GPT-2 style): they get quotes."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or backend.pre_tokenizer is None:
        return hasattr(tokenizer, "byte_encoder")
    return b"ByteLevel" in bytes(backend.pre_tokenizer.__getstate__())


def _encoder_max_length(encoder, tokenizer) -> int:
    limits = [int(tokenizer.model_max_length)] if tokenizer.model_max_length < 10**6 else []
    positions = getattr(encoder.config, "max_position_embeddings", None)
    if positions:
        # RoBERTa-style position ids start after the padding index
        padding = getattr(encoder.config, "pad_token_id", None)
        roberta_style = "roberta" in getattr(encoder.config, "model_type", "")
        offset = (padding or 0) + 1 if roberta_style else 0
        limits.append(int(positions) - offset)
    return min(limits) if limits else 512
