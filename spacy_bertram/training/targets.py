"""Training targets: the encoder's own input embedding of each frequent word.

A word the tokenizer keeps whole gets its row of the input-embedding matrix; a word it
splits gets a one-token approximation (see `ota.py`). Targets depend only on the word
list, the encoder and the OTA settings, so they are cached on disk as safetensors,
keyed by a hash of all three (no pickle).
"""
import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .ota import OtaConfig, one_token_approximation, word_piece_ids


def encoder_fingerprint(encoder) -> str:
    """A hash of the encoder's config and weights: a changed encoder never reuses targets."""
    digest = hashlib.sha256(encoder.config.to_json_string(use_diff=False).encode("utf8"))
    for name, tensor in encoder.state_dict().items():
        digest.update(name.encode("utf8"))
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def targets_cache_key(words: Sequence[str], fingerprint: str, ota: OtaConfig) -> str:
    payload = json.dumps({"words": list(words), "encoder": fingerprint, "ota": asdict(ota)})
    return hashlib.sha256(payload.encode("utf8")).hexdigest()[:20]


def trainable_target_words(tokenizer, words: Sequence[str]) -> List[str]:
    """The words whose pieces contain no unknown token (an UNK row is no target)."""
    unk = tokenizer.unk_token_id
    return [w for w in words if (ids := word_piece_ids(tokenizer, w)) and unk not in ids]


def compute_targets(
    encoder,
    tokenizer,
    words: Sequence[str],
    *,
    ota: OtaConfig = OtaConfig(),
    cache_dir: Union[str, Path, None] = None,
    show_progress: bool = False,
) -> Dict[str, torch.Tensor]:
    """Target vectors `{word: [D] float32 CPU tensor}` for words without unknown pieces.

    With `cache_dir`, the result is read from (or written to)
    `targets-<key>.safetensors`, where the key hashes the word list, the encoder's
    fingerprint and the OTA settings.
    """
    words = trainable_target_words(tokenizer, words)
    cache_path: Optional[Path] = None
    if cache_dir is not None:
        key = targets_cache_key(words, encoder_fingerprint(encoder), ota)
        cache_path = Path(cache_dir) / f"targets-{key}.safetensors"
        if cache_path.is_file():
            return _read_cache(cache_path, words)
    weight = encoder.get_input_embeddings().weight.detach()
    pieces = {w: word_piece_ids(tokenizer, w) for w in words}
    multi = [w for w in words if len(pieces[w]) > 1]
    learned = one_token_approximation(encoder, tokenizer, multi, ota, show_progress=show_progress)
    approximated = dict(zip(multi, learned))
    targets = {
        w: approximated[w] if w in approximated else weight[pieces[w][0]].float().cpu().clone() for w in words
    }
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        vectors = torch.stack([targets[w] for w in words]) if words else torch.zeros((0, weight.shape[1]))
        tmp = cache_path.with_suffix(".tmp")
        save_file({"vectors": vectors.contiguous()}, str(tmp), metadata={"words": json.dumps(words)})
        tmp.replace(cache_path)
    return targets


def _read_cache(path: Path, words: List[str]) -> Dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as file:
            cached_words = json.loads(file.metadata()["words"])
        vectors = load_file(str(path))["vectors"]
    except Exception as err:
        raise ValueError(f"Corrupt targets cache {path}: delete the file and re-run.") from err
    if cached_words != words or vectors.shape[0] != len(words):
        raise ValueError(f"Targets cache {path} does not match its key: delete the file and re-run.")
    return dict(zip(words, vectors))
