"""Training BERTRAM: frequent words, their target vectors, and the three stages."""
from .config import TrainingConfig
from .metrics import mimicking_cosine
from .ota import OtaConfig, one_token_approximation
from .seeds import SeedStreams
from .stages import StageConfig
from .targets import compute_targets
from .trainer import train_bertram
from .words import read_training_words, split_held_out

__all__ = [
    "OtaConfig",
    "SeedStreams",
    "StageConfig",
    "TrainingConfig",
    "compute_targets",
    "mimicking_cosine",
    "one_token_approximation",
    "read_training_words",
    "split_held_out",
    "train_bertram",
]
