"""N-gram vocabulary: n-grams, min-count filtering, ids, file round trip, bad input."""
import pytest

from spacy_bertram.model import NgramVocab, word_ngrams
from spacy_bertram.model.ngrams import PAD_ID, UNK_ID


def test_word_ngrams_wraps_word_in_boundary_markers():
    grams = word_ngrams("Cat", 3, 5)
    assert grams == ["<ca", "cat", "at>", "<cat", "cat>", "<cat>"]
    assert word_ngrams("Cat", 3, 3, lowercase=False) == ["<Ca", "Cat", "at>"]
    assert word_ngrams("a", 3, 5) == ["<a>"]


def test_min_count_counts_word_types_not_tokens():
    vocab = NgramVocab.build(["walking", "talking", "walking", "walking", "dog"], min_count=2)
    assert "alk" in vocab and "ing>" in vocab and "king>" in vocab
    assert "<wa" not in vocab  # only one word *type* starts with "wa"
    assert "dog" not in vocab
    everything = NgramVocab.build(["walking", "dog"], min_count=1)
    assert "<do" in everything and "<wa" in everything


def test_case_folding_merges_types():
    vocab = NgramVocab.build(["Dog", "dog"], min_count=2)
    assert len(vocab) == 2  # "Dog" and "dog" are one type: nothing reaches 2
    cased = NgramVocab.build(["Dog", "dog"], min_count=2, lowercase=False)
    assert "og>" in cased and "<Do" not in cased


def test_encode_uses_unk_and_reserves_pad():
    vocab = NgramVocab.build(["walking", "talking"], min_count=2)
    ids = vocab.encode("balking")
    assert PAD_ID not in ids
    assert UNK_ID in ids  # "<ba" is unknown
    assert vocab.index["alk"] in ids
    assert min(vocab.index.values()) == 2 and len(vocab) == len(vocab.ngrams) + 2


def test_round_trip(tmp_path):
    vocab = NgramVocab.build(["walking", "talking", "Naïve", "naïvety", "x y"], min_count=1, n_min=2, n_max=4)
    path = vocab.save(tmp_path / "ngrams.txt")
    loaded = NgramVocab.load(path)
    assert loaded == vocab
    assert (loaded.n_min, loaded.n_max, loaded.lowercase) == (2, 4, True)
    assert loaded.encode("naïve") == vocab.encode("naïve")
    assert NgramVocab.load(tmp_path) == vocab  # a folder means its ngrams.txt


@pytest.mark.parametrize("bad, error", [("", ValueError), ("   ", ValueError), (3, TypeError), (None, TypeError)])
def test_bad_words(bad, error):
    with pytest.raises(error, match="word"):
        word_ngrams(bad)
    with pytest.raises(error):
        NgramVocab.build(["fine", bad])


def test_single_string_is_not_a_word_list():
    with pytest.raises(TypeError, match="single string"):
        NgramVocab.build("walking")


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="ngrams.txt"):
        NgramVocab.load(tmp_path / "ngrams.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("just some\nlines\n", encoding="utf8")
    with pytest.raises(ValueError, match="bad.txt"):
        NgramVocab.load(bad)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="binary.txt"):
        NgramVocab.load(binary)
