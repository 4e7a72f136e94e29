"""TrainingConfig: every setting of a training run, the model's architecture among them.

Each setting is declared once, with its default and help text; the `train` command's
options and the training benchmark's are derived from these fields.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from ..model.configuration_bertram import BertramArchitecture, setting
from .ota import OtaConfig
from .stages import StageConfig

# The sections of a TrainingConfig that hold a dataclass, rebuilt from plain dicts.
_SECTIONS = {
    "model": BertramArchitecture,
    "context": StageConfig,
    "form": StageConfig,
    "combined": StageConfig,
    "ota": OtaConfig,
}


@dataclass
class TrainingConfig:
    """Every setting that shapes a trained model: its architecture (`model`), the
    words it learns from, the optimisers of the three stages and of OTA, and the
    closed-form fits between them.

    Defaults follow the paper and its reference implementation where they have one:
    words with >= 100 occurrences, up to 32 contexts each, 4..32 of them sampled per
    word and step; stage 1 (context) 5 epochs, batch 48; stage 2 (form) 20 epochs, lr
    0.01, batch 64; stage 3 (combined) 3 epochs, batch 48; MSE to the target vectors.
    The model's architecture defaults to the wordpiece residual in "add" mode (see
    README, "Wordpiece residual and whole words"); with the residual, training,
    validation and held-out words are words the tokenizer splits. Validation words make
    every stage end on its best epoch (0: its starting point) and choose the output
    map's warm-start ridge (in stage 3: whether a ridge fit beats stage 1's map).
    """

    model: BertramArchitecture = field(
        default_factory=lambda: BertramArchitecture(max_seq_length=96)
    )
    seed: int = setting(0, help="Run seed; each random choice draws from its own named stream of it.")
    min_count: int = setting(100, help="Occurrences a store word needs to be a training word.")
    max_words: Optional[int] = setting(
        None,
        help="A seeded sample of this many training words; none: all.",
    )
    split_share: Optional[float] = setting(
        None,
        help="With max_words, the share of the sample kept for words the tokenizer splits (all of "
        "them if fewer qualify); none: a plain sample. Held-out and validation words are drawn from "
        "split and whole words in the same proportion either way.",
    )
    max_contexts: int = setting(32, help="Contexts kept per word, in training and in the saved model.")
    min_contexts_per_step: int = setting(
        4, help="Fewest contexts sampled per word and step (at most max_contexts)."
    )
    held_out: Union[int, float] = setting(
        0.05, help="Held-out words, scored after each stage: a fraction below 1, else a count."
    )
    validation: Union[int, float] = setting(
        0.1,
        help="Validation words for early stopping and the fitted ridge: a fraction below 1, "
        "else a count; 0: off.",
    )
    nonce_words: int = setting(
        200,
        help="Frequent words the tokenizer keeps whole (count >= 32), held out of training and of the "
        "form stage's misspellings, for the nonce test; 0: none.",
    )
    context: StageConfig = field(default_factory=lambda: StageConfig(epochs=5, lr=1e-4, batch_size=48))
    form: StageConfig = field(default_factory=lambda: StageConfig(epochs=20, lr=0.01, batch_size=64))
    combined: StageConfig = field(default_factory=lambda: StageConfig(epochs=3, lr=1e-4, batch_size=48))
    ota: OtaConfig = field(default_factory=OtaConfig)
    output_init_ridge: Optional[float] = setting(
        30.0,
        help="Ridge of the output map's warm start (a least-squares fit on the context "
        "cache; with validation words the best of 0.1 to 100 times it); none: random.",
    )
    wordpiece_ridge: float = setting(1.0, help="Ridge of the wordpiece map's closed-form fit.")
    ranking_weight: float = setting(
        0.0,
        help="Weight of the ranking objective in the cached context stages (the target must be nearer "
        "than every whole-word row of the encoder; validated by its mean reciprocal rank); 0: MSE alone.",
    )
    form_misspellings: int = setting(
        8,
        help="Seeded misspellings of each training word and of each word the vocabulary "
        "keeps whole that the form stage learns to map to the word's vector (0: none).",
    )

    def __post_init__(self) -> None:
        for name, kind in _SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, kind(**value))
        if self.form_misspellings < 0:
            raise ValueError(f"TrainingConfig.form_misspellings must be >= 0, got {self.form_misspellings}.")
        if self.split_share is not None and not 0 <= self.split_share <= 1:
            raise ValueError(f"TrainingConfig.split_share must be in [0, 1] or none, got {self.split_share}.")
        if self.ranking_weight < 0:
            raise ValueError(f"TrainingConfig.ranking_weight must be >= 0, got {self.ranking_weight}.")
        if self.wordpiece_ridge <= 0:
            raise ValueError(f"TrainingConfig.wordpiece_ridge must be > 0, got {self.wordpiece_ridge}.")
        if self.max_contexts < 1 or self.min_contexts_per_step < 1:
            raise ValueError(
                f"TrainingConfig.max_contexts and min_contexts_per_step must be >= 1, got "
                f"{self.max_contexts} and {self.min_contexts_per_step}."
            )

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def sample_range(self) -> Tuple[int, int]:
        """How many of a word's contexts a training step samples: (fewest, most)."""
        return min(self.min_contexts_per_step, self.max_contexts), self.max_contexts

    def stages(self) -> List[Tuple[str, str]]:
        """(folder, stage) of the stages the model's mode needs, in order."""
        if self.model.mode == "context":
            return [("stage1-context", "context")]
        if self.model.mode == "form":
            return [("stage2-form", "form")]
        return [
            ("stage1-context", "context"),
            ("stage2-form", "form"),
            (f"stage3-{self.model.mode}", "combined"),
        ]
