import pickle

import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import registry

from spacy_bertram.contexts import ContextStore
from spacy_bertram.frequency import (
    CorpusFrequency,
    RareWordFilter,
    WordfreqFrequency,
    encoder_special_tokens,
)


def test_wordfreq_default_threshold_on_known_words():
    source = WordfreqFrequency()
    assert source.zipf_threshold == pytest.approx(2.0)
    for word in ("the", "movie", "house", "serendipity", "quixotic"):
        assert not source.is_rare(word), word
    for word in ("kumquat", "perspicacious", "obsequiousness", "xqzvbtplk"):
        assert source.is_rare(word), word
    assert source.frequency("xqzvbtplk") == 0.0
    assert source.frequency("the") > source.frequency("movie") > source.frequency("kumquat") > 0


def test_wordfreq_thresholds_as_count_and_zipf_agree():
    by_count = WordfreqFrequency(count_threshold=1, per_words=1_000_000)
    by_zipf = WordfreqFrequency(zipf_threshold=3.0)
    assert by_count.max_frequency == pytest.approx(by_zipf.max_frequency)
    # jocular: ~0.16 per million words, movie: ~145 per million.
    assert by_count.is_rare("jocular") and by_zipf.is_rare("jocular")
    assert not by_count.is_rare("movie")
    assert not WordfreqFrequency().is_rare("jocular")
    assert WordfreqFrequency(zipf_threshold=6.0).is_rare("movie")


def test_wordfreq_other_language_and_bad_settings():
    german = WordfreqFrequency(lang="de")
    assert not german.is_rare("und")
    with pytest.raises(ValueError, match="no 'best' word list for language 'xx'"):
        WordfreqFrequency(lang="xx")
    with pytest.raises(ValueError, match="not both"):
        WordfreqFrequency(zipf_threshold=2, count_threshold=10)
    with pytest.raises(ValueError, match="per_words"):
        WordfreqFrequency(count_threshold=1, per_words=0)


def _corpus_store(path):
    store = ContextStore(path)
    store.add_sentences(["the common word is here ."] * 100 + ["the rarish word is here ."] * 99)
    return store


def test_corpus_frequency_uses_paper_threshold(tmp_path):
    _corpus_store(tmp_path / "s.db").close()
    source = CorpusFrequency(tmp_path / "s.db")
    assert source.count("common") == 100 and not source.is_rare("common")
    assert source.count("Rarish") == 99 and source.is_rare("rarish")
    assert source.is_rare("unseen") and source.count("unseen") == 0
    assert source.frequency("common") == pytest.approx(100 / (199 * 6))
    assert CorpusFrequency(tmp_path / "s.db", min_count=50).is_rare("rarish") is False
    clone = pickle.loads(pickle.dumps(source))
    assert clone.count("common") == 100
    with pytest.raises(ValueError, match="min_count"):
        CorpusFrequency(tmp_path / "s.db", min_count=0)
    with pytest.raises(FileNotFoundError, match="spacy_bertram index"):
        CorpusFrequency(tmp_path / "missing.db")


def test_factories_resolve_from_config(tmp_path):
    _corpus_store(tmp_path / "s.db").close()
    config = {
        "wf": {"@misc": "bertram.WordfreqFrequency.v1", "lang": "en", "zipf_threshold": 3.0},
        "corpus": {"@misc": "bertram.CorpusFrequency.v1", "store_path": str(tmp_path / "s.db"), "min_count": 100},
        "filter": {"@misc": "bertram.RareWordFilter.v2", "alpha_only": False},
    }
    resolved = registry.resolve(config)
    assert isinstance(resolved["wf"], WordfreqFrequency) and resolved["wf"].is_rare("jocular")
    assert isinstance(resolved["corpus"], CorpusFrequency) and resolved["corpus"].is_rare("rarish")
    assert isinstance(resolved["filter"], RareWordFilter) and resolved["filter"]("covid-19")
    assert pickle.loads(pickle.dumps(resolved["wf"])).is_rare("jocular")


def test_filter_on_strings():
    candidate = RareWordFilter(special_tokens=["[MASK]", "madeupword"])
    for text in ("kumquat", "Über", "the"):
        assert candidate(text), text
    never = ["", " ", "\n", ".", "--", "?!", "42", "3.14", "1,000", "http://example.com/a",
             "www.example.org", "someone@example.com", "[MASK]", "madeupword", "covid-19", "o'clock"]
    for text in never:
        assert not candidate(text), text
    loose = RareWordFilter(alpha_only=False)
    assert loose("covid-19") and loose("o'clock")
    assert not loose("42") and not loose("a@b.co") and not loose("...")
    with pytest.raises(TypeError, match="Token or a string"):
        candidate(42)


def test_filter_on_tokens_matches_strings():
    nlp = spacy.blank("en")
    words = "Visit https://spacy.io or mail me@example.com about 42 kumquats , [MASK] ok ?".split()
    doc = Doc(nlp.vocab, words=words)
    candidate = RareWordFilter(special_tokens=["[MASK]"])
    assert [t.text for t in doc if candidate(t)] == ["Visit", "or", "mail", "about", "kumquats", "ok"]
    assert [candidate(t) for t in doc] == [candidate(t.text) for t in doc]


def test_filter_follows_encoder_specials(tiny_bert_path, tiny_roberta_path):
    assert {"[CLS]", "[SEP]", "[MASK]"} <= set(encoder_special_tokens(tiny_bert_path))
    bert = RareWordFilter.from_encoder(tiny_bert_path)
    assert bert("Kumquat") and not bert("[CLS]")
    roberta = RareWordFilter.from_encoder(tiny_roberta_path)
    assert "<mask>" in roberta.special_tokens
    from_config = registry.resolve(
        {"f": {"@misc": "bertram.RareWordFilter.v2", "encoder": str(tiny_bert_path), "special_tokens": ["zz"]}}
    )["f"]
    assert "[MASK]" in from_config.special_tokens and not from_config("zz")
    with pytest.raises(FileNotFoundError, match="local Hugging Face"):
        encoder_special_tokens("/no/such/encoder")
    with pytest.raises(Exception, match="lowercase"):  # v2 has no lowercase, which never did anything
        registry.resolve({"f": {"@misc": "bertram.RareWordFilter.v2", "lowercase": True}})
