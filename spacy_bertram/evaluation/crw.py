"""The CRW-dev comparison: mean-of-wordpieces, form-only, context-only and BERTRAM modes.

Every system lives in its encoder's input-embedding space. Words with contexts (CRW's
rare words) get the system's vector; all other words get the mean of their wordpieces'
input embeddings, the representation a transformer would see anyway.
"""
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

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


def system_label(mode: str) -> str:
    """A model's row label: form-only, context-only or BERTRAM-<mode>."""
    return {"form": "form-only", "context": "context-only"}.get(mode, f"BERTRAM-{mode}")


def labelled_models(models: Sequence[Tuple[str, BertramModel]]) -> List[Tuple[str, BertramModel, bool]]:
    """(label, model, form part only) for (name, model) pairs, labelled by mode
    (`system_label`); a label that several models share gets each one's name in
    parentheses. When no model is form-only, the form part of the first model that
    has a trained one (any mode but "context") is added as "form-only". Sorted:
    form-only, context-only, then the others in the given order."""
    labels = [system_label(model.config.mode) for _, model in models]
    rows = [
        (f"{label} ({name})" if labels.count(label) > 1 else label, model, False)
        for label, (name, model) in zip(labels, models)
    ]
    with_form = [model for _, model in models if model.config.mode != "context"]
    if "form-only" not in labels and with_form:
        rows.append(("form-only", with_form[0], True))
    return sorted(rows, key=lambda row: _ROW_ORDER.get(row[0], len(_ROW_ORDER)))


# Rows of single parts come before the combined modes.
_ROW_ORDER = {"form-only": 0, "context-only": 1}


def evaluate_crw(
    data: SimilarityData,
    model_paths: Sequence[Union[str, Path]] = (),
    encoder_path: Union[str, Path, None] = None,
    max_contexts: Optional[int] = None,
    batch_size: int = 64,
    models: Sequence = (),
) -> Dict[str, SimilarityResult]:
    """Spearman's rho of every system on `data`, keyed by system label.

    Models come as folders (`model_paths`) or already loaded (`models`); rows are
    labelled by `labelled_models` (a "form-only" row comes from another model's form
    part when no form-mode model is given). The mean-of-wordpieces row uses
    `encoder_path`, else the first model's encoder.
    """
    loaded = [(f"loaded {i}", m) for i, m in enumerate(models, 1)]
    loaded += [(Path(p).name, BertramModel.from_pretrained(p)) for p in model_paths]
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
    for label, model, form_only in labelled_models(loaded):
        vectors = wordpiece_mean_vectors(model.tokenizer, model.encoder, words)
        if form_only:
            vectors.update(form_only_vectors(model, sorted(rare)))
        else:
            vectors.update(bertram_vectors(model, rare, max_contexts, batch_size))
        results[label] = evaluate_similarity(data.pairs, vectors)
    return results


def similarity_table(results: Mapping[str, SimilarityResult]) -> str:
    """A Markdown table: system, Spearman's rho, pairs, pairs with a missing word."""
    rows = [[label, f"{r.spearman:.4f}", r.pairs, r.missing] for label, r in results.items()]
    return markdown_table(["system", "Spearman ρ", "pairs", "missing"], rows)
