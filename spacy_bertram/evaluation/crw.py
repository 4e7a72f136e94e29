"""The CRW-dev comparison: mean-of-wordpieces, form-only, context-only and BERTRAM modes.

Every system lives in its encoder's input-embedding space. Words with contexts (CRW's
rare words) get the system's vector; all other words get the mean of their wordpieces'
input embeddings, the representation a transformer would see anyway.
"""
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Sequence, Union

import numpy
import torch

from ..model import BertramModel, infer_vectors, load_encoder, word_pieces
from ..util import eval_mode
from .similarity import SimilarityData, SimilarityResult, evaluate_similarity
from .tables import markdown_table

Vectors = Dict[str, numpy.ndarray]
MEAN_OF_WORDPIECES = "mean-of-wordpieces"


def wordpiece_mean_vectors(tokenizer, encoder, words: Iterable[str]) -> Vectors:
    """Mean input embedding of each word's wordpieces, tokenised as inside a sentence
    (`word_pieces`, as the model's own base); words of unknown pieces only are left out."""
    table = encoder.get_input_embeddings().weight.detach().float().cpu().numpy()
    unknown = tokenizer.unk_token_id
    words = list(words)
    vectors: Vectors = {}
    for word, ids in zip(words, word_pieces(tokenizer, words)):
        if ids and any(i != unknown for i in ids):
            vectors[word] = table[ids].mean(axis=0)
    return vectors


def bertram_vectors(
    model, contexts: Mapping[str, Sequence[str]], max_contexts: Optional[int], batch_size: int
) -> Vectors:
    return infer_vectors(
        model, dict(contexts), max_contexts=max_contexts, batch_size=batch_size, show_progress=True
    )


def form_only_vectors(model, words: Sequence[str], batch_size: int = 256) -> Vectors:
    """The model's form part alone (its n-gram embedding), for each word."""
    vectors: Vectors = {}
    with eval_mode(model), torch.inference_mode():
        for start in range(0, len(words), batch_size):
            chunk = list(words[start:start + batch_size])
            for word, vector in zip(chunk, model.form_vectors(chunk).float().cpu().numpy()):
                vectors[word] = vector
    return vectors


def model_label(model, path: Union[str, Path]) -> str:
    mode = model.config.mode
    name = {"form": "form-only", "context": "context-only"}.get(mode, f"BERTRAM-{mode}")
    return f"{name} ({Path(path).name})"


def evaluate_crw(
    data: SimilarityData,
    model_paths: Sequence[Union[str, Path]] = (),
    encoder_path: Union[str, Path, None] = None,
    max_contexts: Optional[int] = None,
    batch_size: int = 64,
    models: Sequence = (),
) -> Dict[str, SimilarityResult]:
    """Spearman's rho of every system on `data`, keyed by system label.

    Models come as folders (`model_paths`) or already loaded (`models`, labelled by
    mode). If none of them is a form-mode model, a "form-only" row is read from the
    first model that has a trained form part (any mode but "context"). The
    mean-of-wordpieces row uses `encoder_path`, else the first model's encoder.
    """
    loaded = [(model_label(m, "loaded"), m) for m in models]
    loaded += [(model_label(m, p), m) for p, m in
               ((p, BertramModel.from_pretrained(p)) for p in model_paths)]
    words = sorted({w for pair in data.pairs for w in (pair.first, pair.second)})
    rare = {w: data.contexts[w] for w in words if data.contexts.get(w)}
    if loaded and encoder_path is None:
        tokenizer, encoder = loaded[0][1].tokenizer, loaded[0][1].encoder
    else:
        encoder, tokenizer = load_encoder(encoder_path)
    results = {
        MEAN_OF_WORDPIECES: evaluate_similarity(
            data.pairs, wordpiece_mean_vectors(tokenizer, encoder, words)
        )
    }
    for label, model in loaded:
        vectors = wordpiece_mean_vectors(model.tokenizer, model.encoder, words)
        vectors.update(bertram_vectors(model, rare, max_contexts, batch_size))
        results[label] = evaluate_similarity(data.pairs, vectors)
    if not any(m.config.mode == "form" for _, m in loaded):
        with_form = [(label, m) for label, m in loaded if m.config.mode != "context"]
        if with_form:
            label, model = with_form[0]
            vectors = wordpiece_mean_vectors(model.tokenizer, model.encoder, words)
            vectors.update(form_only_vectors(model, sorted(rare)))
            results[f"form-only (form part of {label})"] = evaluate_similarity(data.pairs, vectors)
    return results


def similarity_table(results: Mapping[str, SimilarityResult]) -> str:
    """A Markdown table: system, Spearman's rho, pairs, pairs with a missing word."""
    rows = [[label, f"{r.spearman:.4f}", r.pairs, r.missing] for label, r in results.items()]
    return markdown_table(["system", "Spearman rho", "pairs", "missing"], rows)
