"""Give a trained transformer pipeline BERTRAM vectors at prediction time, without retraining it.

`attach_bertram` takes any spacy-transformers pipeline, a stock one (architectures
`spacy-transformers.TransformerModel.v1`-`v3`, or `Tok2VecTransformer` where listeners
were replaced) or one built for BERTRAM: it adds a `bertram` component before the
transformer and swaps each transformer's architecture for BERTRAM's, keeping every
trained weight. A text without rare words takes exactly the forward pass it took
before, so it gets exactly the same predictions. `detach_bertram` undoes it.

REPLACE (a rare word's wordpieces become its BERTRAM vector) needs no retraining.
SLASH (`wordpieces / vector`) is BERTRAM's downstream protocol for a classifier trained
with the slash augmentation (`bertram.mask_slash_augmenter.v1` writes words as `w / w`),
which has learned to read a word next to a second copy of it; a classifier trained
without it has never seen the extra `/` and copy in its input.
"""
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import spacy
from spacy import util
from spacy.language import Language
from spacy_transformers.data_classes import HFObjects
from spacy_transformers.layers import TransformerModel
from spacy_transformers.layers.transformer_model import set_pytorch_transformer
from thinc.api import Model

from .frequency import encoder_special_tokens
from .layers.transformer_model import TOK2VEC_ARCHITECTURE, BertramTransformerModel
from .layers.wordpiece_edit import check_mode
from .model.modeling_bertram import saved_encoder_path
from .util import resolve_encoder_path

BERTRAM_ARCHITECTURE = "bertram.TransformerModel.v1"
STOCK_ARCHITECTURE = "spacy-transformers.TransformerModel.v3"
STOCK_TOK2VEC = "spacy-transformers.Tok2VecTransformer.v3"
# Every architecture attach accepts, and what it becomes with BERTRAM.
TO_BERTRAM = {
    **{f"spacy-transformers.TransformerModel.v{v}": BERTRAM_ARCHITECTURE for v in (1, 2, 3)},
    **{f"spacy-transformers.Tok2VecTransformer.v{v}": TOK2VEC_ARCHITECTURE for v in (1, 2, 3)},
    BERTRAM_ARCHITECTURE: BERTRAM_ARCHITECTURE,
    TOK2VEC_ARCHITECTURE: TOK2VEC_ARCHITECTURE,
}
# What detach gives back: the newest stock version, whose arguments include the older ones'.
TO_STOCK = {BERTRAM_ARCHITECTURE: STOCK_ARCHITECTURE, TOK2VEC_ARCHITECTURE: STOCK_TOK2VEC}
# Arguments of BERTRAM's architectures that the stock ones do not take.
BERTRAM_ARGUMENTS = ("mode", "freeze_embeddings")

Pipeline = Union[str, Path, Language]


def attach_bertram(
    pipeline: Pipeline,
    model: Union[str, Path],
    *,
    store: Optional[Union[str, Path]] = None,
    mode: str = "slash",
    in_domain: bool = False,
    max_contexts: Optional[int] = None,
    name: str = "bertram",
    component_config: Optional[Dict[str, Any]] = None,
) -> Language:
    """A copy of `pipeline` (a Language or a saved folder) that reads BERTRAM vectors.

    model: folder of a trained BERTRAM model for the pipeline's encoder.
    store: SQLite context store for rare words (None: the pipeline's own, if any).
    mode: "slash" (the paper's protocol) or "replace", for every transformer.
    in_domain: also take contexts from the texts of each batch the pipeline processes.
    max_contexts: most contexts per word (None: the component's setting).
    name: name of the `bertram` component added when the pipeline has none.
    component_config: more settings of the bertram component, as for `nlp.add_pipe("bertram",
        config=...)`, e.g. {"frequency": {"@misc": "bertram.WordfreqFrequency.v1",
        "zipf_threshold": 3.0}} for what counts as rare.
    The result saves with `nlp.to_disk` (bundling the BERTRAM model) and packages
    with `spacy package` like any pipeline; `pipeline` itself is left unchanged.
    """
    model = Path(model)
    check_mode(mode)
    config = _config(pipeline)
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
    settings: Dict[str, Any] = {**(component_config or {}), "model_path": str(model), "in_domain": in_domain}
    if store is not None:
        settings["store_path"] = str(store)
    if max_contexts is not None:
        settings["max_contexts"] = max_contexts
    components = config["components"]
    transformers = list(_transformer_models(components))
    if not transformers:
        raise ValueError(
            f"The pipeline {_describe(pipeline)} has no transformer with a spacy-transformers "
            f"architecture ({', '.join(sorted(TO_BERTRAM))}); its components use "
            f"{sorted(set(_architectures(components))) or 'none'}. BERTRAM feeds its vectors "
            "to a spacy-transformers TransformerModel: train the pipeline with one."
        )
    for _, node in transformers:
        node["@architectures"] = TO_BERTRAM[node["@architectures"]]
        node["mode"] = mode
    bertram_names = [n for n, cfg in components.items() if cfg.get("factory") == "bertram"]
    if not bertram_names:
        if name in components:
            raise ValueError(
                f"The pipeline {_describe(pipeline)} has a component named '{name}' that is "
                "not a bertram component: pass another name= for the one attach adds."
            )
        holders = {path.split(".")[1] for path, _ in transformers}
        pipe_names = config["nlp"]["pipeline"]
        first = min(pipe_names.index(n) for n in holders)
        pipe_names.insert(first, name)
        # The encoder's special tokens are never rare, as in pipelines built with the component.
        rare_filter = {"@misc": "bertram.RareWordFilter.v2",
                       "special_tokens": encoder_special_tokens(saved_encoder_path(model))}
        components[name] = {"factory": "bertram", "rare_filter": rare_filter}
        bertram_names = [name]
    for bertram_name in bertram_names:
        components[bertram_name].update(settings)
    annotating = config["training"].setdefault("annotating_components", [])
    annotating.extend(n for n in bertram_names if n not in annotating)
    nlp = _rebuild(pipeline, config)
    has_transformer = any(nlp.get_pipe_meta(n).factory == "transformer" for n in nlp.pipe_names)
    for bertram_name in bertram_names:
        # A model (or store) the pipeline was saved with would win over the config.
        pipe = nlp.get_pipe(bertram_name)
        pipe.initialize(lambda: [], nlp=nlp if has_transformer else None, model=model, store=store)
        _check_width(nlp, bertram_name, [path for path, _ in transformers])
    return nlp


def detach_bertram(pipeline: Pipeline) -> Language:
    """A copy of `pipeline` without BERTRAM: no `bertram` component, stock transformers.

    Every trained weight is kept, so it predicts what the pipeline did before
    `attach_bertram`. BERTRAM transformers become `spacy-transformers.TransformerModel.v3`
    (`Tok2VecTransformer.v3` for replaced listeners), whose arguments include v1's and v2's.
    """
    config = _config(pipeline)
    components = config["components"]
    bertram_names = [n for n, cfg in components.items() if cfg.get("factory") == "bertram"]
    transformers = [node for _, node in _transformer_models(components) if node["@architectures"] in TO_STOCK]
    if not bertram_names and not transformers:
        raise ValueError(
            f"The pipeline {_describe(pipeline)} has no bertram component and no "
            f"{BERTRAM_ARCHITECTURE} transformer: there is nothing to detach."
        )
    for node in transformers:
        node["@architectures"] = TO_STOCK[node["@architectures"]]
        for key in BERTRAM_ARGUMENTS:
            node.pop(key, None)
    for bertram_name in bertram_names:
        del components[bertram_name]
        for section, key in (("nlp", "pipeline"), ("nlp", "disabled"), ("training", "annotating_components"),
                             ("training", "frozen_components")):
            names = config[section].get(key, [])
            if bertram_name in names:
                names.remove(bertram_name)
    return _rebuild(pipeline, config)


def _config(pipeline: Pipeline) -> util.Config:
    """A copy of the pipeline's config, to be edited and rebuilt from."""
    if isinstance(pipeline, Language):
        return pipeline.config.copy()
    path = Path(pipeline)
    if not (path / "config.cfg").is_file():
        raise ValueError(
            f"{path} is not a saved spaCy pipeline (no config.cfg): pass a folder "
            "written by nlp.to_disk or `spacy train` (e.g. training/plain/model-best)."
        )
    return util.load_config(path / "config.cfg")


def _rebuild(pipeline: Pipeline, config: util.Config) -> Language:
    """The pipeline that `config` describes, with the weights of `pipeline`."""
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    if isinstance(pipeline, Language):
        return nlp.from_bytes(pipeline.to_bytes(), exclude=["config"])
    return nlp.from_disk(pipeline, exclude=["config"])


def _describe(pipeline: Pipeline) -> str:
    return repr(pipeline.pipe_names) if isinstance(pipeline, Language) else str(pipeline)


def _walk(components: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(dotted path, node) of every config block under the components."""
    stack: List[Tuple[str, Any]] = [(f"components.{name}", cfg) for name, cfg in components.items()]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            yield path, node
            stack.extend((f"{path}.{key}", value) for key, value in node.items())


def _transformer_models(components: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Every transformer model block attach can work with (listeners replaced or not)."""
    return ((path, node) for path, node in _walk(components) if node.get("@architectures") in TO_BERTRAM)


def _architectures(components: Dict[str, Any]) -> Iterator[str]:
    return (node["@architectures"] for _, node in _walk(components) if "@architectures" in node)


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


@spacy.registry.callbacks("bertram.prepare_transformers.v1")
def make_prepare_transformers(freeze_embeddings: bool = True) -> Callable[[Language], Language]:
    """`[initialize.before_init]` for a stock transformer pipeline BERTRAM is attached to later.

    The encoder name "default" means the offline MiniLM folder (as it does for BERTRAM's
    own architecture), and with `freeze_embeddings` the encoder's input embeddings are
    not fine-tuned (the paper's downstream setting), so that BERTRAM vectors, trained to
    live in that embedding space, still fit it when attached. Training-time only: the
    trained pipeline is a stock one.
    """

    def prepare_transformers(nlp: Language) -> Language:
        for _, component in nlp.components:
            model = getattr(component, "model", None)
            for node in model.walk() if isinstance(model, Model) else ():
                if isinstance(node, TransformerModel) and not isinstance(node, BertramTransformerModel):
                    node.attrs["name"] = resolve_encoder_path(node.attrs["name"])
                    if freeze_embeddings:
                        node.attrs["set_transformer"] = _set_frozen_transformer
        return nlp

    return prepare_transformers


def _set_frozen_transformer(model: TransformerModel, hf_model: HFObjects) -> None:
    set_pytorch_transformer(model, hf_model)
    hf_model.transformer.get_input_embeddings().weight.requires_grad_(False)
