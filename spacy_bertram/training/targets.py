"""Training targets: the encoder's own input embedding of each frequent word.

A word the tokenizer keeps whole gets its row of the input-embedding matrix; a word it
splits gets a one-token approximation (see `ota.py`). A word's target depends only on
the word, its contexts, the encoder and the OTA settings (OTA rows of a batch never
interact), so targets are cached on disk per word, in one safetensors file per encoder
and OTA settings (no pickle): a run on another word list computes only the words it
lacks. The cache does not key on the contexts: keep one cache per corpus (the trainer
keeps it in its output folder).
"""

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..model.encoder import word_pieces
from .ota import OtaConfig, WordContextMap, one_token_approximation, ota_fit


def encoder_fingerprint(encoder) -> str:
    """A hash of the encoder's config and weights: a changed encoder never reuses targets."""
    digest = hashlib.sha256(encoder.config.to_json_string(use_diff=False).encode("utf8"))
    for name, tensor in encoder.state_dict().items():
        digest.update(name.encode("utf8"))
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def targets_cache_key(fingerprint: str, ota: OtaConfig) -> str:
    payload = json.dumps({"encoder": fingerprint, "ota": asdict(ota)})
    return hashlib.sha256(payload.encode("utf8")).hexdigest()[:20]


def trainable_target_words(tokenizer, words: Sequence[str]) -> List[str]:
    """The words whose pieces contain no unknown token (an UNK row is no target)."""
    unk = tokenizer.unk_token_id
    return [w for w, ids in zip(words, word_pieces(tokenizer, words)) if ids and unk not in ids]


def compute_targets(
    encoder,
    tokenizer,
    words: Sequence[str],
    *,
    ota: OtaConfig = OtaConfig(),
    contexts: Optional[WordContextMap] = None,
    cache_dir: Union[str, Path, None] = None,
    show_progress: bool = False,
    report: Optional[Callable[..., Any]] = None,
) -> Dict[str, torch.Tensor]:
    """Target vectors `{word: [D] float32 CPU tensor}` for words without unknown pieces.

    OTA samples templates from `contexts` (`{word: [context, ...]}`); `report`, when
    given, is called with OTA's fit (`ota.ota_fit`) of the words it computed, so a
    target is known to be good before a model learns from it.

    With `cache_dir`, targets are read from `targets-<key>.safetensors`, where the key
    hashes the encoder's fingerprint and the OTA settings; words missing there are
    computed and the file is rewritten (atomically) with the union.
    """
    words = trainable_target_words(tokenizer, words)
    cache_path = None if cache_dir is None else _cache_path(cache_dir, encoder, ota)
    cached = _read_cache(cache_path) if cache_path is not None and cache_path.is_file() else {}
    missing = [w for w in words if w not in cached]
    weight = encoder.get_input_embeddings().weight.detach()
    pieces = dict(zip(missing, word_pieces(tokenizer, missing)))
    multi = [w for w in missing if len(pieces[w]) > 1]
    computed: Dict[str, torch.Tensor] = {}
    if multi:
        started = time.perf_counter()
        learned = one_token_approximation(
            encoder, tokenizer, multi, ota, contexts=contexts, show_progress=show_progress
        )
        seconds = time.perf_counter() - started
        computed.update(zip(multi, learned))
        if report is not None:
            fit = ota_fit(encoder, tokenizer, multi, learned, ota, contexts)
            report(**fit, ota_seconds=round(seconds, 3), ota_words_per_second=round(len(multi) / seconds, 2))
    computed.update({w: weight[pieces[w][0]].float().cpu().clone() for w in missing if w not in computed})
    if cache_path is not None and computed:
        _write_cache(cache_path, {**cached, **computed}, weight.shape[1])
    return {w: computed[w] if w in computed else cached[w] for w in words}


def cached_targets(cache_dir: Union[str, Path], encoder, ota: OtaConfig) -> Dict[str, torch.Tensor]:
    """The targets cached in `cache_dir` for this encoder and these OTA settings ({} when
    none are); reads only."""
    path = _cache_path(cache_dir, encoder, ota)
    return _read_cache(path) if path.is_file() else {}


def _cache_path(cache_dir: Union[str, Path], encoder, ota: OtaConfig) -> Path:
    return Path(cache_dir) / f"targets-{targets_cache_key(encoder_fingerprint(encoder), ota)}.safetensors"


def _write_cache(path: Path, targets: Dict[str, torch.Tensor], dim: int) -> None:
    words = sorted(targets)
    vectors = torch.stack([targets[w] for w in words]) if words else torch.zeros((0, dim))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # one per writer; replace is atomic
    save_file({"vectors": vectors.contiguous()}, str(tmp), metadata={"words": json.dumps(words)})
    tmp.replace(path)


def _read_cache(path: Path) -> Dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as file:
            cached_words = json.loads(file.metadata()["words"])
        vectors = load_file(str(path))["vectors"]
    except Exception as err:
        raise ValueError(f"Corrupt targets cache {path}: delete the file and re-run.") from err
    if vectors.shape[0] != len(cached_words):
        raise ValueError(
            f"Targets cache {path} lists {len(cached_words)} words for {vectors.shape[0]} vectors: "
            "delete the file and re-run."
        )
    return dict(zip(cached_words, vectors))
