"""BertramConfig: every setting that shapes a BERTRAM model, saved as `config.json`."""
import dataclasses
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

MODES = ("form", "context", "shallow", "replace", "add")
CONFIG_NAME = "config.json"


@dataclass
class BertramConfig:
    """Settings of a BERTRAM model.

    `mode` picks how form and context meet: "form" and "context" are the training
    stages' single parts; "shallow" gates the two; "replace" puts the form vector in
    place of the mask's input embedding; "add" (the paper's best) prefixes the
    context with `form-vector :` (quoted for byte-level BPE tokenizers).
    `embedding_dim` and `hidden_size` are read from the encoder by `from_encoder`.
    With `wordpiece_residual`, every output (form part, context part, and so every
    mode) is the mean of the frozen encoder's input embeddings of the word's
    wordpieces plus what BERTRAM learns, so the trained parts learn a correction to
    that baseline instead of the whole vector. `wordpiece_map` (used only with
    `wordpiece_residual`) adds a linear correction of that mean for words split into
    several pieces; `keep_whole_words` (also only with the residual) gives words the
    tokenizer keeps whole their own embedding row, correcting split words alone.
    `context_weight` (not in "shallow" mode, whose gate decides) makes the context part
    predict the whole vector, as in the paper, instead of a correction: a word with
    contexts gets `(1 - w)·form + w·context`, the context vector scaled to the form
    vector's norm. The trainer fits `w` on validation words; None keeps the context
    part a correction to the wordpiece base. A config.json without one of these keys
    was written before the option existed and loads with it off.
    """

    encoder_path: str = ""
    mode: str = "add"
    embedding_dim: int = 0
    hidden_size: int = 0
    ngram_min: int = 3
    ngram_max: int = 5
    ngram_min_count: int = 2
    ngram_dropout: float = 0.1
    lowercase_ngrams: bool = True
    quote_form: Optional[bool] = None
    max_seq_length: int = 128
    max_contexts: Optional[int] = 32
    half_precision: bool = False
    wordpiece_residual: bool = True
    wordpiece_map: bool = False
    keep_whole_words: bool = True
    context_weight: Optional[float] = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check types and ranges, so a bad config fails at load time, by name."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _matches(value, hints[f.name]):
                raise TypeError(
                    f"BertramConfig.{f.name} must be {_type_name(hints[f.name])}, got "
                    f"{type(value).__name__} {value!r}. Fix the value in config.json or "
                    f"the keyword argument."
                )
        if self.mode not in MODES:
            raise ValueError(f"BertramConfig.mode must be one of {MODES}, got {self.mode!r}.")
        if not 1 <= self.ngram_min <= self.ngram_max:
            raise ValueError(
                f"Need 1 <= ngram_min <= ngram_max, got {self.ngram_min}..{self.ngram_max}."
            )
        if self.ngram_min_count < 1:
            raise ValueError(f"ngram_min_count must be >= 1, got {self.ngram_min_count}.")
        if not 0.0 <= self.ngram_dropout < 1.0:
            raise ValueError(f"ngram_dropout must be in [0, 1), got {self.ngram_dropout}.")
        if self.max_seq_length < 8:
            raise ValueError(f"max_seq_length must be >= 8, got {self.max_seq_length}.")
        if self.context_weight is not None:
            if not 0.0 <= self.context_weight <= 1.0:
                raise ValueError(f"context_weight must be in [0, 1] or None, got {self.context_weight}.")
            if self.mode == "shallow":
                raise ValueError(
                    "context_weight does not apply in 'shallow' mode (its gate weighs form "
                    "and context); set it to None."
                )
        if self.max_contexts is not None and self.max_contexts < 1:
            raise ValueError(
                f"max_contexts must be >= 1 or None (no cap), got {self.max_contexts}."
            )

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BertramConfig":
        if not isinstance(data, dict):
            raise TypeError(f"A BertramConfig needs a JSON object, got {type(data).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Unknown BertramConfig keys {unknown}; known keys are {sorted(known)}."
            )
        # configs written before the option existed describe models without it
        legacy = {
            "wordpiece_residual": False,
            "wordpiece_map": False,
            "keep_whole_words": False,
            "context_weight": None,
        }
        return cls(**{**legacy, **data})

    def save(self, directory: Union[str, Path]) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf8")
        return path

    @classmethod
    def load(cls, directory: Union[str, Path]) -> "BertramConfig":
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"No BERTRAM config at {path}. Pass a folder written by "
                f"BertramModel.save_pretrained."
            )
        try:
            data = json.loads(path.read_text(encoding="utf8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not valid JSON ({err}); re-save the model.") from err
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{path}: {err}") from err


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Union:
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is not None:
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is Union:
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))
