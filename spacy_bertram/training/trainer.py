"""`train_bertram`: targets, then the three stages, resumable, logged, deterministic.

Layout of the output folder:

- `training_config.json`: the run's settings (a re-run with other settings refuses)
- `cache/targets-*.safetensors`: target vectors per word, keyed by encoder + OTA settings
- `stage1-context/`, `stage2-form/`, `stage3-<mode>/`: each stage's checkpoint
  (`save_pretrained`) with `stage.json` written last, so a re-run skips finished stages
- `training_log.jsonl`: loss and validation cosine per epoch, held-out mimicking
  cosine and the epoch kept per stage
- the final model itself (`config.json`, `model.safetensors`, `ngrams.txt`), loadable
  with `BertramModel.from_pretrained(output_dir)`
"""
import dataclasses
import json
import random
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import torch

from ..evaluation.significance import paired_bootstrap
from ..model import BertramModel, NgramVocab
from ..model.configuration_bertram import COMBINATION_MODES, CONFIG_NAME, BertramArchitecture
from ..model.encoder import load_tokenizer, word_pieces
from ..model.modeling_bertram import TRAINABLE_PARTS, WEIGHTS_NAME
from ..model.ngrams import NGRAMS_NAME
from ..util import resolve_encoder_path
from .config import TrainingConfig
from .metrics import inferred_vectors, mean_cosine, mimicking_cosine
from .misspellings import misspelled_copies, whole_vocabulary_words
from .seeds import SeedStreams
from .stages import (
    RankingLoss,
    cache_cosine,
    cache_reciprocal_rank,
    encode_context_cache,
    fit_output_map,
    fit_wordpiece_gate,
    fit_wordpiece_map,
    form_cosine,
    train_end_to_end,
    train_form,
    train_on_cache,
)
from .targets import compute_targets
from .words import WordContexts, read_training_words, split_held_out

# With validation words, the output map's warm-start ridge is the best of these
# multiples of TrainingConfig.output_init_ridge (the largest all but zeroes the map).
RIDGE_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
TRAINING_CONFIG_NAME = "training_config.json"
LOG_NAME = "training_log.jsonl"
# The run's training, validation and held-out words, for evaluations that must not
# score a word the model learned from (the nonce test).
WORDS_NAME = "words.json"
# The run's OTA targets (`targets.compute_targets`'s cache) when no cache_dir is given.
CACHE_DIR = "cache"
STAGE_DONE = "stage.json"


class _RunLog:
    """Appends one JSON object a line to the run's log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, **record: Any) -> None:
        with self.path.open("a", encoding="utf8") as file:
            file.write(json.dumps(record) + "\n")


def _check_run_config(output_dir: Path, record: Dict[str, Any], restart: bool = False) -> Dict[str, Any]:
    """Refuse to resume a run made with other settings, or with `restart` remove its
    files (`_clear_run`); return the record as stored."""
    path = output_dir / TRAINING_CONFIG_NAME
    record = json.loads(json.dumps(record))  # compare as stored: tuples become lists
    if path.is_file():
        previous = _flat(json.loads(path.read_text(encoding="utf8")))
        current = _flat(record)
        if previous != current:
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            if not restart:
                raise ValueError(
                    f"{output_dir} holds a run with other settings (differs in {changed}). Resume with the "
                    "same settings, pass a new output folder, or start it over (`restart=True`, `--restart`: "
                    "the run's files are removed, its cache of targets kept)."
                )
            _clear_run(output_dir)
    return record


def _clear_run(output_dir: Path) -> None:
    """Remove the files a training run writes to `output_dir`, by name: its model, log,
    word lists, settings and stage folders. The target cache (keyed by its own settings)
    and anything else in the folder stay."""
    for name in (TRAINING_CONFIG_NAME, LOG_NAME, WORDS_NAME, CONFIG_NAME, WEIGHTS_NAME, NGRAMS_NAME):
        (output_dir / name).unlink(missing_ok=True)
    for mode in COMBINATION_MODES:
        for folder, _ in TrainingConfig(model=BertramArchitecture(mode=mode)).stages():
            if (output_dir / folder).is_dir():
                shutil.rmtree(output_dir / folder)


def _flat(record: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """A nested record as `{"model.mode": ...}`, so a difference names the setting."""
    flat: Dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


# Contexts a nonce-test word needs (its largest N); whole words held out for it need
# at least this many occurrences.
NONCE_MIN_COUNT = 32


def splits_word(tokenizer) -> Callable[[str], bool]:
    """A predicate: does the tokenizer split the word into several known pieces?"""
    unknown = tokenizer.unk_token_id
    return lambda word: len(ids := word_pieces(tokenizer, [word])[0]) > 1 and unknown not in ids


def select_training_words(
    words_source: Union[str, Path, Mapping[str, Sequence[str]], Any], config: "TrainingConfig", tokenizer
) -> Tuple[WordContexts, WordContexts, WordContexts]:
    """The run's (training, validation, held-out) words with their contexts.

    With the model's wordpiece residual, only words the tokenizer splits qualify: a
    word kept whole has its own row, which is its target, as its base, so the form
    vector in the `form :` slot would hold the answer; training, validation and
    held-out words are all split words, as the rare words the model serves are. Without
    it, `config.split_share` keeps a share of a sampled store's words for split words, and
    held-out and validation words take split and whole words in proportion.
    """
    model = config.model
    seeds = SeedStreams(config.seed)
    splits = splits_word(tokenizer)
    keep = splits if model.wordpiece_residual else None
    if isinstance(words_source, Mapping):
        words_contexts = {
            w.lower(): list(c)[: config.max_contexts]
            for w, c in words_source.items()
            if keep is None or keep(w.lower())
        }
        if not words_contexts:
            raise ValueError(
                "No training word is split by the encoder's tokenizer; with the "
                "wordpiece residual, only split words train BERTRAM. Pass rarer words."
            )
    else:
        words_contexts = read_training_words(
            words_source,
            min_count=config.min_count,
            max_words=config.max_words,
            max_contexts=config.max_contexts,
            seed=seeds("word sample"),
            keep=keep,
            stratum=splits,
            stratum_share=config.split_share,
        )
    # split words, the kind the model serves, are held out at their share
    train_words, held_out = split_held_out(
        words_contexts, config.held_out, seed=seeds("held-out words"), stratum=splits
    )
    train_words, validation = split_held_out(
        train_words, config.validation, seed=seeds("validation words"), stratum=splits
    )
    return train_words, validation, held_out


def nonce_test_words(words_source: Any, config: "TrainingConfig", tokenizer) -> WordContexts:
    """A seeded sample of frequent words the tokenizer keeps whole, for the nonce test.

    Training uses split words only, so these are never trained on; the trainer also
    leaves them out of the form stage's misspellings of whole words. Only a context
    store (or its path) has the counts to choose them; other sources give none.
    """
    if not config.nonce_words or isinstance(words_source, Mapping):
        return {}
    if not hasattr(words_source, "contexts_many") and Path(words_source).suffix not in (".sqlite", ".db"):
        return {}
    splits, unknown = splits_word(tokenizer), tokenizer.unk_token_id
    return read_training_words(
        words_source,
        min_count=max(config.min_count, NONCE_MIN_COUNT),
        max_words=config.nonce_words,
        max_contexts=1,
        seed=SeedStreams(config.seed)("nonce words"),
        keep=lambda w: w.isalpha() and not splits(w) and unknown not in word_pieces(tokenizer, [w])[0],
    )


def train_bertram(
    encoder: Union[str, Path, None],
    words_source: Union[str, Path, Mapping[str, Sequence[str]], Any],
    output_dir: Union[str, Path],
    config: Optional[TrainingConfig] = None,
    *,
    device: Union[str, int, torch.device, None] = None,
    cache_dir: Union[str, Path, None] = None,
    show_progress: bool = True,
    restart: bool = False,
) -> Path:
    """Train a BERTRAM model for `encoder` and save it to `output_dir`; return that folder.

    `words_source` is a context store (object or `.sqlite` path), a
    `word<TAB>context...` file, or a `{word: [contexts]}` mapping. A re-run with the
    same settings skips the stages that finished; a folder holding a run with other
    settings is refused, or with `restart` cleared of that run's files and trained anew.
    `cache_dir` (default `output_dir/cache`) holds the target vectors.
    """
    config = config or TrainingConfig()
    seeds = SeedStreams(config.seed)
    output_dir = Path(output_dir)
    source_name = words_source if isinstance(words_source, (str, Path)) else type(words_source).__name__
    record = _check_run_config(
        output_dir, {"encoder": str(encoder), "words_source": str(source_name), **config.to_dict()}, restart
    )
    tokenizer = load_tokenizer(resolve_encoder_path(encoder))
    train_words, validation, held_out = select_training_words(words_source, config, tokenizer)
    nonce = nonce_test_words(words_source, config, tokenizer)
    # misspellings of known words teach the form part: the corpus words and every word
    # the vocabulary keeps whole (its own row is its target), validation words aside
    vocabulary = whole_vocabulary_words(tokenizer) if config.form_misspellings else []
    vocabulary = [w for w in vocabulary if w not in validation and w not in held_out and w not in nonce]
    settings = config.model
    vocab = NgramVocab.build(
        sorted({*train_words, *vocabulary}),
        min_count=settings.ngram_min_count,
        n_min=settings.ngram_min,
        n_max=settings.ngram_max,
        lowercase=settings.lowercase_ngrams,
    )
    # the stages' models are copies of this one in their own modes; the wordpiece gate
    # comes last, on the final model
    settings = dataclasses.replace(settings, mode="context", wordpiece_gate=False)
    base = BertramModel.from_encoder(
        encoder,
        ngram_vocab=vocab,
        device=device,
        max_contexts=config.max_contexts,
        seed=seeds("initial weights"),
        **settings.to_dict(),
    )
    # Recorded once the inputs have loaded, so a typo in a path does not pin the folder.
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / TRAINING_CONFIG_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf8")
    log = _RunLog(output_dir / LOG_NAME)
    targets = compute_targets(
        base.encoder,
        base.tokenizer,
        sorted({*train_words, *validation, *held_out, *vocabulary}),
        ota=config.ota,
        contexts={**train_words, **validation, **held_out},
        cache_dir=cache_dir or output_dir / CACHE_DIR,
        show_progress=show_progress,
        report=lambda **fit: log.write(stage="targets", **fit),
    )
    train_words = {w: c for w, c in train_words.items() if w in targets}
    validation = {w: c for w, c in validation.items() if w in targets}
    held_out = {w: c for w, c in held_out.items() if w in targets}
    split_names = {"train": train_words, "validation": validation, "held_out": {**held_out, **nonce}}
    (output_dir / WORDS_NAME).write_text(json.dumps({k: sorted(v) for k, v in split_names.items()}), encoding="utf8")
    # the baseline: the mean of each held-out word's wordpieces
    wordpiece_mean = base.wordpiece_base(list(held_out)).mean if held_out else None
    held_out_scores = _HeldOutScores(held_out, _piece_groups(base.tokenizer, held_out), targets,
                                     RankingLoss.for_model(base, 1.0), wordpiece_mean)
    if held_out:
        cosine, groups = held_out_scores(wordpiece_mean, against_mean=False)
        log.write(stage="held_out", held_out_words=len(held_out), wordpiece_mean_cosine=cosine, **groups)
    if base.has_part("wordpiece"):
        fitted = fit_wordpiece_map(base, sorted(train_words), targets, config.wordpiece_ridge)
        log.write(stage="wordpiece", split_words=fitted, ridge=config.wordpiece_ridge)
    known = sorted({*train_words, *(w for w in vocabulary if w in targets)})
    trainer = _StageRunner(base, train_words, validation, targets, config, log, show_progress, known)
    # scored after each stage: a misspelling of each held-out word, and new misspellings
    # of known words (none of them seen in training or validation)
    probes = {
        "held_out": trainer.misspellings(base, held_out, seeds("held-out misspellings"), per_word=1),
        "known": {
            t: w
            for t, w in trainer.misspellings(base, train_words, seeds("known misspellings"), per_word=1).items()
            if t not in trainer.typos and t not in trainer.validation_typos
        },
    }
    for name, typos in probes.items():
        if typos:  # the baseline: the plain encoder reads a misspelling as its wordpieces
            cosine = mean_cosine(base.wordpiece_base(list(typos)).mean, list(typos.values()), targets)
            log.write(stage="misspellings", of=name, misspellings=len(typos), wordpiece_mean_cosine=cosine)

    def summary(stage: str, model: BertramModel, started: float) -> Dict[str, Any]:
        """A trained model's held-out scores, logged after its stage."""
        cosine, groups = held_out_scores(inferred_vectors(model, held_out) if held_out else None)
        record: Dict[str, Any] = {
            "stage": stage,
            "mode": model.config.mode,
            "train_words": len(train_words),
            "validation_words": len(validation),
            "best_epoch": trainer.best_epoch.get(stage),
            "held_out_words": len(held_out),
            "held_out_cosine": cosine,
            **groups,
            **{
                f"{name}_misspelled_cosine": _misspelled_cosine(model, typos, targets)
                for name, typos in probes.items()
                if typos and model.config.mode != "context"  # the context part alone cannot read them
            },
            "seconds": round(time.perf_counter() - started, 3),
        }
        log.write(**record)
        return record

    models = trainer.models
    for folder, kind in config.stages():
        stage_dir = output_dir / folder
        if (stage_dir / STAGE_DONE).is_file():
            models[kind] = BertramModel.from_pretrained(stage_dir, device=base.device)
            continue
        started = time.perf_counter()
        trainer.run(kind, seed=seeds(f"{kind} stage"))
        models[kind].save_pretrained(stage_dir)
        record = summary(kind, models[kind], started)
        (stage_dir / STAGE_DONE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf8")
    final = models[config.stages()[-1][1]]
    if config.model.wordpiece_gate:
        started = time.perf_counter()
        final = trainer.gated(final, seed=seeds("wordpiece gate"))
        summary("gate", final, started)
    final.save_pretrained(output_dir)
    return output_dir


def _piece_groups(tokenizer, words: WordContexts) -> Dict[str, WordContexts]:
    """The words the tokenizer splits into known pieces and those it keeps whole (one
    known piece: the word's own row is its target)."""
    unknown = tokenizer.unk_token_id
    pieces = dict(zip(words, word_pieces(tokenizer, list(words))))
    return {
        "split": {w: c for w, c in words.items() if len(pieces[w]) > 1 and unknown not in pieces[w]},
        "whole": {w: c for w, c in words.items() if pieces[w] != [unknown] and len(pieces[w]) == 1},
    }


class _HeldOutScores:
    """The held-out words' scores of one set of vectors: the mean cosine to the targets,
    per piece group (`_piece_groups`) too, and the rank of the split words' targets among
    the whole-word rows (`RankingLoss.reciprocal_ranks`). On split words each score is
    also tested against the wordpiece mean's (two-sided paired bootstrap over words).
    One inference serves them all."""

    def __init__(
        self,
        held_out: WordContexts,
        groups: Mapping[str, WordContexts],
        targets: Mapping[str, torch.Tensor],
        ranking: RankingLoss,
        wordpiece_mean: Optional[torch.Tensor],
    ) -> None:
        self.words, self.groups, self.ranking = list(held_out), groups, ranking
        self.row = {word: i for i, word in enumerate(self.words)}
        self.target_matrix = (
            torch.stack([torch.as_tensor(targets[w]).float() for w in self.words]) if self.words else torch.zeros(0)
        )
        self.split_rows = [self.row[w] for w in groups["split"]]
        self.mean_split = self._split_scores(wordpiece_mean, self._cosines(wordpiece_mean)) if self.split_rows else None

    def _cosines(self, vectors: torch.Tensor) -> torch.Tensor:
        """Per held-out word [W]: the cosine of its vector to its target."""
        return torch.nn.functional.cosine_similarity(vectors.float().cpu(), self.target_matrix, dim=1)

    def _split_scores(self, vectors: torch.Tensor, cosines: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per split word: the cosine to its target (of all words' `cosines`) and its
        target's reciprocal rank."""
        device = self.ranking.rows.device
        predicted = vectors[self.split_rows].float().to(device)
        target = self.target_matrix[self.split_rows].to(device)
        return cosines[self.split_rows], self.ranking.reciprocal_ranks(predicted, target).cpu()

    def __call__(
        self, vectors: Optional[torch.Tensor], against_mean: bool = True
    ) -> Tuple[Optional[float], Dict[str, Any]]:
        """(mean cosine of all, a record of `held_out_{group}_words`, `held_out_{group}_cosine`,
        `held_out_split_mrr` and, `against_mean`, `held_out_split_{cosine,mrr}_p`) for the
        vectors [W, D] of the held-out words in order (None when there are none)."""
        record: Dict[str, Any] = {}
        cosines = self._cosines(vectors) if self.words else torch.zeros(0)
        for name, words in self.groups.items():
            rows = [self.row[w] for w in words]
            record[f"held_out_{name}_words"] = len(rows)
            record[f"held_out_{name}_cosine"] = float(cosines[rows].mean()) if rows else None
        record["held_out_split_mrr"] = None
        if not self.words:
            return None, record
        if self.split_rows:
            split, ranks = self._split_scores(vectors, cosines)
            record["held_out_split_mrr"] = float(ranks.mean())
            if against_mean:
                mean_split, mean_ranks = self.mean_split
                record["held_out_split_cosine_p"] = paired_bootstrap(split.tolist(), mean_split.tolist()).p_value
                record["held_out_split_mrr_p"] = paired_bootstrap(ranks.tolist(), mean_ranks.tolist()).p_value
        return float(cosines.mean()), record


def _misspelled_cosine(model: BertramModel, typos: Mapping[str, str], targets: Mapping[str, torch.Tensor]) -> float:
    """Mean cosine of the model's vectors of misspellings (no contexts) to the targets
    of the words meant."""
    return mimicking_cosine(model, {t: [] for t in typos}, {t: targets[w] for t, w in typos.items()})


class _StageRunner:
    """Builds each stage's model from the previous stages and trains it, ending each
    stage on its best epoch for the validation words (when there are any)."""

    def __init__(self, base, train_words, validation, targets, config, log, show_progress, known=()) -> None:
        self.base = base
        self.train_words: WordContexts = train_words
        self.validation: WordContexts = validation
        self.targets = targets
        self.config: TrainingConfig = config
        self.log: _RunLog = log
        self.show_progress = show_progress
        self.sample_range = config.sample_range
        self.best_epoch: Dict[str, int] = {}
        self.models: Dict[str, BertramModel] = {}  # each finished stage's model
        self.ranking = RankingLoss.for_model(base, config.ranking_weight) if config.ranking_weight else None
        seeds = SeedStreams(config.seed)
        # the form stage's misspellings of the `known` words
        self.typos = self.misspellings(base, known, seeds("form misspellings"))
        # validated on new misspellings of as many known words as there are validation words
        sample = random.Random(seeds("validation misspelled words")).sample(
            sorted(known), min(len(validation), len(known))
        )
        fresh = self.misspellings(base, sample, seeds("validation misspellings"), per_word=1) if self.typos else {}
        self.validation_typos = {t: w for t, w in fresh.items() if t not in self.typos}

    def _model(self, mode: str, **settings: Any) -> BertramModel:
        """An untrained model like the base one, in `mode`, with other `settings` of its config."""
        config = dataclasses.replace(self.base.config, mode=mode, **settings)
        model = BertramModel(config, self.base.ngram_vocab, self.base.encoder, self.base.tokenizer)
        if model.has_part("wordpiece") and self.base.has_part("wordpiece"):  # the residual's: fitted once
            model.load_parts(self.base, ["wordpiece"])
        return model.to(self.base.device)

    def _logger(self, stage: str, metric: str = "validation_cosine"):
        """Per-epoch log records of `stage`, its validation score under the name `metric`."""
        scores: Dict[int, float] = {}

        def log_epoch(epoch: int, loss: Optional[float], seconds: float, validation: Optional[float]) -> None:
            record: Dict[str, Any] = {"stage": stage, "epoch": epoch, "loss": loss, "seconds": round(seconds, 3)}
            if validation is not None:
                record[metric] = validation
                scores[epoch] = validation
                # the epoch the stage ends on: the first best, as in `_run_epochs`
                self.best_epoch[stage] = max(scores, key=lambda e: (scores[e], -e))
            self.log.write(**record)

        return log_epoch

    def _encode(self, model: BertramModel, words: WordContexts):
        return encode_context_cache(
            model, words, max_contexts=self.config.max_contexts, show_progress=self.show_progress
        )

    def _caches(self, model: BertramModel, stage: str, trained_map: bool = False):
        """Training and validation context caches; warm-starts the output map (with
        `trained_map`, one that an earlier stage trained: a ridge fit replaces it only
        where it scores better on the validation words)."""
        started = time.perf_counter()
        cache = self._encode(model, self.train_words)
        validation = self._encode(model, self.validation) if self.validation else None
        if validation is not None and not validation.words:
            validation = None
        ridge = self._fit_output_map(model, cache, validation, trained_map)
        seconds = round(time.perf_counter() - started, 3)
        self.log.write(
            stage=stage,
            cached_contexts=int(cache.vectors.shape[0]),
            validation_contexts=int(validation.vectors.shape[0]) if validation else 0,
            output_ridge=ridge,
            cache_seconds=seconds,
        )
        return cache, validation

    def _fit_output_map(self, model: BertramModel, cache, validation, trained_map: bool) -> Optional[float]:
        """Warm-start the output map; with validation words, at the ridge (of
        `RIDGE_FACTORS` times the configured one) whose fit scores best on them.
        Return the ridge, or None when the map stays as it came in: a `trained_map`
        is kept unless a fit beats it on validation words (and without them)."""
        ridge = self.config.output_init_ridge
        if ridge is None or (trained_map and validation is None):
            return None
        candidates = [ridge] if validation is None else [ridge * f for f in RIDGE_FACTORS]
        kept = [p.detach().clone() for p in model.output.parameters()]
        best, best_score = None, cache_cosine(model, validation, self.targets) if trained_map else None
        for candidate in candidates:
            fit_output_map(model, cache, self.targets, candidate)
            score = cache_cosine(model, validation, self.targets) if validation else 0.0
            if best_score is None or score > best_score:
                best, best_score = candidate, score
        if best is None:
            with torch.no_grad():
                for param, value in zip(model.output.parameters(), kept):
                    param.copy_(value)
        elif best != candidates[-1]:
            fit_output_map(model, cache, self.targets, best)
        return best

    def run(self, stage: str, seed: int) -> BertramModel:
        """Train `stage` ("context", "form", or "combined" after both) into `models`.

        The stage's torch initialisation, batch order and context samples draw from
        `seed`."""
        torch.manual_seed(seed)
        train = {"context": self._context, "form": self._form, "combined": self._combined}[stage]
        self.models[stage] = train(dict(seed=seed, show_progress=self.show_progress))
        return self.models[stage]

    def _context(self, common: Dict[str, Any]) -> BertramModel:
        """Stage 1: attentive mimicking and the output map, on the context cache."""
        model = self._model("context")
        cache, validation = self._caches(model, "context")
        validate, metric = self._on_cache(model, validation)
        train_on_cache(
            model, cache, self.targets, self.config.context, ["mimicking", "output"],
            sample_range=self.sample_range, desc="context", validate=validate, ranking=self.ranking,
            log_epoch=self._logger("context", metric), **common,
        )
        return model

    def _form(self, common: Dict[str, Any]) -> BertramModel:
        """Stage 2: the form part alone, on the words without an own row and the
        misspellings."""
        model = self._model("form")
        train = list(self.train_words)  # a word kept at its own row has nothing to learn
        train = [w for w, own in zip(train, model.wordpiece_base(train).own_row) if not own]
        words, targets = list(self.validation), self.targets
        if self.typos:
            typos, valid_typos = self.typos, self.validation_typos
            targets = {**targets, **{t: targets[w] for t, w in {**typos, **valid_typos}.items()}}
            train, words = train + sorted(typos), words + sorted(valid_typos)
            self.log.write(
                stage="form", misspelled_training_words=len(typos), misspelled_validation_words=len(valid_typos)
            )
        validate = (lambda: form_cosine(model, words, targets)) if words else None
        if train:
            train_form(
                model, train, targets, self.config.form, validate=validate, log_epoch=self._logger("form"), **common
            )
        else:
            self.log.write(stage="form", skipped="no training word is split by the tokenizer")
        return model

    def _combined(self, common: Dict[str, Any]) -> BertramModel:
        """Stage 3: the model's own mode, from the parts of stages 1 and 2."""
        mode = self.config.model.mode
        model = self._model(mode)
        model.load_parts(self.models["context"], ["mimicking", "output"])
        model.load_parts(self.models["form"], ["form"])
        parts = ["mimicking", "output"]
        if mode != "add":  # "add" keeps the form part frozen, as in the paper
            parts.append("form")
        if mode == "shallow":
            parts.append("gate")
        if mode == "replace":  # the form vector enters the encoder: no cache
            validate = None
            if self.validation:
                validate = lambda: mimicking_cosine(model, self.validation, self.targets)  # noqa: E731
            train_end_to_end(
                model, self.train_words, self.targets, self.config.combined, parts,
                sample_range=self.sample_range, validate=validate, log_epoch=self._logger("combined"), **common,
            )
        else:
            cache, validation = self._caches(model, "combined", trained_map=True)
            validate, metric = self._on_cache(model, validation)
            train_on_cache(
                model, cache, self.targets, self.config.combined, parts,
                sample_range=self.sample_range, desc="combined", validate=validate, ranking=self.ranking,
                log_epoch=self._logger("combined", metric), **common,
            )
        return model

    def gated(self, model: BertramModel, seed: int) -> BertramModel:
        """`model` with a wordpiece gate, fitted (`fit_wordpiece_gate`) on the validation
        words the tokenizer splits and on the validation misspellings; with
        config.wordpiece_map, the mean it mixes in is first corrected by a map fitted to
        the training words (`fit_wordpiece_map`)."""
        gated = self._model(model.config.mode, wordpiece_gate=True)
        gated.load_parts(model, [part for part in TRAINABLE_PARTS if model.has_part(part)])
        if gated.has_part("wordpiece") and not model.has_part("wordpiece"):
            fitted = fit_wordpiece_map(gated, sorted(self.train_words), self.targets, self.config.wordpiece_ridge)
            self.log.write(stage="wordpiece", split_words=fitted, ridge=self.config.wordpiece_ridge)
        split = splits_word(self.base.tokenizer)
        words = {w: c for w, c in self.validation.items() if split(w)}
        cache = self._encode(gated, words) if words else None
        own_row = gated.wordpiece_base(list(self.validation_typos)).own_row
        typos = {t: w for (t, w), own in zip(self.validation_typos.items(), own_row) if not own}
        fit = fit_wordpiece_gate(gated, cache, typos, self.targets, seed=seed)
        self.log.write(stage="gate", split_validation_words=len(words), validation_misspellings=len(typos), **fit)
        return gated

    def misspellings(
        self, model: BertramModel, words: Iterable[str], seed: int, per_word: Optional[int] = None
    ) -> Dict[str, str]:
        """`{misspelling: word}`, `per_word` (default config.form_misspellings) of each
        word, leaving out real words: ones with targets of their own, and ones the
        model keeps at their own embedding row (nothing to learn there)."""
        return misspelled_copies(
            words,
            self.config.form_misspellings if per_word is None else per_word,
            seed=seed,
            accept=lambda typos: [
                typo not in self.targets and not own
                for typo, own in zip(typos, model.wordpiece_base(typos).own_row)
            ],
        )

    def _on_cache(self, model: BertramModel, validation) -> Tuple[Optional[Callable[[], float]], str]:
        """The cached stages' validation score and its log name: mean cosine, or with
        the ranking objective its mean reciprocal rank (no score without validation words)."""
        if self.ranking is not None:
            score = partial(cache_reciprocal_rank, model, validation, self.targets, self.ranking)
            metric = "validation_mrr"
        else:
            metric, score = "validation_cosine", partial(cache_cosine, model, validation, self.targets)
        return (None if validation is None else score), metric
