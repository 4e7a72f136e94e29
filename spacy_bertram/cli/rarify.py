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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer
from spacy.tokens import DocBin

from ..model.configuration_bertram import setting
from . import app
from .config_options import ConfigOptions

rarify_app = typer.Typer(help="Split test candidates off a dataset and rarify them.", no_args_is_help=True)
app.add_typer(rarify_app, name="rarify")

@dataclass(frozen=True)
class SubstitutionSettings:
    """What decides a word's rare substitutes; `rarify split` and `rarify apply` must get the same."""

    seed: int = setting(0, help="Seed for misspellings, splits and substitute choice.")
    misspelling_share: float = setting(
        0.1, help="Share of each sentence's words given a real misspelling instead of a synonym (0: synonyms only)."
    )
    zipf_threshold: Optional[float] = setting(
        None, help="Rare below this wordfreq Zipf value (none: 2.0, fewer than 100 per billion words)."
    )
    counts: Optional[str] = setting(
        None, help="Context store whose corpus counts decide rarity (instead of wordfreq)."
    )
    min_count: int = setting(100, help="With --counts: rare below this many occurrences.")
    wordnet: Optional[str] = setting(None, help="WordNet 3.0 dict folder (none: /usr/share/wordnet).")
    tagger: Optional[str] = setting(
        None,
        help="spaCy pipeline with a PTB `tagger`: synonyms keep the POS a word has in its sentence "
        "(none: the word's most frequent WordNet POS).",
    )


SUBSTITUTION_OPTIONS = ConfigOptions(SubstitutionSettings())


def build_substitutions(settings: SubstitutionSettings):
    """The substitution dictionary the settings describe."""
    from ..frequency import CorpusFrequency, WordfreqFrequency
    from ..rarify import SubstitutionDictionary, load_wordnet

    if settings.counts is not None:
        frequency = CorpusFrequency(settings.counts, min_count=settings.min_count)
    else:
        frequency = WordfreqFrequency(zipf_threshold=settings.zipf_threshold)
    wordnet = load_wordnet(settings.wordnet)
    return SubstitutionDictionary(frequency, wordnet, settings.misspelling_share, seed=settings.seed)


def read_docs(path: Path, nlp_vocab, tagger: Optional[str] = None):
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
@SUBSTITUTION_OPTIONS
def split_cli(
    data_path: Path = typer.Argument(..., help="Labelled docs (.spacy) to split"),
    output_dir: Path = typer.Argument(..., help="Folder for train.spacy and candidates.spacy"),
    min_train_share: float = typer.Option(1 / 3, "--min-train-share", help="Train keeps at least this share"),
    **options: Any,
) -> None:
    """Split docs into baseline training data and test candidates (docs with a substitutable word)."""
    import spacy

    from ..rarify import split_candidates

    settings = SUBSTITUTION_OPTIONS.build(options)
    docs = read_docs(data_path, spacy.blank("en").vocab, settings.tagger)
    substitutions = build_substitutions(settings)
    train, candidates = split_candidates(docs, substitutions, min_train_share, settings.seed)
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
@SUBSTITUTION_OPTIONS
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
    **options: Any,
) -> None:
    """Mask the words the baseline relies on, then put rare synonyms/misspellings in their place."""
    from ..rarify import rarify, write_replacements
    from .evaluate import load_pipeline

    nlp = load_pipeline(baseline)
    settings = SUBSTITUTION_OPTIONS.build(options)
    candidates = read_docs(candidates_path, nlp.vocab, settings.tagger)
    substitutions = build_substitutions(settings)
    seed = settings.seed
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
