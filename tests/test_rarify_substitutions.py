"""WordNet reading, inflection, the substitution dictionary and misspelling generators."""
import random

import pytest
import spacy

from spacy_bertram.rarify.inflection import Analysis, analyse, inflect
from spacy_bertram.misspell import (
    KEYBOARD_NEIGHBOURS, drop_char, insert_char, keyboard_swap, misspell, transpose_chars,
)
from spacy_bertram.rarify.real_misspellings import load_real_misspellings, parse_misspellings
from spacy_bertram.rarify.substitutions import MISSPELLING, SYNONYM, SubstitutionDictionary
from spacy_bertram.rarify.wordnet import WordNet, find_wordnet_dir, load_wordnet


class FakeFrequency:
    """Rare = not in the frequent list; counts per word for the JSONL frequency."""

    def __init__(self, frequent, counts=None):
        self.frequent = set(frequent)
        self.counts = counts or {}

    def is_rare(self, word):
        return word.lower() not in self.frequent

    def count(self, word):
        return self.counts.get(word.lower(), 0)


@pytest.fixture(scope="module")
def wordnet():
    return load_wordnet()


def test_missing_wordnet_names_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        WordNet(tmp_path)


def test_first_sense_in_index_order(wordnet):
    # index.noun lists car's synsets by sense frequency; the first is the automobile sense
    assert wordnet.first_sense_synonyms("car", "n") == ["auto", "automobile", "machine", "motorcar"]
    # same word, other part of speech, other synset
    assert wordnet.first_sense_synonyms("buy", "v") == ["purchase"]
    assert wordnet.first_sense_synonyms("run", "n") == ["tally"]
    assert wordnet.lemmas("children", "n") == ["child"]
    assert "go" in wordnet.lemmas("went", "v")
    assert find_wordnet_dir() == wordnet.path


@pytest.mark.parametrize("form,tag,expected", [
    ("cars", None, Analysis("car", "n", "plural")),
    ("children", "NNS", Analysis("child", "n", "plural")),
    ("bought", None, Analysis("buy", "v", "past")),
    ("purchasing", None, Analysis("purchase", "v", "gerund")),
    ("watches", "VBZ", Analysis("watch", "v", "third")),
    ("watches", "VBD", None),      # tag and form disagree
    ("happier", None, None),       # comparatives are not handled
])
def test_analyse(wordnet, form, tag, expected):
    assert analyse(form, wordnet, tag) == expected


@pytest.mark.parametrize("lemma,pos,inflection,expected", [
    ("motorcar", "n", "plural", "motorcars"),
    ("study", "n", "plural", "studies"),
    ("box", "n", "plural", "boxes"),
    ("child", "n", "plural", "children"),
    ("purchase", "v", "past", "purchased"),
    ("purchase", "v", "gerund", "purchasing"),
    ("buy", "v", "past", "bought"),
    ("stop", "v", "past", "stopped"),     # from verb.exc
    ("visit", "v", "past", None),         # visited or visitted: doubling is not guessed
    ("eat", "v", "past", None),           # ate or eaten: ambiguous irregular verb
    ("potato", "n", "plural", "potatoes"),  # from noun.exc
    ("piano", "n", "plural", None),       # -o plural without an exception: not guessed
])
def test_inflect(wordnet, lemma, pos, inflection, expected):
    assert inflect(lemma, Analysis(lemma, pos, inflection), wordnet) == expected


def test_synonyms_same_pos_rare_only_inflected(wordnet):
    freq = FakeFrequency({"auto", "automobile", "machine", "automobiles", "machines", "purchased"})
    subs = SubstitutionDictionary(freq, wordnet, misspelling_share=0.0)
    assert subs.synonyms("car") == ["motorcar"]
    assert subs.synonyms("cars") == ["motorcars"]
    assert subs.synonyms("Cars") == ["Motorcars"]
    assert subs.synonyms("bought") == []  # "purchased" is frequent here
    assert SubstitutionDictionary(FakeFrequency(set()), wordnet, 0.0).synonyms("bought") == ["purchased"]
    # a noun tag picks the noun sense, a verb tag the verb sense
    everything_rare = SubstitutionDictionary(FakeFrequency(set()), wordnet, 0.0)
    assert everything_rare.synonyms("run", "NN") == ["tally"]
    assert "tally" not in everything_rare.synonyms("run", "VB")
    assert everything_rare.synonyms("runs", "NNS") == ["tallies"]
    # multiword lemmas (moving_picture) and hyphenated ones are never offered
    assert all(s.isalpha() for s in everything_rare.synonyms("movie"))
    assert everything_rare.synonyms("the") == [] and everything_rare.synonyms("3.5") == []


def test_substitutes_kinds_share_and_frequency(wordnet):
    freq = FakeFrequency({"auto"}, counts={"motorcar": 7, "cra": 2})
    subs = SubstitutionDictionary(freq, wordnet, misspelling_share=0.0)
    (only,) = subs.substitutes("car")[-1:]
    assert (only.text, only.kind, only.frequency) == ("motorcar", SYNONYM, 7.0)
    real = SubstitutionDictionary(freq, wordnet, misspellings={"car": ("cra", "auto")})
    (typo,) = real.substitutes("Car", misspelled=True)  # "auto" is not rare
    assert (typo.text, typo.kind, typo.frequency) == ("Cra", MISSPELLING, 2.0)


def test_real_misspellings_come_from_codespell():
    parsed = parse_misspellings(["beutiful->beautiful", "abd->and, abd", "teh->the", "x2->2x", "acn->can"])
    assert parsed == {"beautiful": ("beutiful",), "the": ("teh",), "can": ("acn",)}
    real = load_real_misspellings()
    assert len(real) > 10_000 and "beutiful" in real["beautiful"]
    assert all(w.isalpha() and all(t.isalpha() and t != w for t in ts) for w, ts in real.items())


def test_a_tenth_of_each_sentences_words_take_a_misspelling(wordnet):
    nlp = spacy.blank("en")
    subs = SubstitutionDictionary(FakeFrequency(()), wordnet, misspelling_share=0.1, seed=3)
    rng = random.Random(0)
    vocabulary = ["word", "film", "plot", "actor", "scene", "story", "music", "funny", "dull", "long"]
    docs = [nlp(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(5, 30))) + " .") for _ in range(300)]
    shares = [len(subs.misspelled_positions(doc)) / (len(doc) - 1) for doc in docs]
    assert all(abs(share - 0.1) <= 0.5 / (len(doc) - 1) for share, doc in zip(shares, docs))
    assert sum(shares) / len(shares) == pytest.approx(0.1, abs=0.02)
    assert all(doc[i].is_alpha for doc in docs for i in subs.misspelled_positions(doc))
    again = SubstitutionDictionary(FakeFrequency(()), wordnet, misspelling_share=0.1, seed=3)
    assert [again.misspelled_positions(d) for d in docs] == [subs.misspelled_positions(d) for d in docs]
    synonyms_only = SubstitutionDictionary(FakeFrequency(()), wordnet, misspelling_share=0.0)
    assert not any(synonyms_only.misspelled_positions(doc) for doc in docs)


def test_substitution_dictionary_rejects_bad_sources(wordnet):
    with pytest.raises(TypeError, match="is_rare"):
        SubstitutionDictionary(object(), wordnet)
    with pytest.raises(ValueError, match="misspelling_share"):
        SubstitutionDictionary(FakeFrequency(()), wordnet, misspelling_share=1.5)


def test_misspelling_generators():
    rng = random.Random(0)
    for _ in range(200):
        word = "keyboard"
        k = keyboard_swap(word, rng)
        diff = [i for i in range(len(word)) if word[i] != k[i]]
        assert len(k) == len(word) and len(diff) == 1
        assert k[diff[0]] in KEYBOARD_NEIGHBOURS[word[diff[0]]]
        d = drop_char(word, rng)
        assert len(d) == len(word) - 1 and any(word[:i] + word[i + 1:] == d for i in range(len(word)))
        ins = insert_char(word, rng)
        assert len(ins) == len(word) + 1 and any(ins[:i] + ins[i + 1:] == word for i in range(len(ins)))
        t = transpose_chars(word, rng)
        i = next(i for i in range(len(word)) if word[i] != t[i])
        assert t[i] == word[i + 1] and t[i + 1] == word[i] and t[i + 2:] == word[i + 2:]
    assert drop_char("ab", rng) is None and transpose_chars("aa", rng) is None
    assert keyboard_swap("Go", random.Random(1))[0].isupper() or keyboard_swap("Go", random.Random(1))[1] != "o"


def test_misspell_accepts_only_new_rare_forms():
    rng = random.Random(0)
    typo = misspell("movie", rng, accept=lambda w: w.startswith("m"))
    assert typo != "movie" and typo.startswith("m")
    assert misspell("movie", rng, accept=lambda w: False) is None
    assert misspell("movie", random.Random(2), ["drop"]) == misspell("movie", random.Random(2), ["drop"])
    with pytest.raises(ValueError, match="Unknown misspelling kinds"):
        misspell("movie", rng, ["typo"])
