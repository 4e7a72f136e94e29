"""Evaluation: word similarity (CRW), the nonce test, mimicking quality, downstream
accuracy on rarified test sets, and significance tests between systems.

Mimicking quality (mean cosine to the targets of held-out frequent words) is
training's own metric, re-exported here so that all evaluations live in one place.
"""
from ..training.metrics import mimicking_cosine
from .crw import evaluate_crw, similarity_table, wordpiece_mean_vectors
from .downstream import DownstreamReport, evaluate_downstream, instance_groups
from .nonce import (
    NONCE_CONTEXTS,
    NonceResult,
    NonceScore,
    evaluate_nonce,
    nonce_table,
    nonce_words,
    plot_nonce,
    read_run_words,
)
from .report import accuracy_table, write_report
from .significance import holm, mcnemar_exact, paired_bootstrap
from .similarity import evaluate_similarity, read_crw_archive, read_pairs, spearman
from .tables import format_p, markdown_table

__all__ = [
    "NONCE_CONTEXTS", "DownstreamReport", "NonceResult", "NonceScore", "accuracy_table", "evaluate_crw",
    "evaluate_downstream", "evaluate_nonce", "evaluate_similarity", "format_p", "holm", "instance_groups",
    "markdown_table", "mcnemar_exact", "mimicking_cosine", "nonce_table", "nonce_words", "paired_bootstrap",
    "plot_nonce", "read_crw_archive", "read_pairs", "read_run_words", "similarity_table", "spearman",
    "wordpiece_mean_vectors", "write_report",
]
