"""Throughput of a transformer pipeline with and without the `bertram` component.

Same texts (SST-2 dev sentences), same MiniLM encoder: the plain spacy-transformers
pipeline, then the bertram pipeline (bertram + "bertram.TransformerModel.v1") with a
cold vector cache and again with a warm one. The BERTRAM model is untrained (speed
does not depend on its weights). Figures are ratios within one run.

    python benchmarks/pipeline.py [--n-texts 500] [--batch-size 64] [--repeats 3]
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, List

import spacy
from spacy.language import Language

import spacy_bertram.layers.transformer_model  # noqa: F401  (registers the architectures)
from spacy_bertram.model import BertramModel
from spacy_bertram.pipeline_component import make_bertram  # noqa: F401
from spacy_bertram.util import default_encoder_path

SST2_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2" / "dev.tsv"


def read_texts(path: Path, n: int) -> List[str]:
    lines = path.read_text(encoding="utf8").splitlines()
    texts = [line.split("\t")[0] for line in lines if "\t" in line]
    return [t for t in texts if t.lower() != "sentence"][:n]


def transformer_config(encoder: str, architecture: str) -> dict:
    model = {
        "@architectures": architecture,
        "name": encoder,
        "tokenizer_config": {"use_fast": True},
        "get_spans": {"@span_getters": "spacy-transformers.doc_spans.v1"},
    }
    if architecture.startswith("bertram."):
        model["mode"] = "replace"
    return {"model": model}


def build(encoder: str, bertram_dir: str = None) -> Language:
    nlp = spacy.blank("en")
    architecture = "spacy-transformers.TransformerModel.v3"
    if bertram_dir is not None:
        nlp.add_pipe("bertram", config={"model_path": bertram_dir})
        nlp.config["training"]["annotating_components"] = ["bertram"]
        architecture = "bertram.TransformerModel.v1"
    nlp.add_pipe("transformer", config=transformer_config(encoder, architecture))
    nlp.initialize()
    return nlp


def docs_per_second(run: Callable[[], int]) -> float:
    start = time.perf_counter()
    n = run()
    return n / (time.perf_counter() - start)


def main(n_texts: int, batch_size: int, repeats: int) -> None:
    texts = read_texts(SST2_DEV, n_texts)
    encoder = str(default_encoder_path())
    words = sorted({w.lower() for t in texts for w in t.split()})
    with tempfile.TemporaryDirectory() as tmp:
        BertramModel.from_encoder(encoder, words=words).save_pretrained(Path(tmp) / "bertram")
        plain = build(encoder)
        with_bertram = build(encoder, str(Path(tmp) / "bertram"))

        def run(nlp: Language) -> int:
            return sum(1 for _ in nlp.pipe(texts, batch_size=batch_size))

        bertram = with_bertram.get_pipe("bertram")
        rare = [len(doc._.bertram_rare) for doc in bertram.pipe(with_bertram.make_doc(t) for t in texts)]
        bertram._reset_caches()
        run(plain)  # warm up torch and the tokenizer
        plain_rates, warm_rates, cold_rates = [], [], []
        for _ in range(repeats):
            bertram._reset_caches()  # cold: no cached vectors or rarity decisions
            cold_rates.append(docs_per_second(lambda: run(with_bertram)))
            warm_rates.append(docs_per_second(lambda: run(with_bertram)))
            plain_rates.append(docs_per_second(lambda: run(plain)))
        component_only = docs_per_second(
            lambda: sum(1 for _ in bertram.pipe((with_bertram.make_doc(t) for t in texts), batch_size=batch_size))
        )
    plain_rate = statistics.median(plain_rates)
    cold_rate = statistics.median(cold_rates)
    warm_rate = statistics.median(warm_rates)
    print(f"texts: {len(texts)} SST-2 dev sentences, batch size {batch_size}, median of {repeats}")
    print(f"rare tokens: {sum(rare)} in {sum(1 for r in rare if r)} docs")
    print(f"plain transformer          {plain_rate:8.1f} docs/s")
    print(f"bertram, cold cache        {cold_rate:8.1f} docs/s   time x{plain_rate / cold_rate:.2f}")
    print(f"bertram, warm cache        {warm_rate:8.1f} docs/s   time x{plain_rate / warm_rate:.2f}")
    print(f"bertram component alone    {component_only:8.1f} docs/s (warm)")
    print(f"warm-cache overhead: {100 * (plain_rate / warm_rate - 1):+.1f}% (target <= 15%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    main(args.n_texts, args.batch_size, args.repeats)
