"""The code paths only a GPU takes: device "auto", half precision, vectors moved to the
embedding's device and dtype, thinc on CuPy. Skipped where CUDA is absent."""
import numpy
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CONTEXTS = {
    "movies": ["the movies were good .", "i like movies and books ."],
    "happily": ["she ran happily home .", "they lived happily ."],
}


def test_auto_device_is_the_gpu():
    from spacy_bertram.util import get_torch_device

    assert get_torch_device("auto").type == "cuda"
    assert get_torch_device(0) == torch.device("cuda:0") and get_torch_device("-1").type == "cpu"


def test_half_precision_inference_on_the_gpu_matches_float32(tiny_bert_path):
    from spacy_bertram.model import BertramModel, NgramVocab, infer_vectors

    vocab = NgramVocab.build(CONTEXTS, min_count=1)
    model = BertramModel.from_encoder(tiny_bert_path, ngram_vocab=vocab, mode="add", max_seq_length=32, device="auto")
    assert model.device.type == "cuda"
    full = infer_vectors(model, CONTEXTS, half_precision=False)
    half = infer_vectors(model, CONTEXTS, half_precision=True)
    cpu = infer_vectors(model.to(torch.device("cpu")), CONTEXTS, half_precision=False)
    for word in CONTEXTS:
        assert full[word].dtype == half[word].dtype == numpy.float32
        cosine = float(full[word] @ half[word] / numpy.linalg.norm(full[word]) / numpy.linalg.norm(half[word]))
        assert cosine > 0.99
        numpy.testing.assert_allclose(full[word], cpu[word], rtol=1e-3, atol=1e-4)


def test_doc_vectors_reach_a_gpu_encoder_in_its_dtype(tiny_bert_path):
    pytest.importorskip("cupy")
    import spacy

    from test_layers_transformer_model import build, encoder_inputs, with_vectors

    spacy.require_gpu()
    try:
        model = build(tiny_bert_path, "replace")
        doc = with_vectors(spacy.blank("en"), "the qzxv was good", ["qzxv"])
        seen = encoder_inputs(model, [doc])
        embeds = seen["inputs_embeds"]
        assert embeds.device.type == "cuda" and embeds.dtype == next(model.transformer.parameters()).dtype
        assert torch.isfinite(embeds).all()
    finally:
        from thinc.api import NumpyOps, set_current_ops

        set_current_ops(NumpyOps())
