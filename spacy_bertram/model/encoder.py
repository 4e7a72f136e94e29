"""The frozen encoder and its tokenizer: loading (safetensors only) and the facts read from them.

Everything in the package that loads an encoder or its tokenizer comes here, so every
load refuses pickled weights and fails with one message naming the folder and the fix.
How a word is tokenised inside a sentence (`word_pieces`), where an encoder's
position ids start (`position_offset`), whether a tokenizer lower-cases
(`lowercases`), what identifies its vocabulary (`tokenizer_fingerprint`) and which of
its rows are whole words (`whole_word_rows`) are decided here once as well.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple, Union

from ..util import resolve_encoder_path

_PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


def load_tokenizer(name_or_path: Union[str, Path, None]):
    """The fast tokenizer of a local encoder folder (`None`/"default": the offline MiniLM)."""
    from transformers import AutoTokenizer

    folder = _encoder_folder(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    except (OSError, ValueError) as err:
        raise FileNotFoundError(
            f"Could not load the tokenizer from {folder} ({err}); the encoder folder needs "
            f"its tokenizer files (tokenizer.json or vocab files)."
        ) from err


def load_encoder(name_or_path: Union[str, Path, None]) -> Tuple["object", "object"]:
    """(encoder in eval mode, fast tokenizer) of a local encoder folder.

    Weights are read from safetensors only: a folder with pickled weights alone
    (`pytorch_model.bin`) is refused, since unpickling runs arbitrary code.
    """
    from safetensors import SafetensorError
    from transformers import AutoModel

    folder = _encoder_folder(name_or_path)
    if not any(folder.glob("*.safetensors")):
        pickled = [name for name in _PICKLED if (folder / name).is_file()]
        found = f" (it has {', '.join(pickled)}, which would be unpickled)" if pickled else ""
        raise FileNotFoundError(
            f"The encoder folder {folder} has no safetensors weights{found}. spacy-bertram "
            f"never unpickles weights: convert them once where you trust the file, with "
            f"`AutoModel.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)`."
        )
    tokenizer = load_tokenizer(folder)
    try:
        encoder = AutoModel.from_pretrained(str(folder), use_safetensors=True)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"Could not read the encoder weights in {folder} ({type(err).__name__}: {err}); "
            f"the safetensors file is damaged or incomplete: copy or save the encoder folder again."
        ) from err
    return encoder.eval(), tokenizer


def word_pieces(tokenizer, words: Sequence[str]) -> List[List[int]]:
    """Each word's token ids as inside a sentence: after a space, no special tokens.

    WordPiece ignores the leading space; byte-level BPE turns it into the `Ġ` prefix
    that words carry everywhere but at the start of a text.
    """
    if not words:
        return []
    return tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]


def position_offset(encoder) -> int:
    """The encoder's first position id: RoBERTa-style embeddings (those with a
    `padding_idx`) count positions from padding_idx + 1, BERT-style ones from 0."""
    padding_idx = getattr(getattr(encoder, "embeddings", None), "padding_idx", None)
    return 0 if padding_idx is None else int(padding_idx) + 1


def encoder_max_length(encoder, tokenizer) -> int:
    """The longest input (in tokens, special tokens included) the encoder accepts."""
    limits = [int(tokenizer.model_max_length)] if tokenizer.model_max_length < 10**6 else []
    positions = getattr(encoder.config, "max_position_embeddings", None)
    if positions:
        limits.append(int(positions) - position_offset(encoder))
    return min(limits) if limits else 512


def is_byte_level(tokenizer) -> bool:
    """True for byte-level BPE tokenizers (RoBERTa, GPT-2 style): their form slot is quoted."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or backend.pre_tokenizer is None:
        return hasattr(tokenizer, "byte_encoder")
    return b"ByteLevel" in bytes(backend.pre_tokenizer.__getstate__())


def lowercases(tokenizer) -> bool:
    """True when the tokenizer lower-cases its input (an uncased encoder): then "Paris"
    and "paris" are the same input, and one vector serves both."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return bool(getattr(tokenizer, "do_lower_case", False))
    return backend.normalizer is not None and backend.normalizer.normalize_str("A") == "a"


def tokenizer_fingerprint(tokenizer) -> str:
    """A short hash of the vocabulary (piece -> row) and the casing: two tokenizers with
    the same fingerprint give every text the same rows of the input embeddings."""
    identity = {"vocab": sorted(tokenizer.get_vocab().items()), "lowercase": lowercases(tokenizer)}
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode("utf8")).hexdigest()[:12]


@dataclass(frozen=True)
class EncoderIdentity:
    """What a BERTRAM model must share with the transformer it feeds: the width of the
    input embeddings and the tokenizer (`tokenizer_fingerprint`)."""

    name: str
    width: int
    tokenizer: str

    @classmethod
    def of(cls, name: str, width: int, tokenizer) -> "EncoderIdentity":
        return cls(name, width, tokenizer_fingerprint(tokenizer))

    def __str__(self) -> str:
        return f"{self.name} (input width {self.width}, tokenizer {self.tokenizer})"


def whole_word_rows(tokenizer) -> Tuple[List[int], List[str]]:
    """The rows of the vocabulary that are whole words, and those words.

    A row counts when a word with a letter is tokenised inside a sentence (`word_pieces`)
    as exactly that row: not special tokens, continuation pieces (`##ing`) or the
    start-of-text variants of byte-level BPE words.
    """
    special = set(tokenizer.all_special_ids)
    ids = [i for i in sorted(tokenizer.get_vocab().values()) if i not in special]
    words = [w.strip() for w in tokenizer.batch_decode([[i] for i in ids])]
    candidates = [(i, w) for i, w in zip(ids, words) if any(c.isalpha() for c in w) and not any(c.isspace() for c in w)]
    pieces = word_pieces(tokenizer, [w for _, w in candidates])
    kept = [(i, w) for (i, w), ids_of_word in zip(candidates, pieces) if ids_of_word == [i]]
    return [i for i, _ in kept], [w for _, w in kept]


def _encoder_folder(name_or_path: Union[str, Path, None]) -> Path:
    folder = Path(resolve_encoder_path(name_or_path))
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No encoder folder at {folder}. Pass the folder of a local Hugging Face encoder "
            f"(config.json, tokenizer files, model.safetensors; models are never downloaded), "
            f"or 'default' for the offline MiniLM."
        )
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"The encoder folder {folder} has no config.json; pass a folder saved by "
            f"`save_pretrained`."
        )
    return folder
