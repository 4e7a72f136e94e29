"""Mimicking cosine: how close a model's vectors come to the encoder's own embeddings."""
from typing import Mapping, Sequence, Union

import numpy
import torch

from ..model import BertramModel, infer_vectors

Vector = Union[numpy.ndarray, torch.Tensor]


def mimicking_cosine(
    model: BertramModel,
    words_contexts: Mapping[str, Sequence[str]],
    targets: Mapping[str, Vector],
    *,
    batch_size: int = 64,
) -> float:
    """Mean cosine between inferred and target vectors over the words that have a target.

    `words_contexts` maps words to contexts (as for `infer_vectors`);
    `targets` maps words to vectors in the encoder's input-embedding space (e.g. from
    `training.compute_targets`). Words without a target are ignored. Higher is better;
    1.0 means the model reproduces the encoder's own embeddings.
    """
    words = [w for w in words_contexts if w in targets]
    if not words:
        raise ValueError(
            "No word of `words_contexts` has a target vector; compute targets for the "
            "same words (training.compute_targets)."
        )
    return mean_cosine(inferred_vectors(model, {w: words_contexts[w] for w in words}, batch_size), words, targets)


def inferred_vectors(
    model: BertramModel, words_contexts: Mapping[str, Sequence[str]], batch_size: int = 64
) -> torch.Tensor:
    """The model's vectors [W, D] (CPU) of the words, in the mapping's order (`infer_vectors`)."""
    inferred = infer_vectors(model, {w: list(c) for w, c in words_contexts.items()}, batch_size=batch_size)
    return torch.from_numpy(numpy.stack([inferred[w] for w in words_contexts]))


def mean_cosine(vectors: torch.Tensor, words: Sequence[str], targets: Mapping[str, Vector]) -> float:
    """Mean cosine between row i of `vectors` and the target of `words[i]`."""
    target = torch.stack([torch.as_tensor(numpy.asarray(targets[w]), dtype=torch.float32) for w in words])
    return float(torch.nn.functional.cosine_similarity(vectors.float().cpu(), target, dim=1).mean())
