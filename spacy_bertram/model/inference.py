"""Batched inference: vectors for many words at once.

Contexts of all words are pooled, sorted by token length and cut into full encoder
batches, so the encoder (the only expensive part) runs on dense batches whatever the
number of contexts per word. BERTRAM's own layers then run once per chunk of words.
"""
import contextlib
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy
import torch
from tqdm import tqdm

from ..util import eval_mode
from .modeling_bertram import BertramModel, group_contexts

# Contexts pooled per chunk, in encoder batches: bounds memory on huge requests while
# keeping the length sorting effective.
_BATCHES_PER_CHUNK = 64


def infer_vectors(
    model: BertramModel,
    contexts: Mapping[str, Sequence[str]],
    *,
    max_contexts: Optional[int] = None,
    batch_size: int = 64,
    show_progress: bool = False,
    half_precision: Optional[bool] = None,
) -> Dict[str, numpy.ndarray]:
    """{word: [context, ...]} -> {word: float32 vector of size model.embedding_dim}.

    At most `max_contexts` contexts per word are used (None: the config's
    `max_contexts`, which may itself be None for no cap): the first ones, in the
    given order, that contain the word. A word with no usable
    context is represented by its form alone. `half_precision` (default: the
    config's) runs the encoder under float16 autocast; it applies on GPU only.
    """
    words = _check_request(contexts, batch_size)
    if not words:
        return {}
    limit = model.config.max_contexts if max_contexts is None else max_contexts
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"max_contexts must be a positive int or None, got {limit!r}.")
    half = model.config.half_precision if half_precision is None else half_precision
    use_contexts = model.config.mode != "form"
    selected: List[List[str]] = [
        model.context_tokenizer.select(w, contexts[w], limit) if use_contexts else []
        for w in words
    ]
    chunk_size = batch_size * _BATCHES_PER_CHUNK
    results: Dict[str, numpy.ndarray] = {}
    progress = tqdm(
        total=sum(len(s) for s in selected) if use_contexts else len(words),
        disable=not show_progress,
        desc="BERTRAM",
        unit="ctx" if use_contexts else "word",
    )
    try:
        with eval_mode(model), torch.inference_mode():
            for start, stop in _chunks([len(s) for s in selected], chunk_size):
                vectors = _infer_chunk(
                    model, words[start:stop], selected[start:stop], batch_size, half, progress
                )
                for word, vector in zip(words[start:stop], vectors):
                    results[word] = vector
    finally:
        progress.close()
    return results


def _infer_chunk(
    model: BertramModel,
    words: Sequence[str],
    selected: Sequence[List[str]],
    batch_size: int,
    half: bool,
    progress: tqdm,
) -> numpy.ndarray:
    base = model.wordpiece_base(words)
    form = model.form_vectors(words, base)
    if model.config.mode == "form":
        progress.update(len(words))
        return form.float().cpu().numpy()
    vectors, owners = encode_context_vectors(
        model, selected, form, batch_size=batch_size, half_precision=half, progress=progress
    )
    grouped, mask = group_contexts(
        vectors, owners, len(words), model.config.hidden_size, model.device
    )
    return model.assemble(form, grouped, mask, base).float().cpu().numpy()


def encode_context_vectors(
    model: BertramModel,
    selected: Sequence[Sequence[str]],
    form: Optional[torch.Tensor] = None,
    *,
    batch_size: int = 64,
    half_precision: bool = False,
    progress: Optional[tqdm] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Encoder states at the read mask of every context, in full length-sorted batches.

    `selected[i]` holds word i's masked contexts (`model.context_tokenizer.select`); `form`
    ([n_words, embedding_dim]) is needed in "add"/"replace" mode. Returns the vectors
    [n_contexts, hidden_size] in input order and each context's word index [n_contexts].
    Call it under `torch.inference_mode()` or `torch.no_grad()` when nothing trains.
    """
    texts = [text for group in selected for text in group]
    owners = torch.tensor([i for i, group in enumerate(selected) for _ in group], dtype=torch.long)
    encoded = model.context_tokenizer.encode(texts)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    vectors = torch.empty((len(encoded), model.config.hidden_size), device=model.device)
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.float16)
        if half_precision and model.device.type == "cuda"
        else contextlib.nullcontext()
    )
    for begin in range(0, len(order), batch_size):
        rows = order[begin : begin + batch_size]
        batch = model.context_tokenizer.pad([encoded[i] for i in rows], owners[rows].tolist())
        with autocast:
            states = model.encode_contexts(batch.to(model.device), form)
        vectors[torch.tensor(rows, device=model.device)] = states.float()
        if progress is not None:
            progress.update(len(rows))
    return vectors, owners


def _chunks(sizes: Sequence[int], limit: int):
    """Consecutive (start, stop) word ranges holding about `limit` contexts each."""
    start, total = 0, 0
    for index, size in enumerate(sizes):
        total += max(size, 1)
        if total >= limit:
            yield start, index + 1
            start, total = index + 1, 0
    if start < len(sizes):
        yield start, len(sizes)


def _check_request(contexts: Mapping[str, Sequence[str]], batch_size: int) -> List[str]:
    if not isinstance(contexts, Mapping):
        raise TypeError(
            f"infer_vectors needs a mapping {{word: [contexts]}}, got "
            f"{type(contexts).__name__}."
        )
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    words = list(contexts)
    for word in words:
        if not isinstance(word, str):
            raise TypeError(f"Words must be strings, got {type(word).__name__} {word!r}.")
        if not word.strip():
            raise ValueError(f"Words must be non-empty, got {word!r}.")
        value = contexts[word]
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(
                f"The contexts of {word!r} must be a list of strings, got "
                f"{type(value).__name__}; use {{word: [context, ...]}}."
            )
    return words
