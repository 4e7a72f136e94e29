"""Mimicking quality: how close inferred vectors come to the encoder's own embeddings.

On held-out frequent words the encoder's input embedding (or its one-token
approximation) is the target BERTRAM was trained to reproduce; the mean cosine between
inferred vector and target measures how well it generalises to unseen words.
"""
from typing import Mapping, Optional, Sequence

import numpy

from .similarity import cosine


def mean_cosine(vectors: Mapping[str, numpy.ndarray], targets: Mapping[str, object]) -> float:
    """Mean cosine between `vectors[w]` and `targets[w]` over the words both hold."""
    words = [w for w in targets if w in vectors]
    if not words:
        raise ValueError(
            "No word has both an inferred vector and a target; check that the held-out "
            "words and the targets come from the same word list."
        )
    return float(numpy.mean([
        cosine(numpy.asarray(vectors[w], dtype=numpy.float32),
               numpy.asarray(_to_numpy(targets[w]), dtype=numpy.float32))
        for w in words
    ]))


def mimicking_cosine(
    model,
    words_contexts: Mapping[str, Sequence[str]],
    targets: Mapping[str, object],
    max_contexts: Optional[int] = None,
    batch_size: int = 64,
) -> float:
    """Mean cosine to the targets of the vectors `model` infers from the words' contexts."""
    vectors = model.infer_vectors(
        {w: list(c) for w, c in words_contexts.items() if w in targets},
        max_contexts=max_contexts,
        batch_size=batch_size,
    )
    return mean_cosine(vectors, targets)


def _to_numpy(value) -> numpy.ndarray:
    if hasattr(value, "detach"):
        return value.detach().float().cpu().numpy()
    return numpy.asarray(value)
