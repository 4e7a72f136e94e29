"""Encoder loading (safetensors only, clear errors), the wordpiece base, eval mode, imports."""
import ast
import shutil
from pathlib import Path

import numpy
import pytest
import torch

import spacy_bertram
from spacy_bertram.evaluation import evaluate_crw, wordpiece_mean_vectors
from spacy_bertram.evaluation.crw import form_only_vectors
from spacy_bertram.evaluation.similarity import SimilarityData, WordPair
from spacy_bertram.model import BertramModel, infer_vectors

from conftest import WORDS

# Words the tiny BERT reads as one [UNK]: scripts it has no pieces for, and a word
# longer than WordPiece's 100-character limit.
UNKNOWN_WORDS = ["ሰላም", "ⵜⴰⵎⴰⵣⵉⵖⵜ", "a" * 500]


@pytest.fixture
def pickled_encoder(tiny_bert_path, tmp_path) -> Path:
    """The tiny BERT with pickled weights only (pytorch_model.bin, no safetensors)."""
    from transformers import AutoModel

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert_path, folder)
    (folder / "model.safetensors").unlink()
    AutoModel.from_pretrained(str(tiny_bert_path)).save_pretrained(str(folder), safe_serialization=False)
    assert (folder / "pytorch_model.bin").is_file() and not list(folder.glob("*.safetensors"))
    return folder


def _never_unpickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(torch, "load", refuse)


def test_crw_refuses_a_pickled_encoder(pickled_encoder, monkeypatch):
    _never_unpickle(monkeypatch)
    data = SimilarityData([WordPair("movie", "film", 8)], {})
    with pytest.raises(FileNotFoundError) as info:
        evaluate_crw(data, encoder_path=pickled_encoder)
    message = str(info.value)
    assert str(pickled_encoder) in message and "pytorch_model.bin" in message
    assert "safe_serialization=True" in message  # the fix


def test_model_refuses_a_pickled_encoder(pickled_encoder, monkeypatch):
    _never_unpickle(monkeypatch)
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin"):
        BertramModel.from_encoder(pickled_encoder, words=WORDS)


def test_truncated_bundled_encoder_names_the_file(tiny_bert_path, tmp_path):
    BertramModel.from_encoder(tiny_bert_path, words=WORDS).save_pretrained(tmp_path, save_encoder=True)
    weights = tmp_path / "encoder" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError) as info:
        BertramModel.from_pretrained(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "encoder") in message and "save the encoder folder again" in message


def test_weights_of_another_shape_name_the_file_and_the_fix(tiny_bert_path, tmp_path):
    BertramModel.from_encoder(tiny_bert_path, words=WORDS, ngram_min_count=1).save_pretrained(tmp_path / "a")
    BertramModel.from_encoder(tiny_bert_path, words=WORDS[:20], ngram_min_count=1).save_pretrained(tmp_path / "b")
    shutil.copy(tmp_path / "b" / "ngrams.txt", tmp_path / "a" / "ngrams.txt")  # a smaller n-gram table
    with pytest.raises(ValueError) as info:
        BertramModel.from_pretrained(tmp_path / "a")
    message = str(info.value)
    assert str(tmp_path / "a" / "model.safetensors") in message
    assert "form.embedding.weight" in message and "save_pretrained" in message


@pytest.mark.parametrize("mode", ["form", "add"])
def test_a_word_read_as_unk_gets_a_vector_of_its_own(tiny_bert_path, mode):
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS + UNKNOWN_WORDS, mode=mode, ngram_min_count=1)
    assert model.config.keep_whole_words
    unk = model.tokenizer.unk_token_id
    pieces = model.tokenizer([" " + w for w in UNKNOWN_WORDS], add_special_tokens=False)["input_ids"]
    assert all(ids == [unk] for ids in pieces)
    with torch.no_grad():
        model.form.embedding.weight.normal_(std=0.05)
    requests = {w: [f"the {w} was here ."] for w in [*UNKNOWN_WORDS, "movie"]}
    out = infer_vectors(model, requests)
    table = model.encoder.get_input_embeddings().weight.detach().numpy()
    for word in UNKNOWN_WORDS:  # [UNK] is never a word's own row: the model corrects it
        assert not numpy.allclose(out[word], table[unk], atol=1e-4), word
    numpy.testing.assert_allclose(out["movie"], table[model.tokenizer.convert_tokens_to_ids("movie")], atol=1e-6)


def test_own_row_never_unk(tiny_bert_path):
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS)
    assert model.wordpiece_base([*UNKNOWN_WORDS, "movie", "zyxx"]).own_row == [False, False, False, True, False]


def test_crw_baseline_is_the_models_own_base_for_byte_level_bpe(tiny_roberta_path):
    model = BertramModel.from_encoder(tiny_roberta_path, words=WORDS, mode="add")
    words = ["movie", "acting", "films"]
    table = model.encoder.get_input_embeddings().weight.detach().numpy()
    vectors = wordpiece_mean_vectors(model.tokenizer, model.encoder, words)
    for word in words:  # as inside a sentence: "Ġmovie", not the text-initial "movie"
        ids = model.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        numpy.testing.assert_allclose(vectors[word], table[ids].mean(axis=0), atol=1e-6)
    own_base = model.wordpiece_base(words).mean.numpy()
    numpy.testing.assert_allclose(numpy.stack([vectors[w] for w in words]), own_base, atol=1e-6)


def test_inference_tokenises_each_word_list_once(tiny_bert_path, monkeypatch):
    from spacy_bertram.model import modeling_bertram

    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="add")
    calls = []
    original = modeling_bertram.word_pieces
    def counted(tokenizer, words):
        calls.append(list(words))
        return original(tokenizer, words)

    monkeypatch.setattr(modeling_bertram, "word_pieces", counted)
    infer_vectors(model, {"movies": ["two movies ."], "zyxx": ["a zyxx ."]})
    assert calls == [["movies", "zyxx"]]


def test_roberta_position_offset_is_one_rule(tiny_roberta_path, tiny_bert_path):
    from spacy_bertram.model.encoder import encoder_max_length, load_encoder, position_offset

    roberta, tokenizer = load_encoder(tiny_roberta_path)
    assert position_offset(roberta) == roberta.config.pad_token_id + 1
    assert encoder_max_length(roberta, tokenizer) == min(64, 130 - roberta.config.pad_token_id - 1)
    bert, _ = load_encoder(tiny_bert_path)
    assert position_offset(bert) == 0


def test_form_only_vectors_restore_training_mode_on_error(tiny_bert_path, monkeypatch):
    model = BertramModel.from_encoder(tiny_bert_path, words=WORDS, mode="form")
    model.train()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(model, "form_vectors", broken)
    with pytest.raises(RuntimeError, match="boom"):
        form_only_vectors(model, ["movie"])
    assert model.training and not model.encoder.training


def _imports(path: Path, root: Path) -> set:
    """The spacy_bertram.model modules that `path` imports anywhere (deferred imports too)."""
    package = ".".join(path.relative_to(root.parent).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.update({target, *(f"{target}.{alias.name}" for alias in node.names)})
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_model_package_has_no_import_cycle():
    root = Path(spacy_bertram.__file__).parent
    paths = [p for p in sorted((root / "model").glob("*.py")) if p.name != "__init__.py"]
    names = {p: f"spacy_bertram.model.{p.stem}" for p in paths}
    edges = {names[p]: _imports(p, root) & (set(names.values()) - {names[p]}) for p in paths}

    def reaches(start: str, goal: str, seen: set) -> bool:
        for nxt in edges[start] - seen:
            seen.add(nxt)
            if nxt == goal or reaches(nxt, goal, seen):
                return True
        return False

    assert [m for m in edges if reaches(m, m, set())] == []
