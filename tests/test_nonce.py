"""The nonce test: scores, nonces, contexts used per N, the ridge row, the CLI."""
import json

import numpy
import pytest
from typer.testing import CliRunner

from spacy_bertram.evaluation.nonce import (
    RIDGE,
    NonceResult,
    evaluate_nonce,
    fit_ridge,
    make_nonces,
    nonce_table,
    rank_scores,
    word_rows,
    with_nonce,
)

HELD_OUT = ["movie", "dog", "book"]
TRAINING = ["house", "car", "tree", "river", "city", "water"]
SENTENCES = [
    "the {w} was good .", "i saw the {w} at night .", "a new {w} is big .", "my {w} and your {w} .",
    "they liked the old {w} .", "one {w} , two {w} .",
]


def contexts(word):
    return [s.format(w=word) for s in SENTENCES]


@pytest.fixture(scope="module")
def models(tiny_bert_path):
    from spacy_bertram.model import BertramModel

    words = HELD_OUT + TRAINING
    return [(mode, BertramModel.from_encoder(str(tiny_bert_path), words=words, mode=mode, seed=3))
            for mode in ("add", "context")]


def test_rank_scores_by_hand():
    embeddings = numpy.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    candidates = [0, 1, 2]  # row 3 is not a whole-word row: never ranked
    predicted = numpy.array([[1.0, 0.1], [1.0, 0.1]])
    # word 1 (true row 0): cosines .995 (row 0), .0995, .774 -> rank 1
    # word 2 (true row 1): row 0 and row 2 are closer -> rank 3
    score = rank_scores(predicted, [0, 1], embeddings, candidates)
    assert score.mrr == pytest.approx((1 + 1 / 3) / 2)
    assert score.cosine == pytest.approx((1 / numpy.hypot(1, 0.1) + 0.1 / numpy.hypot(1, 0.1)) / 2)
    with pytest.raises(ValueError, match="not among the candidate rows"):
        rank_scores(predicted, [3, 0], embeddings, candidates)


def test_fit_ridge_recovers_a_linear_map():
    rng = numpy.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    weights, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
    fitted, fitted_bias = fit_ridge(x, x @ weights + bias, 1e-9)
    assert numpy.allclose(fitted, weights) and numpy.allclose(fitted_bias, bias)


def test_nonces_are_split_random_letters_outside_the_vocabulary(models):
    tokenizer = models[0][1].tokenizer
    words = HELD_OUT + TRAINING
    nonces = make_nonces(words, tokenizer, seed=1)
    assert nonces == make_nonces(words, tokenizer, seed=1)
    assert len(set(nonces.values())) == len(words)
    vocab, rows = tokenizer.get_vocab(), word_rows(tokenizer)
    for nonce in nonces.values():
        assert nonce.isalpha() and nonce.islower() and nonce not in vocab and nonce not in rows


def test_with_nonce_replaces_every_occurrence_in_the_first_n_contexts():
    texts = ["no word here .", "the Dog and the dog .", "dogs are not a dog !", "a dog ."]
    assert with_nonce("dog", "qxzv", texts, 2) == ["the qxzv and the qxzv .", "dogs are not a qxzv !"]


def test_whole_word_rows_leave_out_pieces_and_specials(models):
    tokenizer = models[0][1].tokenizer
    rows = word_rows(tokenizer)
    assert rows["movie"] == tokenizer.get_vocab()["movie"]
    assert not any(w.startswith("##") or w.startswith("[") for w in rows)


def test_every_system_reads_the_first_n_contexts_of_the_nonce(models):
    from spacy_bertram.model import infer_vectors

    held_out = {w: contexts(w) for w in HELD_OUT}
    held_out["rare"] = ["only once: rare ."]  # too few contexts (and no row): not scored
    ridge_words = {w: contexts(w) for w in TRAINING + ["movie"]}  # a held-out word never fits the ridge
    result = evaluate_nonce(models, held_out, ridge_words, counts=(4, 1, 2), seed=5, batch_size=4)
    assert result.counts == [1, 2, 4] and result.words == len(HELD_OUT) and result.ridge_words == len(TRAINING)
    assert list(result.scores) == ["mean-of-wordpieces", "form-only", "context-only", "BERTRAM-add", RIDGE]
    assert result.rows == len(word_rows(models[0][1].tokenizer))

    tokenizer = models[0][1].tokenizer
    embeddings = models[0][1].encoder.get_input_embeddings().weight.detach().numpy()
    rows = word_rows(tokenizer)
    nonces = make_nonces(sorted(HELD_OUT), tokenizer, seed=5)
    for label, model in (("BERTRAM-add", models[0][1]), ("context-only", models[1][1])):
        for n in (1, 2, 4):
            request = {nonces[w]: with_nonce(w, nonces[w], held_out[w], n) for w in sorted(HELD_OUT)}
            assert all(len(c) == n for c in request.values())
            vectors = infer_vectors(model, request, max_contexts=None, batch_size=4)
            expected = rank_scores(numpy.stack([vectors[nonces[w]] for w in sorted(HELD_OUT)]),
                                   [rows[w] for w in sorted(HELD_OUT)], embeddings, sorted(rows.values()))
            assert result.scores[label][n].cosine == pytest.approx(expected.cosine, abs=1e-5)
            assert result.scores[label][n].mrr == pytest.approx(expected.mrr, abs=1e-5)
    # the wordpiece mean and the form part read the nonce alone: the same for every N
    for label in ("mean-of-wordpieces", "form-only"):
        assert len({result.scores[label][n] for n in result.counts}) == 1
    assert result.scores["context-only"][1] != result.scores["context-only"][4]
    assert result.scores[RIDGE][1] != result.scores[RIDGE][4]
    assert NonceResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    table = nonce_table(result)
    assert table.splitlines()[0] == "| system | score | N=1 | N=2 | N=4 |"
    assert f"| {RIDGE} | mrr |" in table


def test_no_eligible_word_is_a_clear_error(models):
    with pytest.raises(ValueError, match="No held-out word is a whole-word row with 32 contexts"):
        evaluate_nonce(models, {w: contexts(w) for w in HELD_OUT}, {w: contexts(w) for w in TRAINING})


def test_cli_writes_json_and_plot(tmp_path, models):
    from spacy_bertram.cli import app
    from spacy_bertram.cli import evaluate  # noqa: F401
    from spacy_bertram.contexts.store import ContextStore

    with ContextStore(tmp_path / "store.sqlite") as store:
        store.add_sentences([c for w in HELD_OUT + TRAINING for c in contexts(w)])
    folders = []
    for mode, model in models:
        model.save_pretrained(tmp_path / mode)
        folders += ["-m", str(tmp_path / mode)]
    words = tmp_path / "words.json"
    words.write_text(json.dumps({"train": TRAINING, "validation": [], "held_out": HELD_OUT}))
    args = ["evaluate", "nonce", str(tmp_path / "store.sqlite"), "--words", str(words), *folders,
            "--contexts", "1,2,4", "--max-words", "2", "--ridge-contexts", "4", "-o", str(tmp_path / "nonce.json"),
            "--plot", str(tmp_path / "nonce.png")]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    result = NonceResult.from_dict(json.loads((tmp_path / "nonce.json").read_text()))
    assert result.words == 2 and result.counts == [1, 2, 4]
    assert (tmp_path / "nonce.png").read_bytes()[:4] == b"\x89PNG"

    words.write_text(json.dumps({"held_out": HELD_OUT}))
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 1 and 'no "train" and "held_out" word lists' in out.output
