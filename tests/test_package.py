"""`spacy package` of a bertram pipeline gives a wheel that loads with no source tree."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.training import Example

import spacy_bertram.layers.transformer_model  # noqa: F401  (registers the architectures)
from spacy_bertram.model import BertramModel
from spacy_bertram.pipeline_component import make_bertram  # noqa: F401

from conftest import WORDS

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_package.sh"


@pytest.mark.slow
def test_check_package_script_loads_the_installed_wheel(tiny_bert_path, tmp_path):
    BertramModel.from_encoder(tiny_bert_path, words=WORDS + ["zorblat"]).save_pretrained(tmp_path / "bertram")
    nlp = spacy.blank("en")
    nlp.add_pipe("bertram", config={"model_path": str(tmp_path / "bertram")})
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "bertram.TransformerModel.v1",
                "name": str(tiny_bert_path),
                "tokenizer_config": {"use_fast": True},
                "get_spans": {"@span_getters": "spacy-transformers.doc_spans.v1"},
            }
        },
    )
    textcat = nlp.add_pipe("textcat")
    textcat.add_label("POS")
    textcat.add_label("NEG")
    doc = nlp.make_doc("the zorblat was good")
    examples = [Example.from_dict(doc, {"cats": {"POS": 1.0, "NEG": 0.0}})]
    with pytest.warns(UserWarning, match="annotating_components"):
        nlp.initialize(lambda: examples)
    nlp.to_disk(tmp_path / "pipeline")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "pipeline"), "A zorblat sat on the mat."],
        env={**env, "PYTHON": sys.executable},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "en_bertram_pipeline: rare word 'zorblat' vector norm" in result.stdout
