"""Vector tables: a BERTRAM vector for every word of a store that the `bertram` component flags rare.

The component itself decides which words (its frequency source, rare filter and
keep_whole_words), which contexts (the store's sample of `max_contexts`) and how to
key them, so a table vector is exactly what the component would infer for the word
without in-domain text. See `vector_table.py` for the format.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import spacy
from spacy import util
from tqdm import tqdm

from .model import infer_vectors
from .pipeline_component import Bertram, component_table_identity
from .vector_table import TableWriter

# Words per chunk of the table: what a re-run may redo after an interruption.
CHUNK_WORDS = 4096


def bertram_component(
    model: Union[str, Path],
    store: Union[str, Path],
    config: Optional[Union[str, Path]] = None,
    **settings: Any,
) -> Bertram:
    """A `bertram` component for `model` and `store`, with the [components] settings of the
    `bertram` component of `config` (a config.cfg or a pipeline folder), then `settings`."""
    component_config: Dict[str, Any] = {}
    if config is not None:
        path = Path(config)
        path = path / "config.cfg" if path.is_dir() else path
        if not path.is_file():
            raise ValueError(f"bertram: no pipeline config at {path}; give a config.cfg or a saved pipeline folder.")
        components = util.load_config(path, interpolate=True).get("components", {})
        found = [dict(c) for c in components.values() if c.get("factory") == "bertram"]
        if not found:
            raise ValueError(f"bertram: the config {path} has no `bertram` component to take the settings of.")
        component_config = {k: v for k, v in found[0].items() if k != "factory"}
    component_config.update(settings, model_path=str(model), store_path=str(store), vectors_path=None)
    nlp = spacy.blank("en")
    return nlp.add_pipe("bertram", config=component_config)


def precompute_vectors(
    component: Bertram,
    out: Union[str, Path],
    *,
    chunk_words: int = CHUNK_WORDS,
    show_progress: bool = True,
) -> Dict[str, Any]:
    """Write the vectors of the component's rare store words to the table folder `out`.

    Words already in `out` (an interrupted run with the same model, store and
    max_contexts) are skipped. Returns counts of the words found and inferred.
    """
    if chunk_words < 1:
        raise ValueError(f"bertram: chunk_words must be at least 1, got {chunk_words}.")
    model = component.bertram_model
    store = component.contexts.open()
    if model is None or store is None:
        raise ValueError("bertram: a vector table needs both a model and a context store (model_path, store_path).")
    writer = TableWriter(out, component_table_identity(component))
    done = writer.done_words()
    keys = model.word_keys(word for word, _ in store.counts() if component.rare_tokens.is_rare(word))
    words = model.vector_words(sorted(set(keys.values())))
    todo: List[str] = [word for word in words if word not in done]
    settings = {"max_contexts": component.cfg["max_contexts"], "batch_size": component.cfg["batch_size"]}
    with tqdm(total=len(words), initial=len(words) - len(todo), unit="word", disable=not show_progress,
              desc="precompute") as progress:
        for start in range(0, len(todo), chunk_words):
            chunk = todo[start : start + chunk_words]
            contexts = component.contexts.contexts(chunk, component.cfg["max_contexts"])
            writer.write_chunk(infer_vectors(model, contexts, **settings))
            progress.update(len(chunk))
    return {"out": str(out), "rare_words": len(words), "inferred": len(todo), "already_done": len(words) - len(todo),
            "device": str(model.device)}
