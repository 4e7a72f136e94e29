"""`rarify split` and `rarify apply`: build a rarified test set (BERTRAM section 4).

    python -m spacy_bertram rarify split data.spacy corpus/
    python -m spacy train baseline.cfg --paths.train corpus/train.spacy --paths.dev dev.spacy
    python -m spacy_bertram rarify apply training/model-best corpus/candidates.spacy corpus/rarified.spacy

The baseline config should use "bertram.mask_slash_augmenter.v1" in [corpora.train].
Both steps must get the same substitution options (seed, misspelling share, threshold,
tagger). With `--tagger`, synonyms keep the part of speech a word has in its sentence.
Misspellings come from codespell's list of real ones; `--misspelling-share 0` makes a
synonym-only set.
"""

from pathlib import Path
from typing import Optional

import typer
from spacy.tokens import DocBin

from . import app

rarify_app = typer.Typer(help="Split test candidates off a dataset and rarify them.", no_args_is_help=True)
app.add_typer(rarify_app, name="rarify")

SEED = typer.Option(0, "--seed", help="Seed for misspellings, splits and substitute choice")
SHARE = typer.Option(
    0.1,
    "--misspelling-share",
    help="Share of each sentence's words given a real misspelling instead of a synonym (0: synonyms only)",
)
ZIPF = typer.Option(
    None, "--zipf-threshold", help="Rare below this wordfreq Zipf value (default 2.0: <100 per billion words)"
)
COUNTS = typer.Option(None, "--counts", help="Context store whose corpus counts decide rarity (instead of wordfreq)")
MIN_COUNT = typer.Option(100, "--min-count", help="With --counts: rare below this many occurrences")
WORDNET = typer.Option(None, "--wordnet", help="WordNet 3.0 dict folder (default: /usr/share/wordnet)")
TAGGER = typer.Option(
    None,
    "--tagger",
    help="spaCy pipeline with a PTB `tagger`: synonyms keep the POS a word has in its sentence "
    "(without it, the word's most frequent WordNet POS)",
)


def build_substitutions(
    seed: int,
    misspelling_share: float,
    zipf_threshold: Optional[float],
    counts: Optional[Path],
    min_count: int,
    wordnet: Optional[Path],
):
    from ..frequency import CorpusFrequency, WordfreqFrequency
    from ..rarify import SubstitutionDictionary, load_wordnet

    if counts is not None:
        frequency = CorpusFrequency(counts, min_count=min_count)
    else:
        frequency = WordfreqFrequency(zipf_threshold=zipf_threshold)
    return SubstitutionDictionary(
        frequency, load_wordnet(str(wordnet) if wordnet else None), misspelling_share, seed=seed
    )


def read_docs(path: Path, nlp_vocab, tagger: Optional[Path] = None):
    """The DocBin's docs, tagged in context by the pipeline at `tagger` when given."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass a `.spacy` file (DocBin).")
    try:
        docs = list(DocBin().from_disk(path).get_docs(nlp_vocab))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    if tagger is None:
        return docs
    from ..rarify import load_tagger, tag_docs

    return tag_docs(load_tagger(tagger), docs)


@rarify_app.command("split")
def split_cli(
    data_path: Path = typer.Argument(..., help="Labelled docs (.spacy) to split"),
    output_dir: Path = typer.Argument(..., help="Folder for train.spacy and candidates.spacy"),
    min_train_share: float = typer.Option(1 / 3, "--min-train-share", help="Train keeps at least this share"),
    seed: int = SEED,
    misspelling_share: float = SHARE,
    zipf_threshold: Optional[float] = ZIPF,
    counts: Optional[Path] = COUNTS,
    min_count: int = MIN_COUNT,
    wordnet: Optional[Path] = WORDNET,
    tagger: Optional[Path] = TAGGER,
) -> None:
    """Split docs into baseline training data and test candidates (docs with a substitutable word)."""
    import spacy

    from ..rarify import split_candidates

    docs = read_docs(data_path, spacy.blank("en").vocab, tagger)
    substitutions = build_substitutions(seed, misspelling_share, zipf_threshold, counts, min_count, wordnet)
    train, candidates = split_candidates(docs, substitutions, min_train_share, seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    # Training docs keep their text and labels only: the tags served the split, and a
    # classifier's augmenter refuses docs with token annotations.
    DocBin(docs=train, attrs=["ORTH", "SPACY"]).to_disk(output_dir / "train.spacy")
    DocBin(docs=candidates).to_disk(output_dir / "candidates.spacy")
    typer.echo(
        f"{len(docs)} docs: {len(train)} -> {output_dir / 'train.spacy'}, "
        f"{len(candidates)} test candidates -> {output_dir / 'candidates.spacy'}"
    )


@rarify_app.command("apply")
def apply_cli(
    baseline: Path = typer.Argument(..., help="Trained baseline pipeline with a textcat"),
    candidates_path: Path = typer.Argument(..., help="Test candidates (.spacy) from `rarify split`"),
    output_path: Path = typer.Argument(..., help="Rarified test set (.spacy)"),
    replacements_path: Optional[Path] = typer.Option(
        None, "--replacements", help="JSONL of replacements (default: OUTPUT with .jsonl)"
    ),
    mask_string: str = typer.Option(
        "[MASK]", "--mask-string", help="Mask text; the encoder's mask token, e.g. [MASK] or <mask>"
    ),
    max_masks: int = typer.Option(5, "--max-masks", help="Mask at most this many words per doc"),
    batch_size: int = typer.Option(64, "--batch-size"),
    seed: int = SEED,
    misspelling_share: float = SHARE,
    zipf_threshold: Optional[float] = ZIPF,
    counts: Optional[Path] = COUNTS,
    min_count: int = MIN_COUNT,
    wordnet: Optional[Path] = WORDNET,
    tagger: Optional[Path] = TAGGER,
) -> None:
    """Mask the words the baseline relies on, then put rare synonyms/misspellings in their place."""
    from ..rarify import rarify, write_replacements
    from .evaluate import load_pipeline

    nlp = load_pipeline(baseline)
    candidates = read_docs(candidates_path, nlp.vocab, tagger)
    substitutions = build_substitutions(seed, misspelling_share, zipf_threshold, counts, min_count, wordnet)
    docs, replacements, stats = rarify(nlp, candidates, substitutions, mask_string, max_masks, seed, batch_size)
    replacements_path = replacements_path or output_path.with_suffix(".jsonl")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs).to_disk(output_path)
    write_replacements(replacements_path, replacements)
    typer.echo(
        f"{stats.candidates} candidates, {stats.misclassified} misclassified by the baseline, "
        f"{stats.unflipped} never flipped when masked, {stats.rarified} rarified, "
        f"{stats.replacements} replacements -> {output_path}, {replacements_path}"
    )
