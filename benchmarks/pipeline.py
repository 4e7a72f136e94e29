"""Throughput of a transformer pipeline with and without the `bertram` component.

Same texts (SST-2 dev sentences), same MiniLM encoder: the plain spacy-transformers
pipeline, then the bertram pipeline (bertram + "bertram.TransformerModel.v1") with a
cold vector cache and again with a warm one; then cold with a vector table
(`precompute`) of a store indexed from the same texts (in_domain off), so no rare
word needs the model. The BERTRAM model is untrained (speed does not depend on its
weights). Figures are ratios within one run.

    python benchmarks/pipeline.py [--n-texts 500] [--batch-size 64] [--repeats 3]
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import spacy
from spacy.language import Language

import spacy_bertram.layers.transformer_model  # noqa: F401  (registers the architectures)
from spacy_bertram.contexts.store import ContextStore
from spacy_bertram.model import BertramModel
from spacy_bertram.pipeline_component import make_bertram  # noqa: F401
from spacy_bertram.precompute import bertram_component, precompute_vectors
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


def build(encoder: str, bertram_dir: str = None, **bertram: Any) -> Language:
    nlp = spacy.blank("en")
    architecture = "spacy-transformers.TransformerModel.v3"
    if bertram_dir is not None:
        nlp.add_pipe("bertram", config={"model_path": bertram_dir, **bertram})
        nlp.config["training"]["annotating_components"] = ["bertram"]
        architecture = "bertram.TransformerModel.v1"
    nlp.add_pipe("transformer", config=transformer_config(encoder, architecture))
    nlp.initialize()
    return nlp


def timed(run: Callable[[], int]) -> Tuple[float, float]:
    """(wall, CPU) seconds per doc; CPU time (all threads) is steadier on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = run()
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def main(n_texts: int, batch_size: int, repeats: int) -> None:
    texts = read_texts(SST2_DEV, n_texts)
    encoder = str(default_encoder_path())
    words = sorted({w.lower() for t in texts for w in t.split()})
    with tempfile.TemporaryDirectory() as tmp:
        BertramModel.from_encoder(encoder, words=words).save_pretrained(Path(tmp) / "bertram")
        plain = build(encoder)
        with_bertram = build(encoder, str(Path(tmp) / "bertram"))
        bertram = with_bertram.get_pipe("bertram")
        store, table = Path(tmp) / "store.sqlite", Path(tmp) / "table"
        with ContextStore(store) as corpus:
            corpus.add_sentences(texts)
        precompute_vectors(bertram_component(Path(tmp) / "bertram", store), table, show_progress=False)
        with_table = build(
            encoder, str(Path(tmp) / "bertram"), store_path=str(store), in_domain=False, vectors_path=str(table)
        )

        def run(nlp: Language) -> int:
            return sum(1 for _ in nlp.pipe(texts, batch_size=batch_size))

        def run_component() -> int:
            docs = (with_bertram.make_doc(t) for t in texts)
            return sum(1 for _ in bertram.pipe(docs, batch_size=batch_size))

        rare = [len(doc._.bertram_rare) for doc in with_bertram.pipe(texts)]
        run(plain)  # warm up torch and the tokenizers
        times: Dict[str, List[Tuple[float, float]]] = {k: [] for k in ("plain", "cold", "warm", "alone", "table")}
        for _ in range(repeats):  # interleaved, so load changes hit all alike
            bertram.clear_cache()  # cold: no cached vectors or rarity decisions
            times["cold"].append(timed(lambda: run(with_bertram)))
            times["warm"].append(timed(lambda: run(with_bertram)))
            times["plain"].append(timed(lambda: run(plain)))
            times["alone"].append(timed(run_component))
            with_table.get_pipe("bertram").clear_cache()
            times["table"].append(timed(lambda: run(with_table)))
    median = {k: tuple(statistics.median(t[i] for t in v) for i in (0, 1)) for k, v in times.items()}
    plain_wall, plain_cpu = median["plain"]
    print(f"{len(texts)} SST-2 dev sentences, batch size {batch_size}, median of {repeats} interleaved runs")
    print(f"rare tokens: {sum(rare)} in {sum(1 for r in rare if r)} docs (wordfreq Zipf < 2)")
    print(f"{'':28}{'docs/s':>9}{'wall x':>9}{'CPU x':>8}")
    labels = {
        "plain": "plain transformer",
        "cold": "bertram, cold cache",
        "warm": "bertram, warm cache",
        "alone": "bertram component alone",
        "table": "bertram, cold, vector table",
    }
    for key, label in labels.items():
        wall, cpu = median[key]
        print(f"{label:28}{1 / wall:9.1f}{wall / plain_wall:9.3f}{cpu / plain_cpu:8.3f}")
    warm_wall, warm_cpu = median["warm"]
    print(
        f"warm-cache overhead: wall {100 * (warm_wall / plain_wall - 1):+.1f}%, "
        f"CPU {100 * (warm_cpu / plain_cpu - 1):+.1f}% (target <= 15%)"
    )
    table_wall, table_cpu = median["table"]
    print(
        f"cold with a vector table: wall {table_wall / plain_wall:.3f}x, "
        f"CPU {table_cpu / plain_cpu:.3f}x (target <= 1.05x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    main(args.n_texts, args.batch_size, args.repeats)
