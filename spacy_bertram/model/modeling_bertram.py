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
  `config.wordpiece_map` and the residual or the gate
- `wordpiece_gate`: how much of the wordpiece mean a word's final vector keeps; only
  with `config.wordpiece_gate`
- `encoder`: the frozen transformer; always in eval mode, never trained

With `config.wordpiece_residual`, the word's `WordpieceBase` (the mean of the
encoder's input embeddings of its wordpieces, corrected by `wordpiece` when there is
one) is added to the form part and to the context part's output, so every mode
outputs that baseline plus a learned correction. With `config.wordpiece_gate` the
parts output whole vectors and the gate mixes the (corrected) mean into the final
one, by how much the word's contexts and form say. With either, and `config.keep_whole_words`,
only words that have no embedding row of their own get a vector. In "add" mode (the
paper's best) the context part reads each context through the encoder with the form
vector in the `form :` slot, and its output is the word's vector. `assemble` turns the
parts into the final vectors.
"""
import dataclasses
import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..util import get_torch_device, resolve_encoder_path
from .configuration_bertram import BertramConfig
from .encoder import encoder_max_length, is_byte_level, load_encoder, lowercases, word_pieces
from .masking import ContextTokenizer, EncodedContexts
from .ngrams import NGRAMS_NAME, PAD_ID, NgramVocab

WEIGHTS_NAME = "model.safetensors"
ENCODER_DIR = "encoder"
TRAINABLE_PARTS = ("form", "mimicking", "output", "gate", "wordpiece", "wordpiece_gate")
_FROM_ENCODER = {"encoder_path", "mode", "embedding_dim", "hidden_size"}


@dataclass
class BertramBatch:
    """A set of (word, contexts) items ready for `BertramModel.forward`."""

    words: List[str]
    ngram_ids: torch.Tensor  # [W, G] long, PAD_ID-padded
    ngram_mask: torch.Tensor  # [W, G] bool
    contexts: Optional[EncodedContexts]  # None in "form" mode

    def __len__(self) -> int:
        return len(self.words)

    def to(self, device: torch.device) -> "BertramBatch":
        return BertramBatch(
            self.words,
            self.ngram_ids.to(device),
            self.ngram_mask.to(device),
            None if self.contexts is None else self.contexts.to(device),
        )


@dataclass
class WordpieceBase:
    """A word list's wordpiece base, tokenised once: what the trained parts are added to.

    `pieces` are each word's token ids inside a sentence (`encoder.py`'s `word_pieces`),
    `mean` [W, D] the mean of their input embeddings (zero for a word without pieces),
    `corrected_mean` [W, D] that mean plus the `wordpiece` map's correction (the mean
    itself without a map), `base` [W, D] what corrections are added to (with
    config.wordpiece_residual the corrected mean, else zeros), and `whole` [W] bool the
    words kept at their own embedding row, which get no correction (None when every
    word gets one). No gradient flows into any of them.
    """

    pieces: List[List[int]]
    n_pieces: torch.Tensor  # [W] long
    mean: torch.Tensor
    corrected_mean: torch.Tensor
    base: torch.Tensor
    whole: Optional[torch.Tensor]

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def own_row(self) -> List[bool]:
        """Per word: does the model give it its own input-embedding row? Such a vector
        is exact, so callers can leave the word as it is and skip its contexts."""
        return [False] * len(self) if self.whole is None else self.whole.tolist()

    def add(self, correction: torch.Tensor) -> torch.Tensor:
        """base + a trained part's output [W, D], the correction zeroed on `whole` rows."""
        if correction.shape[0] != len(self):
            raise ValueError(
                f"The base holds {len(self)} words but the correction {correction.shape[0]} rows."
            )
        if self.whole is not None:
            correction = correction * (~self.whole).unsqueeze(-1).to(correction.dtype)
        return self.base + correction


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


class WordpieceGate(nn.Module):
    """Mixes a word's wordpiece mean into its vector: (1 − α)·mean + α·‖mean‖·x/‖x‖.

    The mean is `WordpieceBase.corrected_mean` (with the `wordpiece` map, the mean plus
    its fitted correction). α = σ(w·[any contexts, log(1 + contexts), cos(mean, x),
    log(pieces)] + b) depends on the word: whether and from how many contexts it was
    read (a word without any has only its form), how far the inferred vector x strays
    from the mean, how finely the tokenizer cut it. The mean keeps what the encoder
    already reads in the pieces; x brings what the contexts and the form add. Fitted by
    `training.stages.fit_wordpiece_gate`, never by the stages' gradient steps.
    """

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.requires_grad_(False)

    @staticmethod
    def features(
        mean: torch.Tensor, vectors: torch.Tensor, n_contexts: torch.Tensor, n_pieces: torch.Tensor
    ) -> torch.Tensor:
        """[W, 4] gate inputs for the means and vectors [W, D] and the counts [W]."""
        agreement = nn.functional.cosine_similarity(mean, vectors, dim=-1)
        contexts = n_contexts.to(mean.dtype)
        pieces = n_pieces.clamp_min(1).to(mean.dtype)
        return torch.stack([(contexts > 0).to(mean.dtype), torch.log1p(contexts), agreement, torch.log(pieces)], dim=-1)

    @staticmethod
    def mix(mean: torch.Tensor, vectors: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """(1 − α)·mean + α·vectors rescaled to the mean's norm; α [W]."""
        scale = mean.norm(dim=-1, keepdim=True) / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        alpha = alpha.unsqueeze(-1)
        return (1 - alpha) * mean + alpha * scale * vectors

    def forward(
        self, mean: torch.Tensor, vectors: torch.Tensor, n_contexts: torch.Tensor, n_pieces: torch.Tensor
    ) -> torch.Tensor:
        features = self.features(mean, vectors, n_contexts, n_pieces)
        alpha = torch.sigmoid(self.linear(features.to(self.linear.weight.dtype))).squeeze(-1)
        return self.mix(mean, vectors, alpha.to(mean.dtype))


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
            if config.wordpiece_map and (config.wordpiece_residual or config.wordpiece_gate):
                self.wordpiece = WordpieceMap(config.embedding_dim)
            if config.wordpiece_gate:
                self.wordpiece_gate = WordpieceGate()
        self.context_tokenizer = ContextTokenizer(
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
        encoder, tokenizer = load_encoder(path)
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
            quote_form=is_byte_level(tokenizer) if quote is None else quote,
            **config_overrides,
        )
        config.max_seq_length = min(config.max_seq_length, encoder_max_length(encoder, tokenizer))
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
        encoder, tokenizer = load_encoder(encoder_path or saved_encoder_path(directory))
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
        own = model.state_dict()
        wrong = [
            f"{name} {tuple(tensor.shape)} instead of {tuple(own[name].shape)}"
            for name, tensor in state.items()
            if name in own and tensor.shape != own[name].shape
        ]
        if wrong:
            raise ValueError(
                f"{weights_path} does not fit the model that {directory} describes "
                f"({'; '.join(wrong[:3])}): its weights, config.json and {NGRAMS_NAME} come "
                f"from different saves; save the model again with `save_pretrained`."
            )
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
                    f"in 'shallow' mode, 'wordpiece' only with config.wordpiece_map and the residual or the gate)."
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
            selected = self.context_tokenizer.select(word, contexts, limit)
            texts.extend(selected)
            owners.extend([index] * len(selected))
        encoded = self.context_tokenizer.encode(texts)
        batch = self.context_tokenizer.pad(encoded, owners) if encoded else _empty_contexts()
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
        base = self.wordpiece_base(batch.words)
        form = self.form_vectors(batch.words, base, (batch.ngram_ids, batch.ngram_mask))
        if self.config.mode == "form":
            return form
        contexts = batch.contexts
        states = self.encode_contexts(contexts, form) if len(contexts) else None
        grouped, mask = group_contexts(
            states, contexts.context_word, len(batch), self.config.hidden_size, self.device
        )
        return self.assemble(form, grouped, mask, base)

    def word_keys(self, texts: Iterable[str]) -> Dict[str, str]:
        """Token text -> the word a vector is inferred for: the text as the encoder reads
        it, lower-cased only for an uncased encoder (a cased one keeps "Paris" and "paris"
        apart)."""
        lower = lowercases(self.tokenizer)
        return {text: text.lower() if lower else text for text in texts}

    def vector_words(self, words: Sequence[str]) -> List[str]:
        """The words that get a vector: not those the model leaves at their own row."""
        return [w for w, own in zip(words, self.wordpiece_base(words).own_row) if not own]

    def wordpiece_base(self, words: Sequence[str]) -> WordpieceBase:
        """The words' `WordpieceBase`: tokenised once, read by every part of the model.

        A word keeps its own row (with config.wordpiece_residual or
        config.wordpiece_gate, and config.keep_whole_words) when it is one piece that is
        not the unknown token: an `[UNK]` row says nothing about the word.
        """
        weight = self.encoder.get_input_embeddings().weight
        pieces = word_pieces(self.tokenizer, words)
        n_pieces = torch.tensor([len(ids) for ids in pieces], dtype=torch.long, device=self.device)
        flat = torch.tensor([i for ids in pieces for i in ids], dtype=torch.long, device=weight.device)
        offsets = torch.tensor(
            [0, *itertools.accumulate(len(ids) for ids in pieces)][: len(pieces)],
            dtype=torch.long,
            device=weight.device,
        )
        with torch.no_grad():
            mean = nn.functional.embedding_bag(flat, weight, offsets, mode="mean")
        mean = mean.to(device=self.device, dtype=self.output.weight.dtype)
        whole = None
        if self.config.keep_whole_words and (self.config.wordpiece_residual or self.config.wordpiece_gate):
            unknown = self.tokenizer.unk_token_id
            whole = torch.tensor(
                [len(ids) == 1 and ids[0] != unknown for ids in pieces],
                dtype=torch.bool,
                device=self.device,
            )
        corrected = mean + self.wordpiece(mean, n_pieces) if self.has_part("wordpiece") else mean
        base = corrected if self.config.wordpiece_residual else torch.zeros_like(mean)
        return WordpieceBase(pieces, n_pieces, mean, corrected, base, whole)

    def form_vectors(
        self,
        words: Sequence[str],
        base: Optional[WordpieceBase] = None,
        ngrams: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
    ) -> torch.Tensor:
        """The form part on its own, added to the base: [n_words, embedding_dim].

        `base` (`wordpiece_base(words)`) and `ngrams` (`encode_ngrams(words)`) are
        computed when not given.
        """
        base = self.wordpiece_base(words) if base is None else base
        ngram_ids, ngram_mask = self.encode_ngrams(words) if ngrams is None else ngrams
        return base.add(self.form(ngram_ids.to(self.device), ngram_mask.to(self.device)))

    def assemble(
        self,
        form: torch.Tensor,
        context_states: torch.Tensor,
        context_mask: torch.Tensor,
        base: WordpieceBase,
    ) -> torch.Tensor:
        """The final vectors [W, embedding_dim] from the form vectors (`form_vectors`)
        and each word's context states [W, K, hidden] + mask [W, K] (`group_contexts`):
        `ungated_vectors`, with `config.wordpiece_gate` mixed with the (corrected)
        wordpiece mean (`WordpieceGate`)."""
        vectors = self.ungated_vectors(form, context_states, context_mask, base)
        if not self.has_part("wordpiece_gate"):
            return vectors
        mixed = self.wordpiece_gate(base.corrected_mean, vectors, context_mask.sum(dim=1), base.n_pieces)
        if base.whole is None:
            return mixed
        return torch.where(base.whole.unsqueeze(-1), base.mean, mixed)

    def ungated_vectors(
        self,
        form: torch.Tensor,
        context_states: torch.Tensor,
        context_mask: torch.Tensor,
        base: WordpieceBase,
    ) -> torch.Tensor:
        """The context part (`mimic`) and the form vector combined per mode (`combine`):
        the final vectors of a model without the wordpiece gate, what the gate mixes."""
        context = self.mimic(context_states, context_mask, base)
        return self.combine(form, context, context_mask.any(dim=1))

    def encode_contexts(
        self, contexts: EncodedContexts, form: Optional[torch.Tensor] = None
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
        self, context_states: torch.Tensor, context_mask: torch.Tensor, base: WordpieceBase
    ) -> torch.Tensor:
        """Context states [W, K, hidden] + mask [W, K] -> the context part [W, embedding_dim]:
        attentive mimicking, then the output map A·v + b, added to `base`."""
        return base.add(self.output(self.mimicking(context_states, context_mask)))

    def combine(self, form: torch.Tensor, context: torch.Tensor, has_context: torch.Tensor) -> torch.Tensor:
        """Final vectors from form and context-part vectors, per mode. Words without
        contexts get their form vector (in "context" mode: the output bias on the base).
        In "add" and "replace" mode the context part has already read the form vector
        through the encoder, so its output is the vector."""
        mode = self.config.mode
        if mode == "form":
            return form
        if mode == "shallow":
            alpha = torch.sigmoid(self.gate(torch.cat([context, form], dim=-1)))
            context = alpha * context + (1 - alpha) * form
        elif mode == "context":
            return context
        return torch.where(has_context.unsqueeze(-1), context, form)


def saved_encoder_path(directory: Union[str, Path]) -> Union[str, Path]:
    """The encoder a saved model loads: its bundled copy, else the one its config names."""
    bundled = Path(directory) / ENCODER_DIR
    return bundled if bundled.is_dir() else resolve_encoder_path(BertramConfig.load(directory).encoder_path)


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


def _empty_contexts() -> EncodedContexts:
    empty = torch.zeros((0, 1), dtype=torch.long)
    none = torch.zeros((0,), dtype=torch.long)
    return EncodedContexts(empty, empty, none, none, none)
