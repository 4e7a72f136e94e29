"""Session fixtures: tiny random encoders built offline (no hub downloads)."""
from pathlib import Path
from typing import List

import pytest

WORDS: List[str] = (
    "the a an and or but of to in on at for with from by as is are was were be been "
    "it this that these those he she they we you i his her their our my your its "
    "not no yes very more most less good bad great movie film story plot actor actors "
    "acting director scene scenes music fun funny boring love loved hate hated like "
    "liked best worst time people man woman world life day night year years new old "
    "big small long short high low first last one two three make made see seen saw "
    "say said go went come came take took know knew think thought look looked want "
    "give gave use used find found tell told ask asked work worked feel felt try "
    "house car dog cat city town river water tree book school word words sentence "
    "red blue green black white happy sad fast slow ."
).split()
SUBWORDS: List[str] = ["ing", "ed", "er", "est", "ly", "s", "tion", "ness", "able", "un"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = list(".,;:!?'\"()-/")


def _wordpiece_vocab() -> List[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = SPECIALS + PUNCT + letters + ["##" + c for c in letters]
    vocab += WORDS + ["##" + s for s in SUBWORDS]
    seen, out = set(), []
    for piece in vocab:
        if piece not in seen:
            seen.add(piece)
            out.append(piece)
    return out


# Words the cased fixture has whole, capitalised only: "paris" is split, "Paris" is not.
CASED_WORDS: List[str] = ["Paris", "London", "The"]


def _save_tiny_bert(path: Path, vocab: List[str], lowercase: bool) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(path / "vocab.txt"), do_lower_case=lowercase, model_max_length=64
    )
    tokenizer.save_pretrained(str(path))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=128,
    )
    BertModel(config).eval().save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT with an uncased WordPiece vocab, saved to disk."""
    return _save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), _wordpiece_vocab(), lowercase=True)


@pytest.fixture(scope="session")
def tiny_cased_bert_path(tmp_path_factory) -> Path:
    """Like `tiny_bert_path` (same width), but cased, with capital letters and `CASED_WORDS`."""
    capitals = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    vocab = _wordpiece_vocab() + capitals + ["##" + c for c in capitals] + CASED_WORDS
    return _save_tiny_bert(tmp_path_factory.mktemp("tiny-cased-bert"), vocab, lowercase=False)


@pytest.fixture(scope="session")
def tiny_roberta_path(tmp_path_factory) -> Path:
    """A 2-layer random RoBERTa with a byte-level BPE trained here on a few sentences."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    path = tmp_path_factory.mktemp("tiny-roberta")
    bpe = ByteLevelBPETokenizer()
    text = [" ".join(WORDS)] * 5 + ["the movie was good and the acting was great ."] * 5
    bpe.train_from_iterator(
        text,
        vocab_size=400,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    bpe.save_model(str(path))
    tokenizer = RobertaTokenizerFast(
        vocab_file=str(path / "vocab.json"),
        merges_file=str(path / "merges.txt"),
        model_max_length=64,
    )
    tokenizer.save_pretrained(str(path))
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=130,
        pad_token_id=tokenizer.pad_token_id,
    )
    RobertaModel(config).eval().save_pretrained(str(path))
    return path
