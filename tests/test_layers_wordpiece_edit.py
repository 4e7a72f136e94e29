"""The pure wordpiece edit on hand-built batches: shared pieces, padding, token types, truncation."""
from typing import List, Optional

import numpy
import pytest
from spacy_transformers.data_classes import WordpieceBatch
from thinc.types import Ragged
from transformers import AutoTokenizer

from spacy_bertram.layers.wordpiece_edit import (
    EditPieces,
    insert_vector_slots,
    truncate_with_slots,
)

PIECES = EditPieces(pad_id=0, pad="[PAD]", slot_id=1, separator_ids=(9,), separator=("/",))
# A byte-level BPE without the "Ġ/" merge cuts " /" in two.
TWO_PIECES = EditPieces(pad_id=0, pad="[PAD]", slot_id=1, separator_ids=(7, 9), separator=("Ġ", "/"))
IDS = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}


def make_batch(rows: List[List[str]], token_types: Optional[List[List[int]]] = None):
    width = max(len(r) for r in rows)
    strings = [r + ["[PAD]"] * (width - len(r)) for r in rows]
    ids = numpy.array([[IDS.setdefault(p, len(IDS) + 10) for p in r] for r in strings])
    types = None
    if token_types is not None:
        types = numpy.array([t + [0] * (width - len(t)) for t in token_types])
    return WordpieceBatch(
        strings=strings,
        input_ids=ids,
        attention_mask=(ids != 0).astype("f"),
        lengths=[len(r) for r in rows],
        token_type_ids=types,
    )


def make_align(per_token: List[List[int]]) -> Ragged:
    data = numpy.array([j for t in per_token for j in t], dtype="i")
    return Ragged(data, numpy.array([len(t) for t in per_token], dtype="i"))


def tokens(align: Ragged) -> List[List[int]]:
    return [align[i].dataXd.ravel().tolist() for i in range(len(align))]


def real(batch: WordpieceBatch) -> List[List[str]]:
    return [row[:n] for row, n in zip(batch.strings, batch.lengths)]


def test_replace_and_slash_in_a_padded_batch():
    # Row 0: [CLS] the zo ##rb movie [SEP]; row 1 (padded): [CLS] fun [SEP].
    batch = make_batch([["[CLS]", "the", "zo", "##rb", "movie", "[SEP]"], ["[CLS]", "fun", "[SEP]"]])
    align = make_align([[1], [2, 3], [4], [7]])  # width 6: row 1 starts at 6
    out, new_align, slots = insert_vector_slots(batch, align, numpy.array([1]), "replace", PIECES)
    assert real(out) == [["[CLS]", "the", "[BERTRAM]", "movie", "[SEP]"], ["[CLS]", "fun", "[SEP]"]]
    assert out.input_ids.shape == (2, 5) and out.input_ids[0, 2] == PIECES.slot_id
    assert out.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert tokens(new_align) == [[1], [2], [3], [6]]
    assert slots.index.tolist() == [2] and slots.vector.tolist() == [0]

    out, new_align, slots = insert_vector_slots(batch, align, numpy.array([1]), "slash", PIECES)
    assert real(out)[0] == ["[CLS]", "the", "zo", "##rb", "/", "[BERTRAM]", "movie", "[SEP]"]
    assert out.strings[1] == ["[CLS]", "fun", "[SEP]"] + ["[PAD]"] * 5
    assert out.lengths == [8, 3]
    assert out.input_ids[0, 4] == PIECES.separator_ids[0]
    assert tokens(new_align) == [[1], [2, 3, 4, 5], [6], [9]]
    assert slots.index.tolist() == [5]


def test_no_rare_tokens_leaves_the_batch_as_it_is():
    batch = make_batch([["[CLS]", "the", "movie", "[SEP]"]])
    align = make_align([[1], [2]])
    out, new_align, slots = insert_vector_slots(batch, align, numpy.array([], "i"), "slash", PIECES)
    assert out.strings == batch.strings and numpy.array_equal(out.input_ids, batch.input_ids)
    assert tokens(new_align) == [[1], [2]] and len(slots) == 0


def test_rare_words_sharing_a_piece_are_left_alone():
    batch = make_batch([["[CLS]", "don", "t", "zo", "##rb", "[SEP]"]])
    align = make_align([[1], [1, 2], [3, 4]])
    out, new_align, slots = insert_vector_slots(batch, align, numpy.array([0, 1, 2]), "replace", PIECES)
    assert real(out) == [["[CLS]", "don", "t", "[BERTRAM]", "[SEP]"]]
    assert tokens(new_align) == [[1], [1, 2], [3]]
    assert slots.vector.tolist() == [2]  # only the third rare token got a slot


def test_piece_shared_with_a_frequent_token_follows_the_slot():
    # "n't" is rare and shares "don" with "do": "do" now aligns to the slot.
    batch = make_batch([["[CLS]", "don", "t", "[SEP]"]])
    align = make_align([[1], [1, 2]])
    out, new_align, _ = insert_vector_slots(batch, align, numpy.array([1]), "replace", PIECES)
    assert real(out) == [["[CLS]", "[BERTRAM]", "[SEP]"]]
    assert tokens(new_align) == [[1], [1]]


def test_slash_copies_the_token_type_of_the_word():
    batch = make_batch(
        [["[CLS]", "a", "[SEP]", "zo", "##rb", "[SEP]"]], token_types=[[0, 0, 0, 1, 1, 1]]
    )
    align = make_align([[1], [3, 4]])
    out, _, _ = insert_vector_slots(batch, align, numpy.array([1]), "slash", PIECES)
    assert out.token_type_ids.tolist() == [[0, 0, 0, 1, 1, 1, 1, 1]]


def test_truncation_drops_slots_past_max_length_with_their_vectors():
    row = ["[CLS]", "a", "zo", "b", "c", "qu", "##x", "[SEP]"]
    batch = make_batch([row])
    align = make_align([[1], [2], [3], [4], [5, 6]])
    out, new_align, slots = insert_vector_slots(batch, align, numpy.array([1, 4]), "slash", PIECES)
    assert real(out) == [["[CLS]", "a", "zo", "/", "[BERTRAM]", "b", "c", "qu", "##x", "/", "[BERTRAM]", "[SEP]"]]
    out, new_align, slots = truncate_with_slots(out, new_align, slots, max_length=10)
    assert out.strings == [["[CLS]", "a", "zo", "/", "[BERTRAM]", "b", "c", "qu", "##x", "/"]]
    assert tokens(new_align) == [[1], [2, 3, 4], [5], [6], [7, 8, 9]]
    assert slots.index.tolist() == [4] and slots.vector.tolist() == [0]


def test_slash_mode_needs_the_slash_piece():
    batch = make_batch([["[CLS]", "zo", "[SEP]"]])
    no_slash = EditPieces(pad_id=0, pad="[PAD]", slot_id=1)
    with pytest.raises(ValueError, match="slash"):
        insert_vector_slots(batch, make_align([[1]]), numpy.array([0]), "slash", no_slash)
    with pytest.raises(ValueError, match="mode"):
        insert_vector_slots(batch, make_align([[1]]), numpy.array([0]), "both", PIECES)


def test_a_separator_of_several_pieces():
    batch = make_batch([["<s>", "the", "zo", "rb", "movie", "</s>"], ["<s>", "fun", "</s>"]], token_types=[[0, 0, 1, 1, 1, 1], [0, 0, 0]])
    align = make_align([[1], [2, 3], [4], [7]])
    out, new_align, slots = insert_vector_slots(batch, align, numpy.array([1]), "slash", TWO_PIECES)
    assert real(out)[0] == ["<s>", "the", "zo", "rb", "Ġ", "/", "[BERTRAM]", "movie", "</s>"]
    assert out.input_ids[0, 4:6].tolist() == [7, 9] and out.input_ids[0, 6] == TWO_PIECES.slot_id
    assert out.attention_mask[0].tolist() == [1] * 9 and out.lengths == [9, 3]
    assert out.token_type_ids[0].tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert tokens(new_align) == [[1], [2, 3, 4, 5, 6], [7], [10]]
    assert slots.index.tolist() == [6] and slots.vector.tolist() == [0]


def test_pieces_from_tokenizers(tiny_bert_path, tiny_roberta_path):
    bert = AutoTokenizer.from_pretrained(str(tiny_bert_path))
    pieces = EditPieces.from_tokenizer(bert, "slash")
    assert pieces.separator == ("/",) and pieces.separator_ids == (bert.convert_tokens_to_ids("/"),)
    assert pieces.slot_id == bert.unk_token_id and pieces.pad_id == bert.pad_token_id
    roberta = AutoTokenizer.from_pretrained(str(tiny_roberta_path))
    assert EditPieces.from_tokenizer(roberta, "replace").separator_ids == ()
    # This tiny byte-level BPE never learnt "Ġ/", so ' /' is two pieces, as in "w / w".
    pieces = EditPieces.from_tokenizer(roberta, "slash")
    assert pieces.separator == ("Ġ", "/")
    assert roberta("a / b", add_special_tokens=False)["input_ids"][1:3] == list(pieces.separator_ids)


def test_a_tokenizer_without_a_separator_is_refused(tmp_path):
    from transformers import BertTokenizerFast

    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n", encoding="utf8")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    assert EditPieces.from_tokenizer(tokenizer, "replace").slot_id == tokenizer.unk_token_id
    with pytest.raises(ValueError, match="no pieces for ' /'.*mode = \"replace\""):
        EditPieces.from_tokenizer(tokenizer, "slash")
