"""What the mimicking score rewards on split words: two controls on a run's validation words.

A split word's target is OTA's one-token approximation, which starts at the word's
wordpiece mean and moves as far as its steps take it. Held-out mimicking (cosine or
rank of the target among the whole-word rows) then measures what a vector shares with
that movement. Two controls, on the run's validation split words only (never its
held-out or nonce words):

- shared offset: each system's vectors plus one offset, the mean of (target − vector)
  over the run's training split words. When the mean of wordpieces plus an offset
  mimics the targets as well as a model does, the score measures how OTA moves every
  target alike, not what the model reads in a word's contexts.
- OTA steps: the targets recomputed at other step counts; OTA's loss (end / start),
  the targets' cosine to the mean they start from, and each system's scores.
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from ..model import BertramModel, infer_vectors
from ..training.config import TrainingConfig
from ..training.ota import OtaConfig
from ..training.stages import RankingLoss
from ..training.targets import compute_targets
from ..training.trainer import TRAINING_CONFIG_NAME, splits_word
from ..training.words import WordContexts
from ..util import read_json
from .crw import MEAN_OF_WORDPIECES, labelled_models
from .significance import paired_bootstrap
from .tables import format_p, markdown_table

Targets = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class TargetScore:
    """Mean cosine to the targets and mean reciprocal rank of the targets among the
    whole-word rows (`RankingLoss.reciprocal_ranks`)."""

    cosine: float
    mrr: float


@dataclass
class OffsetRow:
    """One system on the validation split words, as it is and plus its shared offset;
    `p`: two-sided paired bootstrap of its cosine plus offset against the mean's plus
    offset (None for the mean itself)."""

    as_is: TargetScore
    plus_offset: TargetScore
    p: Optional[float]


@dataclass
class StepsRow:
    """Targets at one OTA step count: OTA's fit and each system's scores (`p`: cosine
    against the mean of wordpieces')."""

    steps: int
    loss_ratio: float
    cosine_to_mean: float
    scores: Dict[str, TargetScore]
    p: Dict[str, float]


@dataclass
class SplitTargetResult:
    words: int  # validation split words scored
    offset_words: int  # training split words the offsets are the mean over
    contexts: int  # contexts each system reads per word
    offset: Dict[str, OffsetRow]
    steps: List[StepsRow]

    def to_dict(self) -> Dict:
        return dataclasses.asdict(self)


def evaluate_split_targets(
    models: Sequence[Tuple[str, BertramModel]],
    validation: WordContexts,
    train: WordContexts,
    *,
    ota: OtaConfig,
    steps: Sequence[int],
    contexts: int = 8,
    targets: Optional[Targets] = None,
    batch_size: int = 64,
) -> SplitTargetResult:
    """Both controls for the models (one encoder) on the split words of `validation`,
    with offsets from the split words of `train`; each system reads the first
    `contexts` contexts of a word. `targets`: the run's own (its OTA settings), computed
    with `ota` when not given; `steps`: the step counts of the second control."""
    if not models:
        raise ValueError("Pass at least one BERTRAM model.")
    first = models[0][1]
    encoder, tokenizer = first.encoder, first.tokenizer
    split = splits_word(tokenizer)
    scored, fitted = [w for w in validation if split(w)], [w for w in train if split(w)]
    if not scored or not fitted:
        raise ValueError(
            f"The controls need split words among both the validation words ({len(scored)}) and the "
            f"training words ({len(fitted)}); train with split words (e.g. --split-share 0.5)."
        )
    everything = {**{w: train[w] for w in fitted}, **{w: validation[w] for w in scored}}
    if targets is None or any(w not in targets for w in everything):
        targets = compute_targets(encoder, tokenizer, list(everything), ota=ota, contexts=everything)
    ranking = RankingLoss.for_model(first, 1.0)
    systems = _system_vectors(models, everything, contexts, batch_size)
    rows = {w: i for i, w in enumerate(everything)}
    at_scored, at_fitted = [rows[w] for w in scored], [rows[w] for w in fitted]
    own = torch.stack([torch.as_tensor(targets[w]).float() for w in everything])

    scored_targets = own[at_scored]
    plus_offset = {
        label: _scores(vectors[at_scored] + (own[at_fitted] - vectors[at_fitted]).mean(dim=0), scored_targets, ranking)
        for label, vectors in systems.items()
    }
    p_values = _against_mean(plus_offset)
    offset = {
        label: OffsetRow(_scores(systems[label][at_scored], scored_targets, ranking)[0], score, p_values.get(label))
        for label, (score, _) in plus_offset.items()
    }

    by_steps: List[StepsRow] = []
    for count in steps:
        fit: Dict[str, float] = {}
        moved = compute_targets(
            encoder, tokenizer, scored, ota=dataclasses.replace(ota, steps=count),
            contexts={w: validation[w] for w in scored}, report=fit.update,
        )
        target = torch.stack([moved[w] for w in scored]).float()
        scores = {label: _scores(vectors[at_scored], target, ranking) for label, vectors in systems.items()}
        by_steps.append(StepsRow(
            steps=count,
            loss_ratio=float(fit["ota_loss_ratio"]),
            cosine_to_mean=float(fit["ota_cosine_to_mean"]),
            scores={label: score for label, (score, _) in scores.items()},
            p=_against_mean(scores),
        ))
    return SplitTargetResult(len(scored), len(fitted), contexts, offset, by_steps)


def _system_vectors(
    models: Sequence[Tuple[str, BertramModel]], words: WordContexts, contexts: int, batch_size: int
) -> Dict[str, torch.Tensor]:
    """{label: [W, D]} for the mean of wordpieces and each model (`labelled_models`
    labels), each word read from its first `contexts` contexts."""
    order = list(words)
    systems = {MEAN_OF_WORDPIECES: models[0][1].wordpiece_base(order).mean.float().cpu()}
    first = {w: list(words[w])[:contexts] for w in order}
    for label, model, form_only in labelled_models(models):
        if form_only:
            continue
        vectors = infer_vectors(model, first, max_contexts=contexts, batch_size=batch_size)
        systems[label] = torch.stack([torch.as_tensor(vectors[w]) for w in order]).float()
    return systems


def _scores(vectors: torch.Tensor, targets: torch.Tensor, ranking: RankingLoss) -> Tuple[TargetScore, torch.Tensor]:
    """The vectors' `TargetScore` and each one's cosine to its target."""
    cosines = torch.nn.functional.cosine_similarity(vectors, targets, dim=1)
    device = ranking.rows.device
    mrr = ranking.reciprocal_rank(vectors.to(device), targets.to(device))
    return TargetScore(cosine=float(cosines.mean()), mrr=mrr), cosines


def _against_mean(scores: Mapping[str, Tuple[TargetScore, torch.Tensor]]) -> Dict[str, float]:
    """Per system but the mean of wordpieces: the two-sided paired bootstrap p of its
    per-word cosines against the mean's."""
    mean = scores[MEAN_OF_WORDPIECES][1].tolist()
    return {
        label: paired_bootstrap(cosines.tolist(), mean).p_value
        for label, (_, cosines) in scores.items() if label != MEAN_OF_WORDPIECES
    }


def split_target_tables(result: SplitTargetResult) -> str:
    """The two controls as Markdown tables."""
    offset = markdown_table(
        ["system", "cosine", "MRR", "cosine + offset", "MRR + offset", "p (+ offset, vs the mean + offset)"],
        [
            [label, f"{row.as_is.cosine:.3f}", f"{row.as_is.mrr:.3f}", f"{row.plus_offset.cosine:.3f}",
             f"{row.plus_offset.mrr:.3f}", "–" if row.p is None else format_p(row.p)]
            for label, row in result.offset.items()
        ],
    )
    labels = list(result.offset)
    steps = markdown_table(
        ["OTA steps", "loss end / start", "target cosine to the mean",
         *[f"{label} cosine / MRR" for label in labels]],
        [
            [row.steps, f"{row.loss_ratio:.3f}", f"{row.cosine_to_mean:.3f}",
             *[f"{row.scores[label].cosine:.3f} / {row.scores[label].mrr:.3f}"
               + (f" (p {format_p(row.p[label])})" if label in row.p else "") for label in labels]]
            for row in result.steps
        ],
    )
    return (
        f"{result.words} validation split words, {result.contexts} contexts each; offsets: the mean "
        f"(target − vector) over {result.offset_words} training split words.\n\n{offset}\n\n{steps}\n"
    )


def read_run_ota(run: Union[str, Path]) -> Tuple[OtaConfig, int]:
    """The OTA settings a BERTRAM run recorded in its `training_config.json`, and the
    contexts it kept per word (what OTA sampled its templates from)."""
    path = Path(run) / TRAINING_CONFIG_NAME
    fix = "pass the output folder of `python -m spacy_bertram train`"
    record = read_json(path, fix)
    if not isinstance(record, dict) or not isinstance(record.get("ota"), dict):
        raise ValueError(f"{path} records no OTA settings; {fix}.")
    return OtaConfig(**record["ota"]), int(record.get("max_contexts", TrainingConfig().max_contexts))
