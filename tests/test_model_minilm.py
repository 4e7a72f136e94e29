"""The real offline MiniLM encoder end to end (slow: loads a 22M-parameter model)."""
import numpy
import pytest

from spacy_bertram.util import default_encoder_path

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["add", "replace", "shallow"])
def test_minilm_inference_and_round_trip(mode, tmp_path):
    from spacy_bertram.model import BertramModel, infer_vectors

    words = ["kangaroo", "wallaby", "platypus", "koala", "wombat", "echidna"]
    model = BertramModel.from_encoder(default_encoder_path(), words=words, mode=mode, ngram_min_count=1)
    assert model.embedding_dim == 384 and model.config.quote_form is False
    contexts = {
        "wallaby": ["A wallaby hopped across the road .", "The wallaby is smaller than a kangaroo ."],
        "echidna": ["The echidna lays eggs , like the platypus ."],
        "quokka": [],
    }
    out = infer_vectors(model, contexts, batch_size=2)
    assert all(v.shape == (384,) and v.dtype == numpy.float32 for v in out.values())
    single = infer_vectors(model, {"wallaby": contexts["wallaby"]})["wallaby"]
    numpy.testing.assert_allclose(out["wallaby"], single, atol=1e-4)
    model.save_pretrained(tmp_path)
    again = infer_vectors(BertramModel.from_pretrained(tmp_path), contexts)
    for word in contexts:
        numpy.testing.assert_allclose(again[word], out[word], atol=1e-5)
