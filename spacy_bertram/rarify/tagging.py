"""Part of speech in context: Penn Treebank tags from a trained spaCy tagger.

A rare synonym must keep the part of speech the word has in its sentence (BERTRAM,
section 4): "run" in "a long run" takes a noun's synonym, in "they run" a verb's.
Docs tagged here carry `token.tag_`, which `candidates.token_tag` reads; untagged
docs fall back to the word's most frequent WordNet part of speech. The project trains
such a tagger on the Brown corpus (`configs/tagger.cfg`).
"""
from pathlib import Path
from typing import Iterable, List, Union

from spacy.language import Language
from spacy.tokens import Doc


def load_tagger(path: Union[str, Path]) -> Language:
    """The spaCy pipeline at `path`, which must hold a `tagger` component."""
    import spacy

    path = Path(path)
    if not (path / "config.cfg").is_file():
        raise FileNotFoundError(
            f"{path} is not a spaCy pipeline (no config.cfg); pass a trained tagger's folder, "
            "e.g. the project's `train-tagger` output (model-best)."
        )
    nlp = spacy.load(path)
    if "tagger" not in nlp.pipe_names:
        raise ValueError(
            f"{path} has no `tagger` component (pipeline: {nlp.pipe_names}); pass a pipeline "
            "trained with configs/tagger.cfg."
        )
    return nlp


def tag_docs(tagger: Language, docs: Iterable[Doc], batch_size: int = 256) -> List[Doc]:
    """The docs with `token.tag_` set by the tagger's components (their tokens untouched)."""
    docs = list(docs)
    labels = tagger.get_pipe("tagger").labels
    for doc in docs:
        for label in labels:  # the docs may come with another vocab
            doc.vocab.strings.add(label)
    return list(tagger.pipe(docs, batch_size=batch_size))
