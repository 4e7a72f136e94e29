"""Masking, truncation around the mask, and the add-mode prefix, for BERT and RoBERTa."""
import pytest
from transformers import AutoTokenizer

from spacy_bertram.model import ContextTokenizer


@pytest.fixture(scope="module")
def bert_tok(tiny_bert_path):
    return AutoTokenizer.from_pretrained(str(tiny_bert_path))


@pytest.fixture(scope="module")
def roberta_tok(tiny_roberta_path):
    return AutoTokenizer.from_pretrained(str(tiny_roberta_path))


def tokens(tok, encoded):
    return tok.convert_ids_to_tokens(encoded.input_ids)


def test_every_occurrence_masked_read_at_first(bert_tok):
    ct = ContextTokenizer(bert_tok, "context", 64, quote_form=False)
    masked = ct.mask("dog", "The Dog saw a dog and another DOG .")
    assert masked == "The [MASK] saw a [MASK] and another [MASK] ."
    (enc,) = ct.encode([masked])
    toks = tokens(bert_tok, enc)
    assert toks[enc.read_position] == "[MASK]"
    assert toks.index("[MASK]") == enc.read_position == 2
    assert toks.count("[MASK]") == 3 and enc.slot_position == -1


def test_word_boundaries_and_case(bert_tok):
    ct = ContextTokenizer(bert_tok, "context", 64, quote_form=False)
    assert ct.mask("cat", "concatenate the cats") is None  # no whole-word "cat"
    assert ct.mask("cat", "a cat-like CAT.") == "a [MASK]-like [MASK]."
    assert ct.mask("c++", "I like C++ a lot") == "I like [MASK] a lot"  # regex-escaped


def test_word_at_start_and_end(bert_tok):
    ct = ContextTokenizer(bert_tok, "context", 64, quote_form=False)
    start, end = ct.encode([ct.mask("dog", "dog is good"), ct.mask("dog", "a good dog")])
    assert start.read_position == 1 and tokens(bert_tok, start)[1] == "[MASK]"
    assert tokens(bert_tok, end)[end.read_position] == "[MASK]"
    assert end.read_position == len(end.input_ids) - 2  # just before [SEP]


def test_contexts_without_the_word_are_skipped_and_capped(bert_tok):
    ct = ContextTokenizer(bert_tok, "context", 64, quote_form=False)
    contexts = ["no word here", "a dog", "the dog", "dogs only", "one dog more"]
    assert ct.select("dog", contexts, None) == ["a [MASK]", "the [MASK]", "one [MASK] more"]
    assert ct.select("dog", contexts, 2) == ["a [MASK]", "the [MASK]"]
    with pytest.raises(TypeError, match="not one string"):
        ct.select("dog", "a dog", None)
    with pytest.raises(TypeError, match="strings"):
        ct.select("dog", ["a dog", 5], None)


def test_literal_mask_strings_in_context_are_blanked(bert_tok):
    ct = ContextTokenizer(bert_tok, "context", 64, quote_form=False)
    (enc,) = ct.encode([ct.mask("dog", "[MASK] saw the dog")])
    toks = tokens(bert_tok, enc)
    assert toks.count("[MASK]") == 1 and toks[enc.read_position] == "[MASK]"
    assert enc.read_position == 3


@pytest.mark.parametrize("where", [0.1, 0.5, 0.95])
def test_long_context_is_cut_around_the_mask(bert_tok, where):
    max_length = 16
    ct = ContextTokenizer(bert_tok, "context", max_length, quote_form=False)
    filler = ["red", "blue", "green", "black", "white", "house", "car", "tree"] * 8
    words = list(filler)
    at = int(where * len(words))
    words.insert(at, "dog")
    (enc,) = ct.encode([ct.mask("dog", " ".join(words))])
    toks = tokens(bert_tok, enc)
    assert len(enc.input_ids) == max_length
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]"
    assert toks[enc.read_position] == "[MASK]"
    # the kept window is the original neighbourhood of the word
    left = [t for t in toks[1 : enc.read_position]]
    right = [t for t in toks[enc.read_position + 1 : -1]]
    assert left == words[at - len(left) : at]
    assert right == words[at + 1 : at + 1 + len(right)]
    if where == 0.5:
        assert abs(len(left) - len(right)) <= 1  # centred when there is room


def test_very_long_text_is_cut_cheaply_but_keeps_the_first_occurrence(bert_tok):
    ct = ContextTokenizer(bert_tok, "context", 16, quote_form=False)
    text = "red " * 5000 + "dog blue green " + "white dog " * 3000
    masked = ct.mask("dog", text)
    assert len(masked) < len(text) / 10
    (enc,) = ct.encode([masked])
    toks = tokens(bert_tok, enc)
    assert toks[enc.read_position - 1] == "red" and toks[enc.read_position + 1 : enc.read_position + 3] == ["blue", "green"]


def test_bert_add_prefix(bert_tok):
    ct = ContextTokenizer(bert_tok, "add", 64, quote_form=False)
    (enc,) = ct.encode([ct.mask("dog", "the dog ran")])
    toks = tokens(bert_tok, enc)
    assert toks == ["[CLS]", "[MASK]", ":", "the", "[MASK]", "r", "##a", "##n", "[SEP]"]
    assert enc.slot_position == 1 and enc.read_position == 4


def test_replace_slot_is_the_read_position(bert_tok):
    ct = ContextTokenizer(bert_tok, "replace", 64, quote_form=False)
    (enc,) = ct.encode([ct.mask("dog", "the dog ran")])
    assert enc.slot_position == enc.read_position == 2


def test_roberta_byte_level_path(roberta_tok):
    assert roberta_tok.mask_token == "<mask>"
    ct = ContextTokenizer(roberta_tok, "add", 64, quote_form=True)
    masked = ct.mask("movie", "the Movie was good")
    assert masked == "the <mask> was good"
    (enc,) = ct.encode([masked])
    toks = tokens(roberta_tok, enc)
    assert toks[0] == "<s>" and toks[-1] == "</s>"
    # quoted variant: " FORM " : the <mask> was good
    assert toks[1] == '"' and toks[enc.slot_position] == "<mask>" and enc.slot_position == 2
    assert toks[3] == '"'
    assert toks[enc.read_position] == "<mask>" and enc.read_position > enc.slot_position
    text = roberta_tok.decode(enc.input_ids[1:-1])
    assert text == '"<mask>" : the<mask> was good'  # <mask> absorbs its leading space
    assert toks[enc.read_position + 1] == "Ġwas"  # byte-level BPE space marker


def test_roberta_context_mode_truncation(roberta_tok):
    ct = ContextTokenizer(roberta_tok, "context", 12, quote_form=True)
    text = " ".join(["good"] * 30 + ["movie"] + ["bad"] * 30)
    (enc,) = ct.encode([ct.mask("movie", text)])
    toks = tokens(roberta_tok, enc)
    assert len(toks) == 12 and toks[enc.read_position] == "<mask>"
    assert toks[0] == "<s>" and toks[-1] == "</s>"


def test_tokenizer_without_mask_token_is_rejected(bert_tok):
    tok = AutoTokenizer.from_pretrained(bert_tok.name_or_path)
    tok.mask_token = None
    with pytest.raises(ValueError, match="no mask token"):
        ContextTokenizer(tok, "context", 64, quote_form=False)
