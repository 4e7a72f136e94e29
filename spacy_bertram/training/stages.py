"""The three training stages, each a loop of MSE steps towards the target vectors.

The context stages can add a ranking objective (`RankingLoss`): the target must be
nearer to the output than every whole-word row of the encoder's input embeddings.
MSE alone pulls an output towards the average of plausible words; ranking asks the
context part to pick the word out, which is what a rare word's contexts are for.

Stage 1 (context) and, for "add" and "shallow", stage 3 (combined) need the frozen
encoder's state at each context's mask. Those states do not depend on anything that
trains, so `encode_context_cache` computes them once, batched across all words, and
every epoch then runs only attentive mimicking and the output map on the cache:
epochs after the first cost almost nothing. In "add" mode the form part is frozen in
stage 3 (as in the paper) and n-gram dropout is off there, so the form vector in the
`form :` prefix is fixed and the cache holds. Stage 2 (form) never runs the encoder.
Only "replace" has to run the encoder at every step of stage 3.

With a `validate` callable (mean cosine to the targets of validation words), a stage
scores its starting point and every epoch and ends on the best of them: the trained
parts start from the wordpiece base, so a stage never leaves the model worse on
unseen words than where it began (early stopping with best-checkpoint restore).
"""
import itertools
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn
from tqdm.auto import tqdm

from ..model import BertramModel, encode_context_vectors, group_contexts
from ..model.configuration_bertram import setting
from ..model.encoder import whole_word_rows
from ..util import eval_mode
from .metrics import mean_cosine
from .seeds import SeedStreams
from .words import WordContexts

EpochLogger = Callable[[int, Optional[float], float, Optional[float]], None]
Validator = Callable[[], float]


@dataclass
class StageConfig:
    """Optimiser settings of one stage (Adam, MSE to the targets)."""

    epochs: int = setting(help="Epochs (0: the stage keeps its starting point).")
    lr: float = setting(help="Adam's learning rate.")
    batch_size: int = setting(help="Words per optimiser step.")

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.lr <= 0 or self.batch_size < 1:
            raise ValueError(
                f"A stage needs epochs >= 0, lr > 0 and batch_size >= 1, got {self}."
            )


@dataclass
class ContextCache:
    """Frozen encoder states at the mask of every usable context, grouped by word."""

    words: List[str]
    vectors: torch.Tensor  # [n_contexts, hidden]
    starts: List[int]
    counts: List[int]
    form: Optional[torch.Tensor]  # [n_words, embedding_dim] fixed form vectors, if frozen


@dataclass
class RankingLoss:
    """Cross-entropy of a softmax over scaled cosines: the target against every
    whole-word row of the encoder's input embeddings (a row equal to the target is left
    out, so a whole word's own row is counted once, as the target)."""

    rows: torch.Tensor  # [R, D] unit rows
    weight: float
    scale: float = 20.0

    @classmethod
    def for_model(cls, model: BertramModel, weight: float) -> "RankingLoss":
        ids, _ = whole_word_rows(model.tokenizer)
        embeddings = model.encoder.get_input_embeddings().weight.detach()
        rows = embeddings[torch.tensor(ids, device=embeddings.device)].float()
        return cls(nn.functional.normalize(rows, dim=-1).to(model.device), weight)

    def logits(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """[B, R + 1] scaled cosines of each output to the rows, then to its target."""
        predicted = nn.functional.normalize(predicted.float(), dim=-1)
        target = nn.functional.normalize(target.float(), dim=-1)
        to_rows = self.scale * predicted @ self.rows.T
        to_rows = to_rows.masked_fill(target @ self.rows.T > 1 - 1e-5, float("-inf"))
        return torch.cat([to_rows, self.scale * (predicted * target).sum(-1, keepdim=True)], dim=1)

    def __call__(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = self.logits(predicted, target)
        label = torch.full((len(logits),), logits.shape[1] - 1, dtype=torch.long, device=logits.device)
        return self.weight * nn.functional.cross_entropy(logits, label)

    def reciprocal_ranks(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each target's reciprocal rank [N] among the rows and itself (ties count for it)."""
        logits = self.logits(predicted, target)
        return 1.0 / (1 + (logits[:, :-1] > logits[:, -1:]).sum(dim=1)).float()

    def reciprocal_rank(self, predicted: torch.Tensor, target: torch.Tensor) -> float:
        """Mean reciprocal rank of the targets (`reciprocal_ranks`)."""
        return float(self.reciprocal_ranks(predicted, target).mean())


def encode_context_cache(
    model: BertramModel,
    words_contexts: WordContexts,
    *,
    max_contexts: Optional[int],
    batch_size: int = 64,
    show_progress: bool = False,
) -> ContextCache:
    """Run the frozen encoder once over all contexts (sorted by length, full batches).

    Words whose contexts never contain them are left out. In "add" mode the form
    vectors are computed once in eval mode (no n-gram dropout) and kept with the cache.
    """
    selected = {w: model.context_tokenizer.select(w, c, max_contexts) for w, c in words_contexts.items()}
    words = [w for w in words_contexts if selected[w]]
    counts = [len(selected[w]) for w in words]
    starts = [0, *itertools.accumulate(counts)][: len(counts)]
    with eval_mode(model), torch.inference_mode():
        form = model.form_vectors(words) if model.config.mode in ("add", "replace") else None
        with tqdm(total=sum(counts), desc="encoding contexts", unit="ctx", disable=not show_progress) as bar:
            vectors, _ = encode_context_vectors(
                model, [selected[w] for w in words], form, batch_size=batch_size, progress=bar
            )
    return ContextCache(words, vectors.clone(), starts, counts, None if form is None else form.clone())


def _sample_contexts(
    cache: ContextCache, rows: Sequence[int], sample_range: Tuple[int, int], rng: random.Random
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per word a random number (within `sample_range`) of its cached contexts, padded."""
    low, high = sample_range
    picks = []
    for row in rows:
        n = cache.counts[row]
        k = rng.randint(min(low, n), min(high, n))
        picks.append([cache.starts[row] + i for i in sorted(rng.sample(range(n), k))])
    width = max(len(p) for p in picks)
    index = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, pick in enumerate(picks):
        index[i, : len(pick)] = torch.tensor(pick)
        mask[i, : len(pick)] = True
    device = cache.vectors.device
    return cache.vectors[index.to(device)], mask.to(device)


def _all_contexts(cache: ContextCache, rows: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Every cached context of each word, padded: the deterministic input for validation."""
    width = max(cache.counts[r] for r in rows)
    index = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, row in enumerate(rows):
        index[i, : cache.counts[row]] = torch.arange(cache.starts[row], cache.starts[row] + cache.counts[row])
        mask[i, : cache.counts[row]] = True
    device = cache.vectors.device
    return cache.vectors[index.to(device)], mask.to(device)


def cache_outputs(model: BertramModel, cache: ContextCache, batch_size: int = 256) -> torch.Tensor:
    """The model's vectors [W, D] from all of each word's cached contexts (eval mode)."""
    outputs = []
    with eval_mode(model), torch.inference_mode():
        for begin in range(0, len(cache.words), batch_size):
            rows = list(range(begin, min(begin + batch_size, len(cache.words))))
            words = [cache.words[r] for r in rows]
            grouped, mask = _all_contexts(cache, rows)
            base = model.wordpiece_base(words)
            form = cache.form[rows] if cache.form is not None else model.form_vectors(words, base)
            outputs.append(model.assemble(form, grouped, mask, base))
    return torch.cat(outputs)


def cache_cosine(model: BertramModel, cache: ContextCache, targets: Dict[str, torch.Tensor]) -> float:
    """Mean cosine to the targets of `cache_outputs`: the validation score of the cached stages."""
    return mean_cosine(cache_outputs(model, cache), cache.words, targets)


def cache_reciprocal_rank(
    model: BertramModel, cache: ContextCache, targets: Dict[str, torch.Tensor], ranking: RankingLoss
) -> float:
    """Mean reciprocal rank of the targets (`RankingLoss.reciprocal_rank`) of `cache_outputs`:
    the validation score of the cached stages when they train with the ranking objective."""
    target = torch.stack([targets[w] for w in cache.words]).to(model.device)
    return ranking.reciprocal_rank(cache_outputs(model, cache), target)


def form_cosine(model: BertramModel, words: Sequence[str], targets: Dict[str, torch.Tensor]) -> float:
    """Mean cosine to the targets of the form part's vectors (eval mode, no n-gram
    dropout): the validation score of stage 2."""
    with eval_mode(model), torch.inference_mode():
        vectors = model.form_vectors(list(words))
    return mean_cosine(vectors, words, targets)


def fit_output_map(
    model: BertramModel, cache: ContextCache, targets: Dict[str, torch.Tensor], ridge: float
) -> None:
    """Warm start: set the output map to the ridge least-squares fit from each word's mean
    cached context state to its target (closed form, on the cache, no encoder call).

    Attentive mimicking starts out close to a plain mean, so gradient steps begin where
    a linear read-out of the encoder already works, instead of from a random map whose
    outputs are far off the small-normed embedding space. With
    config.wordpiece_residual the fit is to what the model adds to its
    wordpiece base (target minus base), on the words without an own row alone with
    config.keep_whole_words.
    """
    states = torch.stack([cache.vectors[s : s + c].mean(0) for s, c in zip(cache.starts, cache.counts)])
    target = torch.stack([targets[w] for w in cache.words]).to(states.device)
    with torch.no_grad():
        wordpieces = model.wordpiece_base(cache.words)
    base, whole = wordpieces.base, wordpieces.whole
    target = target - base.to(target.device)
    if whole is not None and bool((~whole).any()):  # only corrected words shape the map
        corrected = ~whole.to(states.device)
        states, target = states[corrected], target[corrected]
    _ridge_fit(model.output, states, target, ridge)


def fit_wordpiece_map(
    model: BertramModel, words: Sequence[str], targets: Dict[str, torch.Tensor], ridge: float
) -> int:
    """Set the model's `wordpiece` map to the ridge least-squares fit from each split
    word's wordpiece mean to its target minus that mean (closed form); return how many
    words the fit saw. With no split word among `words` the map stays zero.

    Only words split into several pieces count: the map is zero for the others.
    """
    if not model.has_part("wordpiece"):
        raise ValueError("The model has no wordpiece map (config.wordpiece_map is off).")
    if ridge <= 0:
        raise ValueError(f"The wordpiece map's ridge must be > 0, got {ridge}.")
    words = [w for w in words if w in targets]
    wordpieces = model.wordpiece_base(words)
    mean = wordpieces.mean
    split = torch.nonzero(wordpieces.n_pieces > 1, as_tuple=True)[0]
    if split.numel() == 0:
        return 0
    target = torch.stack([targets[words[i]] for i in split.tolist()]).to(mean.device)
    _ridge_fit(model.wordpiece.linear, mean[split], target - mean[split], ridge)
    return int(split.numel())


# Context counts the wordpiece gate is fitted at: a word read from none (its form
# alone), from a few and from many contexts.
GATE_CONTEXT_COUNTS = (0, 1, 2, 4, 8, 16)
GATE_L2 = 1e-3


def fit_wordpiece_gate(
    model: BertramModel,
    cache: Optional[ContextCache],
    typos: Mapping[str, str],
    targets: Mapping[str, torch.Tensor],
    *,
    seed: int,
    steps: int = 100,
) -> Dict[str, Any]:
    """Fit the model's `wordpiece_gate` to the targets of split words; return its fit.

    The rows (`_gate_rows`) are each word of `cache` (validation words the tokenizer
    splits) read from a seeded sample of each of `GATE_CONTEXT_COUNTS` of its cached
    contexts, and each misspelling of `typos` (`{typo: word}`, no contexts) with its
    word's target; so α learns how much contexts, and a form far from its pieces, are
    worth. The fit minimises the ranking objective (`RankingLoss`: the target nearer
    than every whole-word row, as the context stages learn) plus one minus the mean
    cosine to the targets (the mimicking score; ranking alone lets the vector drift
    from targets that OTA starts at the mean) plus `GATE_L2` times the squared weights,
    which keeps a fit on a few rows finite, by L-BFGS on the gate's 5 weights. The gate
    stays at α = 0.5 when there is no row.
    """
    if not model.has_part("wordpiece_gate"):
        raise ValueError("The model has no wordpiece gate (config.wordpiece_gate is off).")
    rows = _gate_rows(model, cache, typos, targets, random.Random(seed))
    if rows is None:
        return {"gate_rows": 0}
    mean, vector, n_contexts, n_pieces, target = rows
    gate = model.wordpiece_gate
    features = gate.features(mean, vector, n_contexts, n_pieces)
    ranking = RankingLoss.for_model(model, 1.0)
    weight = torch.zeros(features.shape[1] + 1, device=mean.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight], max_iter=steps, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        alpha = torch.sigmoid(features @ weight[:-1] + weight[-1])
        mixed = gate.mix(mean, vector, alpha)
        cosine = nn.functional.cosine_similarity(mixed, target).mean()
        value = ranking(mixed, target) + (1 - cosine) + GATE_L2 * weight[:-1].pow(2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(objective)
    with torch.no_grad():
        gate.linear.weight.copy_(weight[:-1].view(1, -1))
        gate.linear.bias.copy_(weight[-1:])
        alpha = torch.sigmoid(gate.linear(features)).squeeze(-1)
        fit: Dict[str, Any] = {"gate_rows": len(target), "gate_weights": [round(float(w), 4) for w in weight]}
        for name, vectors in (("wordpiece_mean", mean), ("vector", vector), ("gated", gate.mix(mean, vector, alpha))):
            fit[f"{name}_cosine"] = float(nn.functional.cosine_similarity(vectors, target).mean())
            fit[f"{name}_mrr"] = ranking.reciprocal_rank(vectors, target)
        for k in sorted(set(n_contexts.tolist())):
            fit[f"gate_alpha_{k}_contexts"] = round(float(alpha[n_contexts == k].mean()), 4)
    return fit


def _gate_rows(
    model: BertramModel,
    cache: Optional[ContextCache],
    typos: Mapping[str, str],
    targets: Mapping[str, torch.Tensor],
    rng: random.Random,
) -> Optional[Tuple[torch.Tensor, ...]]:
    """The gate's inputs and targets: (corrected) wordpiece means, the model's ungated vectors
    [R, D], numbers of contexts read and of pieces [R], targets [R, D]; None without rows.

    Groups of rows: the cache's words at each context count they have, then the typos."""
    groups: List[Tuple[List[str], List[int], int, List[str]]] = []  # words, cache rows, k, words meant
    for k in GATE_CONTEXT_COUNTS if cache is not None else ():
        rows = [r for r, n in enumerate(cache.counts) if n >= k]
        if rows:
            words = [cache.words[r] for r in rows]
            groups.append((words, rows, k, words))
    if typos:
        groups.append((sorted(typos), [], 0, [typos[t] for t in sorted(typos)]))
    if not groups:
        return None
    parts: List[List[torch.Tensor]] = [[], [], [], []]
    with eval_mode(model), torch.inference_mode():
        for words, rows, k, _ in groups:
            base = model.wordpiece_base(words)
            if k:
                grouped, mask = _sample_contexts(cache, rows, (k, k), rng)
            else:
                grouped, mask = group_contexts(None, torch.zeros(0), len(words), model.config.hidden_size, model.device)
            form = cache.form[rows] if rows and cache.form is not None else model.form_vectors(words, base)
            vectors = model.ungated_vectors(form, grouped, mask, base)
            for part, value in zip(parts, (base.corrected_mean, vectors, mask.sum(dim=1), base.n_pieces)):
                part.append(value)
    mean, vector, n_contexts, n_pieces = (torch.cat(part) for part in parts)
    target = torch.stack([targets[w] for _, _, _, meant in groups for w in meant]).to(mean.device)
    return mean.float(), vector.float(), n_contexts, n_pieces, target.float()


def _ridge_fit(linear: nn.Linear, inputs: torch.Tensor, target: torch.Tensor, ridge: float) -> None:
    """Set `linear` (weight and bias) to the ridge least-squares fit inputs -> target,
    solved in closed form in double precision."""
    inputs = torch.cat([inputs, torch.ones_like(inputs[:, :1])], dim=1).double()
    gram = inputs.T @ inputs + ridge * torch.eye(inputs.shape[1], dtype=inputs.dtype, device=inputs.device)
    solution = torch.linalg.solve(gram, inputs.T @ target.double())
    with torch.no_grad():
        linear.weight.copy_(solution[:-1].T.to(linear.weight.dtype))
        linear.bias.copy_(solution[-1].to(linear.bias.dtype))


def trainable_parameters(model: BertramModel, parts: Sequence[str]) -> List[nn.Parameter]:
    """Parameters of the named parts, with requires_grad set on them and off elsewhere."""
    for param in model.parameters():
        param.requires_grad_(False)
    params = [p for name in parts for p in getattr(model, name).parameters()]
    for param in params:
        param.requires_grad_(True)
    return params


class _Adam:
    """Adam for dense gradients, SparseAdam for sparse ones (the n-gram table's).

    A parameter joins one of them at its first gradient, which shows its kind: one
    that the first batches leave untouched is not misfiled as dense.
    """

    def __init__(self, params: List[nn.Parameter], lr: float) -> None:
        self.lr = lr
        self.waiting = list(params)
        self.optimizers: Dict[bool, torch.optim.Optimizer] = {}

    def zero_grad(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        for param in self.waiting:
            param.grad = None

    def step(self) -> None:
        for param in [p for p in self.waiting if p.grad is not None]:
            sparse = param.grad.is_sparse
            if sparse in self.optimizers:
                self.optimizers[sparse].add_param_group({"params": [param]})
            else:
                kind = torch.optim.SparseAdam if sparse else torch.optim.Adam
                self.optimizers[sparse] = kind([param], lr=self.lr)
        self.waiting = [p for p in self.waiting if p.grad is None]
        for optimizer in self.optimizers.values():
            optimizer.step()


def _run_epochs(
    n_items: int,
    step: Callable[[List[int]], torch.Tensor],
    params: List[nn.Parameter],
    config: StageConfig,
    *,
    seed: int,
    desc: str,
    log_epoch: Optional[EpochLogger],
    show_progress: bool,
    validate: Optional[Validator] = None,
) -> List[float]:
    """Shuffled mini-batches of item indices; Adam on `params`; mean loss per epoch.

    With `validate`, the parameters end at the best-scoring epoch (epoch 0: as they
    came in); every score is logged, epoch 0's with no loss.
    """
    optimizer = _Adam(params, lr=config.lr)
    rng = random.Random(SeedStreams(seed)("batch order"))
    losses: List[float] = []
    best_score = validate() if validate is not None else None
    best_state = [p.detach().clone() for p in params] if validate is not None else None
    if validate is not None and log_epoch is not None:
        log_epoch(0, None, 0.0, best_score)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        order = list(range(n_items))
        rng.shuffle(order)
        total, seen = 0.0, 0
        batches = range(0, n_items, config.batch_size)
        bar = tqdm(
            batches, desc=f"{desc} epoch {epoch}/{config.epochs}", unit="batch", disable=not show_progress, leave=False
        )
        for begin in bar:
            rows = order[begin : begin + config.batch_size]
            optimizer.zero_grad()
            loss = step(rows)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
            seen += len(rows)
        losses.append(total / max(seen, 1))
        score = validate() if validate is not None else None
        if score is not None and score > best_score:
            best_score, best_state = score, [p.detach().clone() for p in params]
        if log_epoch is not None:
            log_epoch(epoch, losses[-1], time.perf_counter() - started, score)
    if best_state is not None:
        with torch.no_grad():
            for param, best in zip(params, best_state):
                param.copy_(best)
    return losses


def train_on_cache(
    model: BertramModel,
    cache: ContextCache,
    targets: Dict[str, torch.Tensor],
    config: StageConfig,
    parts: Sequence[str],
    *,
    sample_range: Tuple[int, int],
    seed: int,
    desc: str,
    log_epoch: Optional[EpochLogger] = None,
    show_progress: bool = False,
    validate: Optional[Validator] = None,
    ranking: Optional[RankingLoss] = None,
) -> List[float]:
    """Stage 1 and cached stage 3: mimicking (+ form, gate when they train) on cached
    states; MSE to the targets, plus `ranking` when given."""
    target = torch.stack([targets[w] for w in cache.words]).to(model.device)
    params = trainable_parameters(model, parts)
    rng = random.Random(SeedStreams(seed)("context sample"))
    model.train()

    def step(rows: List[int]) -> torch.Tensor:
        grouped, mask = _sample_contexts(cache, rows, sample_range, rng)
        words = [cache.words[r] for r in rows]
        base = model.wordpiece_base(words)
        form = cache.form[rows] if cache.form is not None else model.form_vectors(words, base)
        predicted = model.assemble(form, grouped, mask, base)
        loss = nn.functional.mse_loss(predicted, target[rows])
        return loss if ranking is None else loss + ranking(predicted, target[rows])

    losses = _run_epochs(
        len(cache.words), step, params, config, seed=seed, desc=desc, log_epoch=log_epoch, show_progress=show_progress,
        validate=validate,
    )
    model.eval()
    return losses


def train_form(
    model: BertramModel,
    words: Sequence[str],
    targets: Dict[str, torch.Tensor],
    config: StageConfig,
    *,
    seed: int,
    log_epoch: Optional[EpochLogger] = None,
    show_progress: bool = False,
    validate: Optional[Validator] = None,
) -> List[float]:
    """Stage 2: n-gram embeddings alone (with n-gram dropout); no encoder at all."""
    words = list(words)
    target = torch.stack([targets[w] for w in words]).to(model.device)
    params = trainable_parameters(model, ["form"])
    model.train()

    def step(rows: List[int]) -> torch.Tensor:
        return nn.functional.mse_loss(model.form_vectors([words[r] for r in rows]), target[rows])

    losses = _run_epochs(
        len(words), step, params, config, seed=seed, desc="form", log_epoch=log_epoch, show_progress=show_progress,
        validate=validate,
    )
    model.eval()
    return losses


def train_end_to_end(
    model: BertramModel,
    words_contexts: WordContexts,
    targets: Dict[str, torch.Tensor],
    config: StageConfig,
    parts: Sequence[str],
    *,
    sample_range: Tuple[int, int],
    seed: int,
    log_epoch: Optional[EpochLogger] = None,
    show_progress: bool = False,
    validate: Optional[Validator] = None,
) -> List[float]:
    """Stage 3 for "replace": the form vector enters the encoder, so it runs every step."""
    words = list(words_contexts)
    target = torch.stack([targets[w] for w in words]).to(model.device)
    params = trainable_parameters(model, parts)
    rng = random.Random(SeedStreams(seed)("context sample"))
    low, high = sample_range
    model.train()

    def step(rows: List[int]) -> torch.Tensor:
        items = []
        for r in rows:
            contexts = words_contexts[words[r]]
            k = rng.randint(min(low, len(contexts)), min(high, len(contexts)))
            items.append((words[r], rng.sample(contexts, k)))
        return nn.functional.mse_loss(model(model.collate(items)), target[rows])

    losses = _run_epochs(
        len(words), step, params, config, seed=seed, desc="combined", log_epoch=log_epoch, show_progress=show_progress,
        validate=validate,
    )
    model.eval()
    return losses
