"""Benchmark BERTRAM batched inference against a plain encoder forward.

Words and contexts come from the Brown corpus: the `--words` most frequent words
after the top `--skip`, each with its first `--contexts` sentences. The baseline is one
plain batched forward of the same encoder over the same masked context tokens (same
batch size, same length sorting, inference_mode, tensors prepared beforehand); the
BERTRAM figure is the whole `infer_vectors` call (masking, tokenizing, n-grams,
encoder, mimicking). Timings alternate and the best of `--repeats` is kept.

    PYTHONPATH=. python benchmarks/infer.py --words 1000 --contexts 16 --mode add
"""
import argparse
import re
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List

import torch

from spacy_bertram.model import BertramModel, ContextTokenizer, NgramVocab, infer_vectors
from spacy_bertram.util import default_encoder_path

BROWN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nltk" / "brown.zip"


def brown_sentences(path: Path) -> List[List[str]]:
    sentences = []
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if not re.fullmatch(r"brown/c[a-r]\d\d", name):
                continue
            for line in archive.read(name).decode("utf8").splitlines():
                tokens = [t.rsplit("/", 1)[0] for t in line.split()]
                if tokens:
                    sentences.append(tokens)
    return sentences


def pick_words(sentences, n_words: int, n_contexts: int, skip: int) -> Dict[str, List[str]]:
    by_word: Dict[str, List[int]] = defaultdict(list)
    for index, tokens in enumerate(sentences):
        for word in {t.lower() for t in tokens if t.isalpha()}:
            by_word[word].append(index)
    ranked = sorted((w for w, s in by_word.items() if len(s) >= n_contexts), key=lambda w: (-len(by_word[w]), w))
    chosen = ranked[skip : skip + n_words]
    return {w: [" ".join(sentences[i]) for i in by_word[w][:n_contexts]] for w in chosen}


def plain_batches(model: BertramModel, contexts: Dict[str, List[str]], n_contexts: int, batch_size: int):
    """The same masked contexts, tokenized without the add prefix, sorted, padded."""
    plain = ContextTokenizer(model.tokenizer, "context", model.config.max_seq_length, False)
    texts = [t for w, cs in contexts.items() for t in plain.select(w, cs, n_contexts)]
    encoded = sorted(plain.encode(texts), key=lambda e: len(e.input_ids))
    batches = [plain.pad(encoded[i : i + batch_size], [0] * len(encoded[i : i + batch_size]))
               for i in range(0, len(encoded), batch_size)]
    return [b.to(model.device) for b in batches], sum(len(e.input_ids) for e in encoded), len(encoded)


def time_plain(model: BertramModel, batches) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def time_bertram(model: BertramModel, contexts, n_contexts: int, batch_size: int) -> float:
    start = time.perf_counter()
    infer_vectors(model, contexts, max_contexts=n_contexts, batch_size=batch_size)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--contexts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mode", default="add", choices=["context", "shallow", "replace", "add"])
    parser.add_argument("--skip", type=int, default=300, help="most frequent words to skip")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--single-words", type=int, default=50,
                        help="words timed one at a time (0: skip that figure)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--encoder", default=None, help="encoder folder (default: MiniLM)")
    parser.add_argument("--corpus", type=Path, default=BROWN)
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    sentences = brown_sentences(args.corpus)
    contexts = pick_words(sentences, args.words, args.contexts, args.skip)
    vocab_words = Counter(t.lower() for s in sentences for t in s if t.isalpha())
    model = BertramModel.from_encoder(
        args.encoder or default_encoder_path(),
        ngram_vocab=NgramVocab.build(vocab_words, min_count=2),
        mode=args.mode,
    )
    batches, n_tokens, n_ctx = plain_batches(model, contexts, args.contexts, args.batch_size)
    print(f"device={model.device} threads={torch.get_num_threads()} mode={args.mode} "
          f"words={len(contexts)} contexts={n_ctx} tokens={n_tokens} batch={args.batch_size}")
    warm = dict(list(contexts.items())[:8])
    time_bertram(model, warm, args.contexts, args.batch_size)
    time_plain(model, batches[:2])

    plain_s, bertram_s = [], []
    for _ in range(args.repeats):  # alternate, so load changes hit both alike
        plain_s.append(time_plain(model, batches))
        bertram_s.append(time_bertram(model, contexts, args.contexts, args.batch_size))
    plain, bertram = min(plain_s), min(bertram_s)
    print(f"plain encoder forward: {plain:.2f} s ({n_ctx / plain:.0f} contexts/s)")
    print(f"BERTRAM infer_vectors: {bertram:.2f} s ({len(contexts) / bertram:.1f} words/s)")
    print(f"ratio BERTRAM / plain forward: {bertram / plain:.3f}")

    if args.single_words:
        subset = dict(list(contexts.items())[: args.single_words])
        start = time.perf_counter()
        for word, word_contexts in subset.items():
            infer_vectors(model, {word: word_contexts}, max_contexts=args.contexts, batch_size=args.batch_size)
        single = time.perf_counter() - start
        batched = time_bertram(model, subset, args.contexts, args.batch_size)
        print(f"one word at a time ({len(subset)} words): {single:.2f} s vs batched {batched:.2f} s "
              f"(ratio {single / batched:.2f})")


if __name__ == "__main__":
    main()
