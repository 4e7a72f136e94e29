"""Give a trained pipeline BERTRAM vectors at prediction time, without retraining it.

This is BERTRAM's downstream protocol: a classifier trained with the slash
augmentation (`bertram.mask_slash_augmenter.v1` writes words as `w / w`) has learned
to read a word next to a second copy of it, so at prediction time a rare word can be
written as `wordpieces / BERTRAM vector`. The comparison with and without vectors is
then one classifier against itself, free of the noise of training another one.

The pipeline must have been built for it (as `configs/textcat.cfg` is): a `bertram`
component before a transformer with the `bertram.TransformerModel.v1` architecture,
trained with `model_path = null`, so it flagged rare words but gave them no vectors.
"""
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import spacy
from spacy import util
from spacy.language import Language

from .layers.transformer_model import TOK2VEC_ARCHITECTURE, BertramTransformerModel
from .layers.wordpiece_edit import check_mode

ARCHITECTURES = ("bertram.TransformerModel.v1", TOK2VEC_ARCHITECTURE)


def attach_bertram(
    pipeline: Union[str, Path],
    model: Union[str, Path],
    *,
    store: Optional[Union[str, Path]] = None,
    mode: str = "slash",
    in_domain: bool = False,
    max_contexts: Optional[int] = None,
) -> Language:
    """Load the pipeline saved at `pipeline` with the BERTRAM model at `model`.

    store: SQLite context store for rare words (None: the pipeline's own, if any).
    mode: "slash" (the paper's protocol) or "replace", for every bertram transformer.
    in_domain: also take contexts from the texts of each batch the pipeline processes.
    max_contexts: most contexts per word (None: the pipeline's setting).
    Save the result with `nlp.to_disk`; it bundles the BERTRAM model.
    """
    pipeline, model = Path(pipeline), Path(model)
    check_mode(mode)
    if not (pipeline / "config.cfg").is_file():
        raise ValueError(
            f"{pipeline} is not a saved spaCy pipeline (no config.cfg): pass a folder "
            "written by nlp.to_disk or `spacy train` (e.g. training/plain/model-best)."
        )
    if not (model / "config.json").is_file():
        raise ValueError(
            f"{model} is not a BERTRAM model (no config.json): pass a folder saved by "
            "BertramModel.save_pretrained or `python -m spacy_bertram train`."
        )
    if store is not None and not Path(store).is_file():
        raise ValueError(
            f"The context store {store} does not exist: build it with "
            "`python -m spacy_bertram index`, or leave it out to use in-domain contexts only."
        )
    config = util.load_config(pipeline / "config.cfg")
    components = config["components"]
    bertram_names = [name for name, cfg in components.items() if cfg.get("factory") == "bertram"]
    transformers = list(_bertram_architectures(components))
    if not bertram_names or not transformers:
        raise ValueError(
            f"The pipeline {pipeline} has no `bertram` component or no transformer with "
            f"the {ARCHITECTURES[0]} architecture, so it cannot read BERTRAM vectors. "
            "Train it from configs/textcat.cfg with --paths.bertram_model null."
        )
    overrides: Dict[str, Any] = {f"{path}.mode": mode for path in transformers}
    for name in bertram_names:
        overrides[f"components.{name}.model_path"] = str(model)
        overrides[f"components.{name}.in_domain"] = in_domain
        if store is not None:
            overrides[f"components.{name}.store_path"] = str(store)
        if max_contexts is not None:
            overrides[f"components.{name}.max_contexts"] = max_contexts
    nlp = spacy.load(pipeline, config=overrides)
    for name in bertram_names:
        # A model (or store) the pipeline was saved with would win over the config.
        nlp.get_pipe(name).initialize(lambda: [], nlp=nlp, model=model, store=store)
        _check_width(nlp, name, transformers)
    return nlp


def _bertram_architectures(components: Dict[str, Any]) -> Iterator[str]:
    """Dotted config paths of every bertram transformer model (listeners replaced or not)."""
    stack: List[Tuple[str, Any]] = [(f"components.{name}", cfg) for name, cfg in components.items()]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if node.get("@architectures") in ARCHITECTURES:
                yield path
            stack.extend((f"{path}.{key}", value) for key, value in node.items())


def _check_width(nlp: Language, name: str, transformers: List[str]) -> None:
    width = nlp.get_pipe(name).bertram_model.embedding_dim
    for component in {path.split(".")[1] for path in transformers}:
        for node in nlp.get_pipe(component).model.walk():
            if isinstance(node, BertramTransformerModel):
                expected = node.transformer.get_input_embeddings().embedding_dim
                if expected != width:
                    raise ValueError(
                        f"The BERTRAM model gives {width}-dimensional vectors, but the "
                        f"transformer in '{component}' embeds its input in {expected} "
                        "dimensions. Use a BERTRAM model trained for this encoder."
                    )
