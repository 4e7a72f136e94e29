"""The nonce test: what a system learns about a word from its contexts alone.

Frequent words held out of BERTRAM's training (the trainer's `words.json`: never
trained on, never used to choose epochs or weights) are replaced in N of their corpus
contexts by a nonce, random letters that the tokenizer splits, so that the form says
nothing about the word; each system infers the nonce's vector from those N contexts.
Per N, two scores in the encoder's input space: the mean reciprocal rank of the
word's own input embedding among the encoder's whole-word rows
(`encoder.whole_word_rows`: no `##` pieces, no special tokens), and the mean cosine
to it. This is Herbelot & Baroni's definitional nonce task, and WNLaMPro's.

The floor a context part must beat is a ridge map from the mean encoder state at the
mask to the input embedding, fitted on the run's training words.
"""
import dataclasses
import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import numpy
import torch

from ..model import BertramModel, encode_context_vectors, group_contexts, word_pieces
from ..model.encoder import whole_word_rows
from ..model.masking import word_pattern
from ..training.words import WordContexts
from ..util import eval_mode, read_json
from .crw import MEAN_OF_WORDPIECES, form_only_vectors, labelled_models, wordpiece_mean_vectors
from .report import _save, plt
from .tables import markdown_table

NONCE_CONTEXTS = (1, 2, 4, 8, 16, 32)
RIDGE = "ridge (mean state at the mask)"
# The ridge strength is the best of these multiples of the number of training words
# in a cross-validation on the training words.
RIDGE_FACTORS = (0.001, 0.01, 0.1, 1.0, 10.0)
NONCE_LENGTH = 8


@dataclass(frozen=True)
class NonceScore:
    mrr: float
    cosine: float


@dataclass
class NonceResult:
    """Scores per system and number of contexts, and what they were measured on."""

    counts: List[int]
    words: int  # held-out words scored
    rows: int  # whole-word rows ranked
    ridge_words: int  # training words the ridge map was fitted on
    ridge: float  # its ridge strength
    scores: Dict[str, Dict[int, NonceScore]]

    def to_dict(self) -> Dict:
        data = dataclasses.asdict(self)
        data["scores"] = {s: {str(n): vars(v) for n, v in by_n.items()} for s, by_n in self.scores.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "NonceResult":
        scores = {s: {int(n): NonceScore(**v) for n, v in by_n.items()} for s, by_n in data["scores"].items()}
        return cls(**{**data, "scores": scores})


def word_rows(tokenizer) -> Dict[str, int]:
    """{word: row} of the vocabulary's whole-word rows (`encoder.whole_word_rows`)."""
    rows, words = whole_word_rows(tokenizer)
    return dict(zip(words, rows))


def make_nonces(words: Sequence[str], tokenizer, seed: int = 0) -> Dict[str, str]:
    """A distinct nonce per word: NONCE_LENGTH random lowercase letters that the
    tokenizer splits into several pieces (never a vocabulary word)."""
    rng = random.Random(seed)
    nonces: Dict[str, str] = {}
    for word in words:
        while True:
            nonce = "".join(rng.choice(string.ascii_lowercase) for _ in range(NONCE_LENGTH))
            if nonce not in nonces.values() and len(word_pieces(tokenizer, [nonce])[0]) > 1:
                break
        nonces[word] = nonce
    return nonces


def with_nonce(word: str, nonce: str, contexts: Sequence[str], n: int) -> List[str]:
    """The first `n` contexts that contain `word`, every occurrence replaced by `nonce`."""
    pattern, replaced = word_pattern(word), []
    for text in contexts:
        if len(replaced) == n:
            break
        text, found = pattern.subn(nonce, text)
        if found:
            replaced.append(text)
    return replaced


def eligible(words_contexts: Mapping[str, Sequence[str]], rows: Mapping[str, int], n: int) -> List[str]:
    """The words (sorted) that are whole-word rows and have `n` contexts containing them."""
    return sorted(w for w, c in words_contexts.items() if w in rows and len(with_nonce(w, w, c, n)) == n)


def rank_scores(
    predicted: numpy.ndarray, true_rows: Sequence[int], embeddings: numpy.ndarray, candidates: Sequence[int]
) -> NonceScore:
    """Mean reciprocal rank of each prediction's true row among the `candidates` rows
    of `embeddings` (by cosine; a tie counts for the true row), and the mean cosine to
    the true row. Every true row must be a candidate."""
    candidates = list(candidates)
    position = {row: i for i, row in enumerate(candidates)}
    missing = [row for row in true_rows if row not in position]
    if missing:
        raise ValueError(f"The true rows {missing[:5]} are not among the candidate rows.")
    sims = _unit(predicted) @ _unit(embeddings[candidates]).T
    true = sims[numpy.arange(len(sims)), [position[row] for row in true_rows]]
    ranks = 1 + (sims > true[:, None]).sum(axis=1)
    return NonceScore(float((1.0 / ranks).mean()), float(true.mean()))


def fit_ridge(x: numpy.ndarray, y: numpy.ndarray, ridge: float) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(weights, bias) of the ridge regression y ≈ x·W + b (the bias not penalised)."""
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc = x - x_mean
    weights = numpy.linalg.solve(xc.T @ xc + ridge * numpy.eye(x.shape[1]), xc.T @ (y - y_mean))
    return weights, y_mean - x_mean @ weights


def choose_ridge(x: numpy.ndarray, y: numpy.ndarray, seed: int = 0, folds: int = 5) -> float:
    """The ridge strength (of RIDGE_FACTORS times the number of rows) with the best mean
    cosine in a `folds`-fold cross-validation on (x, y)."""
    order = numpy.random.default_rng(seed).permutation(len(x))
    parts = [order[i::folds] for i in range(folds)]

    def score(ridge: float) -> float:
        cosines = []
        for part in parts:
            train = numpy.setdiff1d(order, part)
            weights, bias = fit_ridge(x[train], y[train], ridge)
            cosines.append((_unit(x[part] @ weights + bias) * _unit(y[part])).sum(axis=1).mean())
        return float(numpy.mean(cosines))

    return max((factor * len(x) for factor in RIDGE_FACTORS), key=score)


def evaluate_nonce(
    models: Sequence[Tuple[str, BertramModel]],
    held_out: Mapping[str, Sequence[str]],
    ridge_words: Mapping[str, Sequence[str]],
    *,
    counts: Sequence[int] = NONCE_CONTEXTS,
    seed: int = 0,
    batch_size: int = 64,
) -> NonceResult:
    """The nonce test of (name, model) pairs (one encoder) on the held-out words.

    `held_out` maps held-out words to their corpus contexts: those that are whole-word
    rows with max(counts) contexts containing them are scored, each on the first N
    of those contexts for every N. `ridge_words` maps training words to contexts: the
    whole-word rows among them fit the ridge row. Rows: the mean of the nonce's
    wordpieces, each model (labelled as in `labelled_models`) and the ridge map.
    """
    if not models:
        raise ValueError("The nonce test needs at least one BERTRAM model.")
    counts = sorted(set(counts))
    if not counts or counts[0] < 1:
        raise ValueError(f"Numbers of contexts must be positive, got {counts}.")
    first = models[0][1]
    tokenizer, encoder = first.tokenizer, first.encoder
    rows = word_rows(tokenizer)
    words = eligible(held_out, rows, counts[-1])
    if not words:
        raise ValueError(
            f"No held-out word is a whole-word row with {counts[-1]} contexts; index more "
            "contexts per word (`index --max-contexts`) or hold out more words."
        )
    fit_words = [w for w in eligible(ridge_words, rows, 1) if w not in held_out]
    if len(fit_words) < 2:
        raise ValueError("The ridge map needs at least two training words that are whole-word rows.")
    nonces = make_nonces(words, tokenizer, seed)
    texts = [with_nonce(w, nonces[w], held_out[w], counts[-1]) for w in words]
    nonce_list = [nonces[w] for w in words]
    embeddings = encoder.get_input_embeddings().weight.detach().float().cpu().numpy()
    true_rows = [rows[w] for w in words]
    candidates = sorted(rows.values())

    def scores(vectors_by_n: Mapping[int, numpy.ndarray]) -> Dict[int, NonceScore]:
        return {n: rank_scores(vectors_by_n[n], true_rows, embeddings, candidates) for n in counts}

    mean = wordpiece_mean_vectors(tokenizer, encoder, nonce_list)
    results = {MEAN_OF_WORDPIECES: scores({n: numpy.stack([mean[x] for x in nonce_list]) for n in counts})}
    plain = _plain_model(models)
    plain_states = _states(plain, nonce_list, texts, batch_size)
    for label, model, form_only in labelled_models(models):
        if form_only or model.config.mode == "form":
            form_vectors = form_only_vectors(model, nonce_list)
            form = numpy.stack([form_vectors[x] for x in nonce_list])
            results[label] = scores({n: form for n in counts})
        else:
            states = plain_states if model.config.mode in ("context", "shallow") else None
            results[label] = scores(_by_count(model, nonce_list, texts, counts, batch_size, states))
    fit_texts = [with_nonce(w, w, ridge_words[w], len(ridge_words[w])) for w in fit_words]
    x = _mean_states(_states(plain, fit_words, fit_texts, batch_size), len(fit_words), counts[-1])
    y = embeddings[[rows[w] for w in fit_words]]
    ridge = choose_ridge(x, y, seed)
    weights, bias = fit_ridge(x, y, ridge)
    results[RIDGE] = scores({n: _mean_states(plain_states, len(words), n) @ weights + bias for n in counts})
    return NonceResult(list(counts), len(words), len(candidates), len(fit_words), ridge, results)


# (vectors [C, hidden] in input order, each context's word [C])
States = Tuple[torch.Tensor, torch.Tensor]


def _plain_model(models: Sequence[Tuple[str, BertramModel]]) -> BertramModel:
    """A model whose encoder reads the contexts with the word masked and nothing in a
    slot (the states the context part and the ridge map read)."""
    for _, model in models:
        if model.config.mode not in ("add", "replace"):
            return model
    model = models[0][1]
    config = dataclasses.replace(model.config, mode="context")
    return BertramModel(config, model.ngram_vocab, model.encoder, model.tokenizer).to(model.device)


def _states(model: BertramModel, words: Sequence[str], texts: Sequence[Sequence[str]], batch_size: int,
            form: Union[torch.Tensor, None] = None) -> States:
    """Encoder states at the mask of every context of every word, one pass per batch."""
    selected = [model.context_tokenizer.select(w, t, None) for w, t in zip(words, texts)]
    with eval_mode(model), torch.inference_mode():
        return encode_context_vectors(model, selected, form, batch_size=batch_size)


def _first(states: States, n: int) -> States:
    """Each word's first `n` contexts' states (contexts come word by word, in order)."""
    vectors, owners = states
    starts = torch.searchsorted(owners, owners, right=False)
    keep = (torch.arange(len(owners)) - starts) < n
    return vectors[keep.to(vectors.device)], owners[keep]


def _mean_states(states: States, n_words: int, n: int) -> numpy.ndarray:
    """Per word, the mean of its first `n` states: [n_words, hidden]."""
    vectors, owners = _first(states, n)
    vectors = vectors.float().cpu()
    sums = torch.zeros((n_words, vectors.shape[1])).index_add_(0, owners, vectors)
    return (sums / torch.bincount(owners, minlength=n_words).clamp_min(1).unsqueeze(1)).numpy()


def _by_count(model: BertramModel, words: Sequence[str], texts: Sequence[Sequence[str]], counts: Sequence[int],
              batch_size: int, states: Union[States, None]) -> Dict[int, numpy.ndarray]:
    """The model's vectors of `words` from their first N contexts, for each N in
    `counts`: the contexts are encoded once, the first N of them assembled per N."""
    with eval_mode(model), torch.inference_mode():
        base = model.wordpiece_base(words)
        form = model.form_vectors(words, base)
        if states is None:
            states = _states(model, words, texts, batch_size, form)
        vectors = {}
        for n in counts:
            kept, owners = _first(states, n)
            grouped, mask = group_contexts(kept, owners.to(model.device), len(words), model.config.hidden_size,
                                           model.device)
            vectors[n] = model.assemble(form, grouped, mask, base).float().cpu().numpy()
    return vectors


def _unit(vectors: numpy.ndarray) -> numpy.ndarray:
    return vectors / numpy.maximum(numpy.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def read_run_words(path: Union[str, Path]) -> Dict[str, List[str]]:
    """The training and held-out words of a BERTRAM run (`words.json` in its folder)."""
    path = Path(path)
    fix = "pass the words.json that `python -m spacy_bertram train` writes in its output folder"
    data = read_json(path, fix)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) and all(isinstance(w, str) for w in data[k]) for k in ("train", "held_out")
    ):
        raise ValueError(f'{path} has no "train" and "held_out" word lists; {fix}.')
    return data


def nonce_words(
    store, run_words: Mapping[str, Sequence[str]], tokenizer, *, max_words: int, ridge_words: int,
    ridge_contexts: int = 16, counts: Sequence[int] = NONCE_CONTEXTS, seed: int = 0,
) -> Tuple[WordContexts, WordContexts]:
    """(held-out words, words for the ridge map), with contexts from `store`: seeded
    samples of `max_words` held-out words that qualify (`eligible`) and of `ridge_words`
    frequent store words that are whole-word rows and not held out (BERTRAM trains on
    split words, so the ridge map's whole words come from the store's counts)."""
    rows, n = word_rows(tokenizer), max(counts)
    held_out = store.contexts_many([w for w in run_words["held_out"] if w in rows], limit=2 * n)
    words = eligible(held_out, rows, n)
    words = sorted(random.Random(seed).sample(words, min(max_words, len(words))))
    excluded = set(run_words["held_out"])
    train = sorted(w for w, _ in store.counts(min_count=ridge_contexts) if w in rows and w not in excluded)
    train = sorted(random.Random(seed + 1).sample(train, min(ridge_words, len(train))))
    return {w: held_out[w] for w in words}, store.contexts_many(train, limit=ridge_contexts)


def nonce_table(result: NonceResult) -> str:
    """A Markdown table: per system, MRR and mean cosine for each number of contexts."""
    header = ["system", "score"] + [f"N={n}" for n in result.counts]
    rows = [
        [system, metric] + [f"{getattr(by_n[n], metric):.3f}" for n in result.counts]
        for system, by_n in result.scores.items()
        for metric in ("mrr", "cosine")
    ]
    return markdown_table(header, rows, align="ll" + "r" * len(result.counts))


def plot_nonce(result: NonceResult, path: Union[str, Path]) -> Path:
    """MRR and cosine over the number of contexts N (log scale), one line per system."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for system, by_n in result.scores.items():
        for ax, metric in zip(axes, ("mrr", "cosine")):
            ax.plot(result.counts, [getattr(by_n[n], metric) for n in result.counts], marker="o", label=system)
    for ax, label in zip(axes, ("MRR among whole-word rows", "cosine to the word's embedding")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(result.counts)
        ax.set_xticklabels([str(n) for n in result.counts])
        ax.set_xlabel("contexts N")
        ax.set_ylabel(label)
    axes[0].set_title(f"Nonce test: {result.words} held-out words")
    return _save(fig, axes[1], f"among {result.rows} rows", Path(path))
