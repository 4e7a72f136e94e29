"""BERTRAM training benchmarks with the offline MiniLM encoder on the nltk demo corpora.

Default run: stage-1 epoch time with and without the context cache (ratio measured
in one run). `--quality`: a short CPU training run whose held-out mimicking cosine is
printed next to two baselines measured in the same run (mean of the word's wordpiece
embeddings; the form-only model of stage 2). When the table's held-out words include
words the tokenizer keeps whole (with the default blended context part, or without
keep_whole_words), it also shows those and the split words apart.

    PYTHONPATH=. python benchmarks/train.py                # cache ratio
    PYTHONPATH=. python benchmarks/train.py --quality --output /work/artifacts/bertram-minilm-add

Every `TrainingConfig` setting is an option (see `--help`); the benchmark's own
defaults are in `DEFAULTS`.
"""
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Iterator, List, Optional

import torch
import typer

from spacy_bertram.contexts import ContextStore
from spacy_bertram.model import BertramModel, NgramVocab, word_pieces
from spacy_bertram.cli.config_options import ConfigOptions
from spacy_bertram.training import (
    OtaConfig,
    StageConfig,
    TrainingConfig,
    compute_targets,
    mimicking_cosine,
    read_training_words,
    train_bertram,
)
from spacy_bertram.training.stages import encode_context_cache, train_end_to_end, train_on_cache
from spacy_bertram.training.trainer import select_training_words
from spacy_bertram.util import default_encoder_path

DATA = Path("/work/shared/data/nltk")
# A few-million-word corpus has few words with the paper's 100 occurrences.
DEFAULTS = TrainingConfig(min_count=10, held_out=0.1, max_contexts=16)
OPTIONS = ConfigOptions(DEFAULTS, flat=("model",))


def corpus_sentences(names) -> Iterator[str]:
    """Sentences of the nltk zips: Brown's `word/TAG` tokens untagged, others line by line."""
    for name in names:
        with zipfile.ZipFile(DATA / f"{name}.zip") as archive:
            for member in sorted(archive.namelist()):
                if member.endswith("/") or "README" in member.upper() or member.endswith((".csv", "cats.txt")):
                    continue
                for line in io.TextIOWrapper(archive.open(member), encoding="utf8", errors="replace"):
                    tokens = line.split()
                    if name == "brown":
                        tokens = [t.rsplit("/", 1)[0] for t in tokens]
                    if len(tokens) >= 4:
                        yield " ".join(tokens)


def build_store(path: Path, corpora) -> Path:
    if not path.is_file():
        started = time.perf_counter()
        with ContextStore(path, max_contexts_per_word=64) as store:
            store.add_sentences(corpus_sentences(corpora))
        print(f"built context store {path} in {time.perf_counter() - started:.0f}s")
    return path


def cache_ratio(config: TrainingConfig, store: Path) -> None:
    """Stage 1's epoch time with and without the context cache (max_words default: 300)."""
    contexts = config.max_contexts
    words = read_training_words(store, max_words=config.max_words or 300, max_contexts=contexts, seed=0)
    encoder = default_encoder_path()
    vocab = NgramVocab.build(words)
    model = BertramModel.from_encoder(encoder, ngram_vocab=vocab, mode="context", max_seq_length=96)
    targets = compute_targets(model.encoder, model.tokenizer, list(words), ota=OtaConfig(steps=20))
    words = {w: c for w, c in words.items() if w in targets}
    config = StageConfig(epochs=1, lr=1e-3, batch_size=48)
    n_contexts = sum(len(c) for c in words.values())
    print(f"{len(words)} words, {n_contexts} contexts, torch threads {torch.get_num_threads()}")

    started = time.perf_counter()
    cache = encode_context_cache(model, words, max_contexts=contexts)
    cache_build = time.perf_counter() - started
    started = time.perf_counter()
    train_on_cache(model, cache, targets, config, ["mimicking", "output"], sample_range=(4, contexts), seed=0, desc="context")
    cached_epoch = time.perf_counter() - started
    started = time.perf_counter()
    train_end_to_end(model, words, targets, config, ["mimicking", "output"], sample_range=(4, contexts), seed=0)
    uncached_epoch = time.perf_counter() - started
    print(f"cache build (one encoder pass): {cache_build:.2f}s")
    print(f"stage-1 epoch on the cache:      {cached_epoch:.3f}s")
    print(f"stage-1 epoch without the cache: {uncached_epoch:.2f}s")
    print(f"ratio uncached / cached epoch: {uncached_epoch / cached_epoch:.0f}x")


def quality(config: TrainingConfig, store: Path, output: Path, targets_cache: Optional[str], progress: bool) -> None:
    started = time.perf_counter()
    train_bertram(default_encoder_path(), store, output, config, cache_dir=targets_cache, show_progress=progress)
    seconds = time.perf_counter() - started

    # The run's held-out words (never trained on, not used to fit the wordpiece map or
    # to pick epochs); with whole words among them, also split into words the
    # tokenizer keeps whole (their target is their own row) and words it splits.
    final = BertramModel.from_pretrained(output)
    train, validation, held_out = select_training_words(store, config, final.tokenizer)
    targets = compute_targets(final.encoder, final.tokenizer, sorted(held_out), ota=config.ota, cache_dir=targets_cache or output / "cache")
    held_out = {w: c for w, c in held_out.items() if w in targets}
    split = {w: c for w, c in held_out.items() if len(word_pieces(final.tokenizer, [w])[0]) > 1}
    whole = {w: c for w, c in held_out.items() if w not in split}
    columns = [(f"all ({len(held_out)})", held_out)]
    if whole and split:
        columns += [(f"whole words ({len(whole)})", whole), (f"split words ({len(split)})", split)]

    def cosine(vectors, subset) -> float:
        target = torch.stack([targets[w] for w in subset])
        return float(torch.nn.functional.cosine_similarity(vectors, target, dim=1).mean())

    rows = [("mean of wordpiece embeddings", [cosine(final.wordpiece_base(sorted(s)).mean, sorted(s)) for _, s in columns])]
    if final.has_part("wordpiece"):
        with torch.no_grad():
            rows.append(("wordpiece mean + fitted map", [cosine(final.wordpiece_base(sorted(s)).base, sorted(s)) for _, s in columns]))
    for name, folder in (
        ("form only (stage 2)", output / "stage2-form"),
        ("context only (stage 1)", output / "stage1-context"),
        ("BERTRAM add (stage 3)", output),
    ):
        model = BertramModel.from_pretrained(folder)
        rows.append((name, [mimicking_cosine(model, s, targets) for _, s in columns]))
    print(f"\n{len(train)} training words (count >= {config.min_count}), {len(validation)} for early stopping, "
          f"{len(held_out)} held out ({len(split)} split into wordpieces), <= {config.max_contexts} contexts each; "
          f"training took {seconds / 60:.1f} min on {torch.get_num_threads()} threads\n")
    print("| mimicking cosine, held-out words | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, values in rows:
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")

    # Misspellings (no contexts), against the word meant, from the run's log
    log = [json.loads(line) for line in (output / "training_log.jsonl").read_text(encoding="utf8").splitlines()]
    baselines = {r["of"]: r for r in log if r.get("stage") == "misspellings"}
    summaries = {r["stage"]: r for r in log if "held_out_cosine" in r}
    print("\n| cosine to the word meant | misspelled held-out words | new misspellings of known words |")
    print("|---|---:|---:|")
    print(f"| mean of wordpiece embeddings | {baselines['held_out']['wordpiece_mean_cosine']:.3f} "
          f"| {baselines['known']['wordpiece_mean_cosine']:.3f} |")
    for name, stage in (("form only (stage 2)", "form"), ("BERTRAM add (stage 3)", "combined")):
        r = summaries[stage]
        print(f"| {name} | {r['held_out_misspelled_cosine']:.3f} | {r['known_misspelled_cosine']:.3f} |")
    print_throughput(log)


def print_throughput(log: List[dict]) -> None:
    """Words/s of OTA and of each stage's epochs (and context-cache encoding), from the training log."""
    print("\n| throughput | words | seconds | words/s |")
    print("|---|---:|---:|---:|")
    for r in log:
        if r.get("stage") == "targets" and "ota_seconds" in r:
            print(f"| OTA targets ({r['ota_steps']} steps) | {r['ota_words']} | {r['ota_seconds']:.1f} "
                  f"| {r['ota_words_per_second']:.1f} |")
    for summary in (r for r in log if "held_out_cosine" in r):
        stage, words = summary["stage"], summary["train_words"]
        epochs = [r["seconds"] for r in log if r.get("stage") == stage and r.get("epoch", 0) > 0]
        caches = [r["cache_seconds"] for r in log if r.get("stage") == stage and "cache_seconds" in r]
        if caches:
            print(f"| {stage}: context cache | {words} | {sum(caches):.1f} | {words / max(sum(caches), 1e-9):,.0f} |")
        if epochs:
            print(f"| {stage}: epoch (mean of {len(epochs)}) | {words} | {sum(epochs) / len(epochs):.1f} "
                  f"| {words * len(epochs) / max(sum(epochs), 1e-9):,.0f} |")


@OPTIONS
def main(
    quality_table: bool = typer.Option(False, "--quality", help="Train and print the quality table."),
    store: Path = typer.Option(Path(tempfile.gettempdir()) / "bertram-demo-store.sqlite", help="Context store, built from the corpora when missing."),
    corpora: List[str] = typer.Option(["brown", "movie_reviews"], help="nltk corpora of the store."),
    output: Path = typer.Option(Path(tempfile.gettempdir()) / "bertram-minilm-add", help="Folder of the --quality run."),
    targets_cache: Optional[str] = typer.Option(None, help="Folder of the per-word targets cache (default: OUTPUT/cache)."),
    progress: bool = typer.Option(False, help="Show progress bars."),
    threads: Optional[int] = typer.Option(None, help="torch threads (1 is faster on a busy machine)."),
    **settings,
) -> None:
    """Stage-1 cache ratio, or with --quality a short training run's quality table."""
    config = OPTIONS.build(settings)
    if threads:
        torch.set_num_threads(threads)
    store = build_store(store, corpora)
    if quality_table:
        quality(config, store, output, targets_cache, progress)
    else:
        cache_ratio(config, store)


if __name__ == "__main__":
    typer.run(main)
