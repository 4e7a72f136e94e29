"""Significance tests between two systems scored on the same test instances.

Both tests are two-sided and take one value per instance, in the same order for both
systems: McNemar's correctness (booleans), the bootstrap any per-instance score
(correctness as 0/1, or a cosine). The paired bootstrap resamples instances and asks
how often the resampled difference lies at least as far from the observed one as the
observed one lies from zero (the bootstrap distribution shifted to the null); McNemar's exact test
is a binomial test on the instances where exactly one system is right. `holm` adjusts
the p-values of a family of comparisons (Holm, 1979).
"""
from dataclasses import dataclass
from math import comb
from typing import List, Sequence

import numpy


@dataclass(frozen=True)
class BootstrapResult:
    """Mean score difference A - B (accuracy for correctness) and the two-sided p-value
    that it is not zero."""

    delta: float
    p_value: float
    samples: int


@dataclass(frozen=True)
class McNemarResult:
    """Discordant counts (only A right, only B right) and the exact two-sided p-value."""

    only_a: int
    only_b: int
    p_value: float


def _paired(values_a: Sequence, values_b: Sequence, dtype: type):
    a = numpy.asarray(values_a, dtype=dtype)
    b = numpy.asarray(values_b, dtype=dtype)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"Both systems need one value per instance of the same test set, "
            f"got {a.shape} and {b.shape}."
        )
    if not len(a):
        raise ValueError("No instances to compare: the test set is empty.")
    return a, b


def paired_bootstrap(
    scores_a: Sequence[float], scores_b: Sequence[float], samples: int = 10000, seed: int = 0
) -> BootstrapResult:
    """p = share of resamples whose mean difference is at least |delta| away from delta.

    Scores are per instance (correctness as booleans, or e.g. a cosine to a target).
    `>=`, so two systems that agree everywhere (every difference 0) get p = 1, not 0.
    """
    a, b = _paired(scores_a, scores_b, float)
    diff = a - b
    delta = float(diff.mean())
    rng = numpy.random.default_rng(seed)
    indices = rng.integers(0, len(diff), size=(samples, len(diff)))
    resampled = diff[indices].mean(axis=1)
    p_value = float(numpy.mean(numpy.abs(resampled - delta) >= abs(delta)))
    return BootstrapResult(delta, p_value, samples)


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    """Two-sided exact binomial test (p = 1/2) on the discordant instances."""
    a, b = _paired(correct_a, correct_b, bool)
    only_a = int(numpy.sum(a & ~b))
    only_b = int(numpy.sum(~a & b))
    n = only_a + only_b
    k = min(only_a, only_b)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n if n else 1.0
    return McNemarResult(only_a, only_b, min(1.0, 2 * tail))


def holm(p_values: Sequence[float]) -> List[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    The k-th smallest of m p-values is multiplied by m - k + 1, and each adjusted value
    is at least the one before it in that order (capped at 1).
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
