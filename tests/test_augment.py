"""The mask/slash augmenter: rates on a large seeded corpus, labels kept, config use."""
import random

import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from spacy_bertram.augment import create_mask_slash_augmenter

MASK = "[MASK]"


def _corpus(nlp, n_docs=2000, n_words=20, seed=1):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(500)]
    examples = []
    for _ in range(n_docs):
        words = [rng.choice(vocab) for _ in range(n_words)] + ["."]
        doc = Doc(nlp.vocab, words=words)
        ref = Doc(nlp.vocab, words=words)
        ref.cats = {"POS": 1.0, "NEG": 0.0}
        examples.append(Example(doc, ref))
    return examples


def _count(original, augmented):
    """Walk an augmented doc against its original: (masked, duplicated, copies, masked copies)."""
    masked = duplicated = copies_masked = 0
    words = [t.text for t in augmented]
    j = 0
    for token in original:
        if j + 2 < len(words) and words[j + 1] == "/" and token.text != "/":
            duplicated += 1
            copies_masked += (words[j] == MASK) + (words[j + 2] == MASK)
            assert {words[j], words[j + 2]} <= {token.text, MASK}
            j += 3
        else:
            masked += words[j] == MASK
            assert words[j] in (token.text, MASK)
            j += 1
    assert j == len(words)
    return masked, duplicated, copies_masked


def test_rates_on_large_corpus():
    nlp = spacy.blank("en")
    augment = create_mask_slash_augmenter(seed=0)
    masked = duplicated = copies_masked = eligible = 0
    for example in _corpus(nlp):
        (out,) = list(augment(nlp, example))
        assert out.reference.cats == {"POS": 1.0, "NEG": 0.0}
        assert [t.text for t in out.predicted] == [t.text for t in out.reference]
        assert out.reference[-1].text == "."  # punctuation untouched
        m, d, c = _count(example.reference, out.reference)
        masked, duplicated, copies_masked = masked + m, duplicated + d, copies_masked + c
        eligible += len(example.reference) - 1
    assert eligible == 40000
    assert masked / eligible == pytest.approx(0.05, abs=0.005)
    assert duplicated / eligible == pytest.approx(0.10, abs=0.006)
    assert copies_masked / (2 * duplicated) == pytest.approx(0.25, abs=0.025)


def test_seed_reproducible_and_slash_text():
    nlp = spacy.blank("en")
    ex = _corpus(nlp, n_docs=50)
    first = [o.reference.text for e in ex for o in create_mask_slash_augmenter(seed=3)(nlp, e)]
    again = [o.reference.text for e in ex for o in create_mask_slash_augmenter(seed=3)(nlp, e)]
    other = [o.reference.text for e in ex for o in create_mask_slash_augmenter(seed=4)(nlp, e)]
    assert first == again and first != other
    always = create_mask_slash_augmenter(mask_level=0.0, slash_level=1.0, slash_mask_level=0.0)
    doc = nlp("good film.")
    ref = nlp("good film.")
    (out,) = list(always(nlp, Example(doc, ref)))
    assert out.reference.text == "good / good film / film."


def test_registered_and_usable_from_config():
    nlp = spacy.blank("en")
    augment = registry.resolve(
        {"a": {"@augmenters": "bertram.mask_slash_augmenter.v1", "mask_string": "<mask>", "mask_level": 1.0, "slash_level": 0.0}}
    )["a"]
    ref = nlp("a fine day")
    (out,) = list(augment(nlp, Example(nlp.make_doc("a fine day"), ref)))
    assert out.reference.text == "<mask> <mask> <mask>"


def test_bad_settings_and_token_annotations():
    with pytest.raises(ValueError, match="at most 1"):
        create_mask_slash_augmenter(mask_level=0.6, slash_level=0.6)
    with pytest.raises(ValueError, match="without spaces"):
        create_mask_slash_augmenter(mask_string="[ MASK ]")
    nlp = spacy.blank("en")
    ref = Doc(nlp.vocab, words=["a", "dog"], tags=["DT", "NN"])
    with pytest.raises(ValueError, match="token annotations"):
        list(create_mask_slash_augmenter()(nlp, Example(Doc(nlp.vocab, words=["a", "dog"]), ref)))


def test_mask_text_becomes_mask_id_in_fast_tokenizer(tiny_bert_path):
    """spacy-transformers tokenizes doc text: the "[MASK]" text must map to the mask id."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_path))
    nlp = spacy.blank("en")
    augment = create_mask_slash_augmenter(mask_level=1.0, slash_level=0.0)
    ref = nlp("The movie")
    (out,) = list(augment(nlp, Example(nlp.make_doc("The movie"), ref)))
    ids = tokenizer(out.predicted.text)["input_ids"]
    assert ids.count(tokenizer.mask_token_id) == 2
    assert tokenizer.unk_token_id not in ids


def test_trains_from_a_config_with_the_augmenter(tmp_path):
    """`spacy train` with the augmenter in [corpora.train]: it runs and sees masked text."""
    from spacy.cli.init_config import init_config
    from spacy.cli.train import train
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = []
    for i in range(40):
        doc = nlp.make_doc("a fine good film" if i % 2 else "a dull bad film")
        doc.cats = {"POS": float(i % 2), "NEG": float(1 - i % 2)}
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    config = init_config(lang="en", pipeline=["textcat"], optimize="efficiency")
    config["corpora"]["train"]["augmenter"] = {
        "@augmenters": "bertram.mask_slash_augmenter.v1", "mask_level": 0.5, "slash_level": 0.5,
    }
    config.to_disk(tmp_path / "config.cfg")
    overrides = {"paths.train": str(tmp_path / "train.spacy"), "paths.dev": str(tmp_path / "train.spacy")}
    train(tmp_path / "config.cfg", tmp_path / "out",
          overrides={**overrides, "training.max_steps": 4, "training.eval_frequency": 2})
    assert (tmp_path / "out" / "model-last" / "config.cfg").is_file()
    loaded = spacy.util.load_config(tmp_path / "config.cfg", overrides=overrides, interpolate=True)
    corpus = registry.resolve(loaded["corpora"])["train"]
    seen = [eg.reference.text for eg in corpus(nlp)]
    assert len(seen) == 40
    assert any(MASK in text for text in seen) and any(" / " in text for text in seen)


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether b is a keyboard slip, drop, insertion or transposition of a."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    return len(long) == len(short) + 1 and any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def test_misspell_level_writes_that_share_of_words_misspelled():
    nlp = spacy.blank("en")
    rng = random.Random(2)
    words = ["movie", "great", "acting", "boring", "plot", "scenes", "wonderful", "it"]
    augment = create_mask_slash_augmenter(mask_level=0.0, slash_level=0.0, misspell_level=0.2, seed=5)
    changed = eligible = 0
    for _ in range(1000):
        text = [rng.choice(words) for _ in range(10)] + ["!"]
        ref = Doc(nlp.vocab, words=text)
        ref.cats = {"POS": 1.0}
        (out,) = list(augment(nlp, Example(Doc(nlp.vocab, words=text), ref)))
        assert out.reference.cats == {"POS": 1.0}
        new = [t.text for t in out.reference]
        assert len(new) == len(text) and new[-1] == "!"
        for before, after in zip(text, new):
            if before in ("it", "!"):
                assert after == before  # too short to misspell, or punctuation
                continue
            eligible += 1
            if after != before:
                changed += 1
                assert _one_edit_apart(before, after), (before, after)
    assert changed / eligible == pytest.approx(0.2, abs=0.015)


def test_misspell_level_is_checked_with_the_others():
    with pytest.raises(ValueError, match="misspell_level must lie"):
        create_mask_slash_augmenter(misspell_level=1.5)
    with pytest.raises(ValueError, match="at most 1"):
        create_mask_slash_augmenter(mask_level=0.5, slash_level=0.3, misspell_level=0.3)
    nlp = spacy.blank("en")
    ex = _corpus(nlp, n_docs=20)
    plain = [o.reference.text for e in ex for o in create_mask_slash_augmenter(seed=3)(nlp, e)]
    zero = [o.reference.text for e in ex for o in create_mask_slash_augmenter(seed=3, misspell_level=0.0)(nlp, e)]
    assert plain == zero  # the paper's recipe is unchanged by default
