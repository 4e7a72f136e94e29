"""CRW-dev Spearman's rho as the number of contexts per rare word grows.

BERTRAM's benefit over the mean of wordpieces depends on how many contexts it gets;
this runs `evaluate_crw` for each `--contexts` value and each model, times it, and
writes crw_contexts.json, crw_contexts.md and crw_contexts.png to `--output-dir`.

    PYTHONPATH=. python benchmarks/crw.py --model /work/artifacts/bertram-minilm-add --contexts 1,4,16
"""
import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spacy_bertram.evaluation import evaluate_crw, markdown_table, read_crw_archive  # noqa: E402
from spacy_bertram.evaluation.crw import MEAN_OF_WORDPIECES  # noqa: E402
from spacy_bertram.model import BertramModel  # noqa: E402

CRW_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "crw-dev" / "crw-dev.tar.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="BERTRAM model folder (repeatable)")
    parser.add_argument("--data", type=Path, default=CRW_DEV)
    parser.add_argument("--contexts", default="1,4,16", help="comma-separated contexts per rare word")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    data = read_crw_archive(args.data)
    models = [BertramModel.from_pretrained(path) for path in args.model]
    counts = [int(c) for c in args.contexts.split(",")]
    rows = []
    for count in counts:
        start = time.perf_counter()
        results = evaluate_crw(data, models=models, max_contexts=count, batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        for system, result in results.items():
            rows.append({"contexts": count, "system": system, "spearman": result.spearman,
                         "missing": result.missing, "seconds": seconds})
            print(f"{count:>4} contexts  {system:<50} rho={result.spearman:.4f}  ({seconds:.0f}s)")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "crw_contexts.json").write_text(json.dumps(rows, indent=2), encoding="utf8")
    table = markdown_table(
        ["contexts", "system", "Spearman rho"],
        [[r["contexts"], r["system"], f"{r['spearman']:.4f}"] for r in rows],
        align="rlr",
    )
    (args.output_dir / "crw_contexts.md").write_text(table + "\n", encoding="utf8")
    fig, ax = plt.subplots(figsize=(6, 4))
    for system in dict.fromkeys(r["system"] for r in rows):
        points = [(r["contexts"], r["spearman"]) for r in rows if r["system"] == system]
        style = "--" if system == MEAN_OF_WORDPIECES else "-o"
        ax.plot([p[0] for p in points], [p[1] for p in points], style, label=system)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("contexts per rare word")
    ax.set_ylabel("Spearman rho (CRW-dev)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.output_dir / "crw_contexts.png", dpi=120)
    print(f"wrote {args.output_dir}/crw_contexts.{{json,md,png}}")


if __name__ == "__main__":
    main()
