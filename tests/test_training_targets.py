"""Training words, OTA and target vectors on the tiny encoders."""
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from spacy_bertram.model.encoder import word_pieces
from spacy_bertram.training.ota import OtaConfig, one_token_approximation, ota_objective
from spacy_bertram.training.targets import compute_targets, encoder_fingerprint
from spacy_bertram.training.words import read_training_words, split_held_out



@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine thread sync dominates."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

@pytest.fixture(scope="module")
def bert(tiny_bert_path):
    return AutoTokenizer.from_pretrained(str(tiny_bert_path)), AutoModel.from_pretrained(str(tiny_bert_path))


def test_tsv_reader_merges_filters_and_caps(tmp_path):
    path = tmp_path / "words.tsv"
    path.write_text(
        "Movie\tthe movie was good\ta movie .\n"
        "42\tthe 42 bus\n"
        "film\ta film\n"
        "movie\tanother movie\n"
        "\n",
        encoding="utf8",
    )
    words = read_training_words(path, max_contexts=2)
    assert words == {"film": ["a film"], "movie": ["the movie was good", "a movie ."]}
    assert list(read_training_words(path, min_contexts=2)) == ["movie"]


def test_tsv_reader_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="index"):
        read_training_words(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("\tcontext without word\n", encoding="utf8")
    with pytest.raises(ValueError, match="bad.tsv:1: empty word"):
        read_training_words(bad)
    numbers = tmp_path / "numbers.tsv"
    numbers.write_text("12\tcontext 12\n", encoding="utf8")
    with pytest.raises(ValueError, match="No training words"):
        read_training_words(numbers)


class _FakeStore:
    """The two ContextStore calls the reader uses."""

    def __init__(self, counts, contexts):
        self._counts, self._contexts, self.calls = counts, contexts, []

    def counts(self, min_count=1):
        return iter([(w, c) for w, c in self._counts.items() if c >= min_count])

    def contexts_many(self, words, limit=None):
        self.calls.append((list(words), limit))
        return {w: self._contexts[w][:limit] for w in words if w in self._contexts}


def test_store_reader_uses_counts_and_one_batched_query():
    store = _FakeStore(
        {"movie": 150, "film": 120, "rare": 3, "...": 500, "good": 400},
        {w: [f"{w} context {i}" for i in range(50)] for w in ["movie", "film", "rare", "...", "good"]},
    )
    words = read_training_words(store, min_count=100, max_contexts=4)
    assert list(words) == ["film", "good", "movie"]
    assert all(len(c) == 4 for c in words.values())
    assert store.calls == [(["film", "good", "movie"], 4)]
    sample = read_training_words(store, min_count=100, max_words=2, seed=3)
    assert len(sample) == 2 and sample == read_training_words(store, min_count=100, max_words=2, seed=3)


def test_reader_on_a_real_context_store(tmp_path):
    from spacy_bertram.contexts import ContextStore

    path = tmp_path / "contexts.sqlite"
    with ContextStore(path) as store:
        store.add_sentences(["The movie was good.", "A movie, a film.", "Film at 11.", "The end."])
    words = read_training_words(path, min_count=2, max_contexts=5)
    assert set(words) == {"a", "film", "movie", "the"}
    assert sorted(words["movie"]) == ["A movie, a film.", "The movie was good."]
    with pytest.raises(FileNotFoundError, match="spacy_bertram index"):
        read_training_words(tmp_path / "missing.sqlite")


def test_split_held_out_is_disjoint_and_seeded():
    data = {f"w{i}": ["c"] for i in range(20)}
    train, held = split_held_out(data, 0.25, seed=1)
    assert len(held) == 5 and not set(train) & set(held) and set(train) | set(held) == set(data)
    assert split_held_out(data, 5, seed=1) == (train, held)
    with pytest.raises(ValueError, match="held_out"):
        split_held_out(data, 20)


def test_single_piece_target_is_embedding_row(bert):
    tokenizer, encoder = bert
    targets = compute_targets(encoder, tokenizer, ["movie", "film"], ota=OtaConfig(steps=0))
    row = encoder.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids("movie")]
    assert torch.equal(targets["movie"], row.detach())


def test_ota_lowers_objective_below_mean_of_pieces(bert):
    tokenizer, encoder = bert
    words = ["moviest", "filming", "unhappy", "zqx"]
    assert all(len(ids) > 1 for ids in word_pieces(tokenizer, words))
    config = OtaConfig(steps=60, lr=0.01)
    emb = encoder.get_input_embeddings().weight.detach()
    init = torch.stack([emb[ids].mean(0) for ids in word_pieces(tokenizer, words)])
    learned = one_token_approximation(encoder, tokenizer, words, config)
    before = ota_objective(encoder, tokenizer, words, init, config)
    after = ota_objective(encoder, tokenizer, words, learned, config)
    assert learned.shape == (4, 32)
    assert (after < before).all(), (before, after)  # positions after the word shift: not all of it can go
    assert all(p.requires_grad for p in encoder.parameters())  # restored after freezing


def test_ota_batched_equals_one_word_at_a_time(bert):
    tokenizer, encoder = bert
    words = ["moviest", "unhappy", "catness"]
    batched = one_token_approximation(encoder, tokenizer, words, OtaConfig(steps=10, batch_size=8))
    single = one_token_approximation(encoder, tokenizer, words, OtaConfig(steps=10, batch_size=1))
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)


def test_targets_cache_hit_and_key(bert, tmp_path, monkeypatch):
    tokenizer, encoder = bert
    words = ["movie", "moviest", "[unused]"]
    first = compute_targets(encoder, tokenizer, words, ota=OtaConfig(steps=5), cache_dir=tmp_path)
    assert set(first) == {"movie", "moviest"}  # words with unknown pieces have no target
    assert len(list(tmp_path.glob("targets-*.safetensors"))) == 1
    import spacy_bertram.training.targets as targets_module

    def fail(*args, **kwargs):
        raise AssertionError("OTA ran despite a cached result")

    monkeypatch.setattr(targets_module, "one_token_approximation", fail)
    again = compute_targets(encoder, tokenizer, words, ota=OtaConfig(steps=5), cache_dir=tmp_path)
    assert all(torch.equal(first[w], again[w]) for w in first)
    with pytest.raises(AssertionError, match="OTA ran"):
        compute_targets(encoder, tokenizer, words, ota=OtaConfig(steps=6), cache_dir=tmp_path)
    fingerprint = encoder_fingerprint(encoder)
    with torch.no_grad():
        encoder.encoder.layer[0].output.dense.bias.add_(1.0)
    try:
        assert encoder_fingerprint(encoder) != fingerprint
    finally:
        with torch.no_grad():
            encoder.encoder.layer[0].output.dense.bias.sub_(1.0)


def test_targets_cache_computes_only_new_words(bert, tmp_path, monkeypatch):
    tokenizer, encoder = bert
    import spacy_bertram.training.targets as targets_module

    first = compute_targets(encoder, tokenizer, ["movie", "moviest"], ota=OtaConfig(steps=5), cache_dir=tmp_path)
    asked = []
    real = targets_module.one_token_approximation

    def counting(encoder, tokenizer, words, *args, **kwargs):
        asked.extend(words)
        return real(encoder, tokenizer, words, *args, **kwargs)

    monkeypatch.setattr(targets_module, "one_token_approximation", counting)
    words = ["catness", "moviest", "film"]
    second = compute_targets(encoder, tokenizer, words, ota=OtaConfig(steps=5), cache_dir=tmp_path)
    assert asked == ["catness"] and list(second) == words
    assert torch.equal(second["moviest"], first["moviest"])
    # the file now holds the union, and only one file exists for these settings
    (path,) = tmp_path.glob("targets-*.safetensors")
    assert sorted(targets_module._read_cache(path)) == ["catness", "film", "movie", "moviest"]
    path.write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="Corrupt targets cache.*delete"):
        compute_targets(encoder, tokenizer, words, ota=OtaConfig(steps=5), cache_dir=tmp_path)


def test_roberta_targets_use_in_sentence_pieces(tiny_roberta_path):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_roberta_path))
    encoder = AutoModel.from_pretrained(str(tiny_roberta_path))
    ids = word_pieces(tokenizer, ["movie"])[0]
    assert tokenizer.convert_ids_to_tokens(ids)[0].startswith("Ġ")
    targets = compute_targets(encoder, tokenizer, ["movie", "moviegoers"], ota=OtaConfig(steps=3))
    assert set(targets) == {"movie", "moviegoers"} and targets["moviegoers"].shape == (32,)


def test_stratified_sample_keeps_the_scarce_kind_at_its_share():
    counts = {f"w{i}": 200 for i in range(100)}
    counts.update({f"split{i}": 200 for i in range(10)})
    store = _FakeStore(counts, {w: [f"{w} here"] for w in counts})
    is_split = lambda w: w.startswith("split")  # noqa: E731
    plain = read_training_words(store, min_count=100, max_words=20, seed=0)
    stratified = read_training_words(
        store, min_count=100, max_words=20, seed=0, stratum=is_split, stratum_share=0.5
    )
    assert len(stratified) == 20 and sum(map(is_split, stratified)) == 10  # all ten, fewer than half
    assert sum(map(is_split, plain)) < 10
    quarter = read_training_words(store, min_count=100, max_words=20, seed=0, stratum=is_split, stratum_share=0.25)
    assert sum(map(is_split, quarter)) == 5
    with pytest.raises(ValueError, match="stratum_share"):
        read_training_words(store, min_count=100, max_words=20, stratum=is_split, stratum_share=1.5)


def test_stratified_held_out_takes_each_kind_at_its_share():
    data = {f"w{i:02d}": ["c"] for i in range(90)}
    data.update({f"split{i}": ["c"] for i in range(10)})
    is_split = lambda w: w.startswith("split")  # noqa: E731
    for seed in range(5):
        train, held = split_held_out(data, 0.2, seed=seed, stratum=is_split)
        assert len(held) == 20 and sum(map(is_split, held)) == 2
        assert not set(train) & set(held) and set(train) | set(held) == set(data)
    all_split = {w: c for w, c in data.items() if is_split(w)}
    assert split_held_out(all_split, 3, seed=1, stratum=is_split) == split_held_out(all_split, 3, seed=1)
