"""Brown's tagged sentences as spaCy DocBins with Penn Treebank tags, to train a tagger.

Rarification looks up a word's synonyms under the part of speech it has in its
sentence (BERTRAM, section 4), which needs a tagger; this project trains spaCy's own
from the Brown corpus (`configs/tagger.cfg`), offline. Brown's tags are mapped to the
Penn Treebank tags that `spacy_bertram.rarify` reads: title/headline/cited markers
(`-tl`, `-hl`, `-nc`) and negation (`*`) are dropped, Brown's uninflected `vb` (base form and
non-third-person present alike) stays VB, foreign words (`fw-`) become
FW, and a contraction (`pps+bez`) takes the tag of its first part.
"""
import random
import re
import zipfile
from pathlib import Path
from typing import Iterator, List, Tuple

import spacy
import typer
from spacy.tokens import Doc, DocBin

BROWN_MEMBER = re.compile(r"brown/c[a-r]\d\d$")
BROWN_TO_PTB = {
    "nn": "NN", "nn$": "NN", "nns": "NNS", "nns$": "NNS", "np": "NNP", "np$": "NNP", "nps": "NNPS",
    "nps$": "NNPS", "nr": "NN", "nr$": "NN", "nrs": "NNS", "pn": "NN", "pn$": "NN",
    "vb": "VB", "vbd": "VBD", "vbg": "VBG", "vbn": "VBN", "vbz": "VBZ",
    "be": "VB", "bed": "VBD", "bedz": "VBD", "beg": "VBG", "bem": "VBP", "ben": "VBN", "ber": "VBP",
    "bez": "VBZ", "do": "VB", "dod": "VBD", "doz": "VBZ",
    "hv": "VB", "hvd": "VBD", "hvg": "VBG", "hvn": "VBN", "hvz": "VBZ", "md": "MD",
    "jj": "JJ", "jjr": "JJR", "jjs": "JJS", "jjt": "JJS", "od": "JJ", "ap": "JJ", "ap$": "JJ",
    "rb": "RB", "rb$": "RB", "rbr": "RBR", "rbt": "RBS", "rn": "RB", "ql": "RB", "qlp": "RB",
    "abl": "RB", "*": "RB", "rp": "RP", "wrb": "WRB", "wql": "WRB",
    "at": "DT", "dt": "DT", "dt$": "DT", "dti": "DT", "dts": "DT", "dtx": "DT", "abn": "PDT", "abx": "DT",
    "wdt": "WDT", "in": "IN", "cs": "IN", "cc": "CC", "cd": "CD", "cd$": "CD", "ex": "EX", "to": "TO",
    "uh": "UH", "pp$": "PRP$", "pp$$": "PRP", "ppl": "PRP", "ppls": "PRP", "ppo": "PRP", "pps": "PRP",
    "ppss": "PRP", "wp$": "WP$", "wpo": "WP", "wps": "WP",
    ".": ".", ",": ",", ":": ":", "--": ":", "(": "-LRB-", ")": "-RRB-", "``": "``", "''": "''", "'": "''",
}


def brown_to_ptb(tag: str) -> str:
    """The Penn Treebank tag for a Brown tag; `XX` for the few without one (`nil`)."""
    tag = tag.lower()
    if tag.startswith("fw-"):
        return "FW"
    tag = re.sub(r"-(tl|hl|nc)\b", "", tag).split("+")[0]
    if tag != "*":
        tag = tag.rstrip("*")
    return BROWN_TO_PTB.get(tag, "XX")


def brown_sentences(path: Path) -> Iterator[List[Tuple[str, str]]]:
    """Each sentence of Brown (an nltk_data zip) as (word, PTB tag) pairs."""
    with zipfile.ZipFile(path) as archive:
        members = sorted(name for name in archive.namelist() if BROWN_MEMBER.search(name))
        if not members:
            raise typer.BadParameter(f"{path} holds no Brown texts (brown/ca01 ...): pass nltk_data's brown.zip")
        for member in members:
            for line in archive.read(member).decode("utf8").splitlines():
                pairs = [token.rpartition("/") for token in line.split()]
                if pairs:
                    yield [(word, brown_to_ptb(tag)) for word, _, tag in pairs]


def main(
    brown: Path = typer.Argument(..., help="nltk_data's brown.zip", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., help="Folder for train.spacy and dev.spacy"),
    max_train: int = typer.Option(0, "--max-train", help="Most training sentences (0: all)"),
    dev_size: int = typer.Option(2000, "--dev-size", help="Sentences held out to score the tagger"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write a seeded split of Brown's sentences with PTB tags as train/dev DocBins."""
    sentences = list(brown_sentences(brown))
    random.Random(seed).shuffle(sentences)
    dev, train = sentences[:dev_size], sentences[dev_size:]
    vocab = spacy.blank("en").vocab
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train[:max_train] if max_train else train), ("dev", dev)):
        docs = DocBin(attrs=["ORTH", "TAG"])
        for sentence in part:
            words, tags = zip(*sentence)
            docs.add(Doc(vocab, words=list(words), tags=list(tags)))
        docs.to_disk(output_dir / f"{name}.spacy")
        typer.echo(f"{output_dir / name}.spacy: {len(part)} sentences")


if __name__ == "__main__":
    typer.run(main)
