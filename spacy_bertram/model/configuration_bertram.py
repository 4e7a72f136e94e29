"""BertramConfig: the architecture of a BERTRAM model and what it reads from its encoder, saved as `config.json`."""
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..util import read_json

# How a model combines a word's form and contexts into its vector.
COMBINATION_MODES = ("form", "context", "shallow", "replace", "add")
CONFIG_NAME = "config.json"
# Keys added to config.json since 0.1.0, with the value that a save without them meant.
ADDED_KEYS = {"wordpiece_gate": False}


def setting(default: Any = dataclasses.MISSING, *, help: str) -> Any:
    """A settings field whose help text travels with it (command-line options are
    derived from the fields)."""
    return field(default=default, metadata={"help": help})


@dataclass
class BertramArchitecture:
    """The settings a user chooses for a BERTRAM model (what `from_encoder` and
    training take); the rest of `BertramConfig` is read from the encoder or set at
    run time.

    The wordpiece settings relate a vector to the mean of the frozen encoder's input
    embeddings of the word's wordpieces: with `wordpiece_residual` every output is that
    mean plus a learned correction; with `wordpiece_gate` the parts learn whole
    vectors and a fitted gate mixes the mean into the final one.
    """

    mode: str = setting(
        "add",
        help="How form and context meet: form or context (a single part, as in the training "
        "stages), shallow (a gate), replace (the form vector in place of the mask's input "
        "embedding) or add (the context prefixed with `form-vector :`, the paper's best).",
    )
    ngram_min: int = setting(3, help="Shortest character n-gram of the form part.")
    ngram_max: int = setting(5, help="Longest character n-gram of the form part.")
    ngram_min_count: int = setting(2, help="Words an n-gram must occur in to get an embedding.")
    ngram_dropout: float = setting(0.1, help="Share of a word's n-grams dropped in training.")
    lowercase_ngrams: bool = setting(True, help="Lowercase words before cutting n-grams.")
    max_seq_length: int = setting(128, help="Longest context, in encoder tokens.")
    wordpiece_residual: bool = setting(
        True, help="Output the mean of the word's wordpiece embeddings plus a learned correction."
    )
    wordpiece_map: bool = setting(
        False,
        help="With the residual or the gate: correct a split word's wordpiece mean by a linear map, "
        "fitted in closed form to the training words' targets.",
    )
    wordpiece_gate: bool = setting(
        False,
        help="Without the residual: mix the word's wordpiece mean into its vector by a gate over "
        "the number of contexts, the two vectors' agreement and the number of pieces, fitted "
        "after training on split validation words.",
    )
    keep_whole_words: bool = setting(
        True,
        help="With the residual or the gate: words the tokenizer keeps whole keep their own embedding row.",
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check types and ranges, so a bad config fails at load time, by name."""
        name = type(self).__name__
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _matches(value, hints[f.name]):
                raise TypeError(
                    f"{name}.{f.name} must be {_type_name(hints[f.name])}, got "
                    f"{type(value).__name__} {value!r}. Fix the value in config.json or "
                    f"the keyword argument."
                )
        if self.mode not in COMBINATION_MODES:
            raise ValueError(f"{name}.mode must be one of {COMBINATION_MODES}, got {self.mode!r}.")
        if not 1 <= self.ngram_min <= self.ngram_max:
            raise ValueError(
                f"Need 1 <= ngram_min <= ngram_max, got {self.ngram_min}..{self.ngram_max}."
            )
        if self.ngram_min_count < 1:
            raise ValueError(f"ngram_min_count must be >= 1, got {self.ngram_min_count}.")
        if not 0.0 <= self.ngram_dropout < 1.0:
            raise ValueError(f"ngram_dropout must be in [0, 1), got {self.ngram_dropout}.")
        if self.wordpiece_gate and (self.wordpiece_residual or self.mode == "form"):
            raise ValueError(
                f"{name}.wordpiece_gate weighs the wordpiece mean against a vector read from "
                f"contexts: it needs wordpiece_residual=False and a mode that reads contexts, "
                f"got wordpiece_residual={self.wordpiece_residual}, mode={self.mode!r}."
            )
        if self.max_seq_length < 8:
            raise ValueError(f"max_seq_length must be >= 8, got {self.max_seq_length}.")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class BertramConfig(BertramArchitecture):
    """Everything a saved BERTRAM model needs: its architecture, what `from_encoder`
    reads from the encoder, the run-time knobs and the initialisation seed.

    Read from the encoder: `encoder_path`, `embedding_dim`, `hidden_size`, and
    `quote_form` (None: quote the form vector for byte-level BPE tokenizers).
    Run-time knobs, free to change after training: `max_contexts` (cap per word at
    inference) and `half_precision`. `seed`
    seeds the random initial weights. Every key is required in config.json.
    """

    encoder_path: str = ""
    embedding_dim: int = 0
    hidden_size: int = 0
    quote_form: Optional[bool] = None
    max_contexts: Optional[int] = 32
    half_precision: bool = False
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        if self.max_contexts is not None and self.max_contexts < 1:
            raise ValueError(
                f"max_contexts must be >= 1 or None (no cap), got {self.max_contexts}."
            )

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BertramConfig":
        """The config of a `config.json` object: every key required, none unknown.

        Saves of 0.1.0 carry `context_weight` (a blend of form and context vectors that
        models no longer have): null reads the same as this version's model, a weight
        is refused. A key of `ADDED_KEYS` that a save lacks reads as the model it was."""
        if not isinstance(data, dict):
            raise TypeError(f"A BertramConfig needs a JSON object, got {type(data).__name__}.")
        if "context_weight" in data:
            if data["context_weight"] is not None:
                raise ValueError(
                    f"The model blends form and context vectors (context_weight="
                    f"{data['context_weight']}), which this version does not; retrain it."
                )
            data = {k: v for k, v in data.items() if k != "context_weight"}
        data = {**ADDED_KEYS, **data}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Unknown BertramConfig keys {unknown}; known keys are {sorted(known)}."
            )
        missing = sorted(known - set(data))
        if missing:
            raise ValueError(
                f"BertramConfig keys {missing} are missing; every key is required. Add "
                f"them, or save the model again with BertramModel.save_pretrained."
            )
        return cls(**data)

    def save(self, directory: Union[str, Path]) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf8")
        return path

    @classmethod
    def load(cls, directory: Union[str, Path]) -> "BertramConfig":
        path = Path(directory) / CONFIG_NAME
        data = read_json(path, "pass a folder written by BertramModel.save_pretrained, or save the model again")
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
