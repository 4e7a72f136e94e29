"""A pipeline and a BERTRAM model saved by spacy-bertram 0.1.0 still load and give the same vectors.

`fixtures/saved-0.1.0` was written by the 0.1.0 code (a tiny random encoder); its
config names absolute paths of the machine that made it, which do not exist here, so
the pipeline can only load what it bundles.
"""
import json
from pathlib import Path

import numpy
import pytest
import spacy

import spacy_bertram.layers.transformer_model  # noqa: F401
import spacy_bertram.pipeline_component  # noqa: F401
from spacy_bertram.contexts.store import ContextStore
from spacy_bertram.model import BertramModel, infer_vectors

FIXTURE = Path(__file__).parent / "fixtures" / "saved-0.1.0"


@pytest.fixture(scope="module")
def expected():
    return json.loads((FIXTURE / "expected.json").read_text())


def test_saved_pipeline_loads_and_predicts_as_before(expected):
    config = spacy.util.load_config(FIXTURE / "pipeline" / "config.cfg")
    assert not Path(config["components"]["bertram"]["model_path"]).exists()
    nlp = spacy.load(FIXTURE / "pipeline")
    doc = nlp(expected["text"])
    assert list(doc._.bertram_rare) == expected["rare"]
    got = {doc[i].text: v for i, v in doc._.bertram_vectors.items()}
    assert set(got) == set(expected["vectors"])
    for word, vector in expected["vectors"].items():
        numpy.testing.assert_allclose(got[word], vector, atol=1e-5)
    numpy.testing.assert_allclose(
        doc._.trf_data.model_output.last_hidden_state, expected["trf_last_hidden"], atol=1e-4
    )


def test_saved_model_loads_and_infers_as_before(expected):
    model = BertramModel.from_pretrained(FIXTURE / "bertram-model")
    with ContextStore(FIXTURE / "pipeline" / "bertram" / "store.sqlite", read_only=True) as store:
        contexts = store.contexts("zorblat", limit=32)
    vectors = infer_vectors(model, {"zorblat": contexts})
    numpy.testing.assert_allclose(vectors["zorblat"], expected["vectors"]["zorblat"], atol=1e-5)
