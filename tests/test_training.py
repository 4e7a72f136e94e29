"""BERTRAM training on the tiny encoder: stages, cache, resume, determinism, CLI."""
import dataclasses
import json
import random

import pytest
import torch
from safetensors.torch import load_file

from spacy_bertram.model import BertramModel, NgramVocab, infer_vectors, load_tokenizer
from spacy_bertram.model.configuration_bertram import BertramArchitecture
from spacy_bertram.training import OtaConfig, StageConfig, TrainingConfig, train_bertram
from spacy_bertram.training import stages as stages_module
from spacy_bertram.training.stages import encode_context_cache, train_end_to_end, train_on_cache
from spacy_bertram.training.targets import compute_targets
from spacy_bertram.training.trainer import select_training_words

FILLER = "the a and of to in it he she they good bad big small old new red blue".split()
# Words the tiny tokenizer splits (with keep_whole_words only these train BERTRAM)
# and words it keeps whole.
SPLIT_WORDS = (
    "movies films stories plots musicals houses cars dogs cats cities towns rivers trees "
    "books schools happily sadly faster slower moviest filming unhappy"
).split()
WHOLE_WORDS = "movie film story house car dog happy sad".split()
TARGET_WORDS = SPLIT_WORDS + WHOLE_WORDS


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine thread sync dominates."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_corpus(n_contexts: int = 8, seed: int = 0):
    """Each word keeps company with its own few filler words, so contexts say who it is."""
    rng = random.Random(seed)
    corpus = {}
    for word in TARGET_WORDS:
        company = rng.sample(FILLER, 4)
        corpus[word] = [
            " ".join(rng.sample(company, 2) + [word] + rng.sample(company, 2)) + " ."
            for _ in range(n_contexts)
        ]
    return corpus


def corpus_tsv(folder):
    """The synthetic corpus as a `word<TAB>context...` file in `folder`."""
    tsv = folder / "words.tsv"
    tsv.write_text("".join(f"{w}\t" + "\t".join(c) + "\n" for w, c in synthetic_corpus().items()), encoding="utf8")
    return tsv


def train_app():
    """An app with the `train` command (a sub-command, as in the package's CLI)."""
    import typer

    from spacy_bertram.cli.train import train_command

    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_command)
    return app


MODEL_SETTINGS = {f.name for f in dataclasses.fields(BertramArchitecture)}


def small_config(**overrides) -> TrainingConfig:
    """A quick run; overrides of the model's architecture settings go to `model`."""
    model = {k: overrides.pop(k) for k in list(overrides) if k in MODEL_SETTINGS}
    settings = dict(
        model=dataclasses.replace(TrainingConfig().model, ngram_min_count=1, max_seq_length=32, **model),
        held_out=3,
        max_contexts=8,
        min_contexts_per_step=2,
        context=StageConfig(epochs=4, lr=1e-2, batch_size=8),
        form=StageConfig(epochs=4, lr=1e-2, batch_size=8),
        combined=StageConfig(epochs=4, lr=1e-2, batch_size=8),
        ota=OtaConfig(steps=5),
    )
    settings.update(overrides)
    return TrainingConfig(**settings)


def read_log(folder):
    return [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]


def epoch_losses(log, stage):
    return [r["loss"] for r in log if r.get("stage") == stage and r.get("epoch", 0) >= 1]


@pytest.fixture(scope="module")
def targets_cache(tmp_path_factory):
    """One targets cache for all runs on the same words: OTA runs once."""
    return tmp_path_factory.mktemp("targets")


@pytest.fixture(scope="module")
def trained(tiny_bert_path, tmp_path_factory, targets_cache):
    folder = tmp_path_factory.mktemp("run") / "model"
    train_bertram(tiny_bert_path, synthetic_corpus(), folder, small_config(), cache_dir=targets_cache, show_progress=False)
    return folder


def test_every_stage_lowers_its_loss_and_logs_held_out_cosine(trained):
    log = read_log(trained)
    for stage in ("context", "form", "combined"):
        losses = epoch_losses(log, stage)
        assert len(losses) == 4 and losses[-1] < losses[0], (stage, losses)
    summaries = {r["stage"]: r for r in log if "held_out_cosine" in r}
    assert set(summaries) == {"context", "form", "combined"}
    assert all(-1.0 <= s["held_out_cosine"] <= 1.0 and s["held_out_words"] == 3 for s in summaries.values())


def test_output_folder_is_a_loadable_add_model(trained):
    model = BertramModel.from_pretrained(trained)
    assert model.config.mode == "add"
    vectors = infer_vectors(model, {"movie": ["the movie was good ."]})
    assert vectors["movie"].shape == (32,)
    for stage in ("stage1-context", "stage2-form", "stage3-add"):
        assert (trained / stage / "stage.json").is_file()


def test_add_stage_keeps_the_form_part_frozen(trained):
    form = load_file(str(trained / "stage2-form" / "model.safetensors"))
    final = load_file(str(trained / "model.safetensors"))
    context = load_file(str(trained / "stage1-context" / "model.safetensors"))
    assert torch.equal(final["form.embedding.weight"], form["form.embedding.weight"])
    assert set(final) == set(context) | {"form.embedding.weight"}


def test_training_words_are_the_words_the_tokenizer_splits(tiny_bert_path):
    """With the residual, a whole word's base is its own row (its target): it never trains."""
    tokenizer = load_tokenizer(tiny_bert_path)
    residual = small_config()
    train, validation, held = select_training_words(synthetic_corpus(), residual, tokenizer)
    assert set(train) | set(validation) | set(held) == set(SPLIT_WORDS)
    assert len(held) == 3 and len(validation) == round(0.1 * (len(SPLIT_WORDS) - 3))
    assert not (set(train) & set(validation)) and not (set(train) & set(held))
    not_kept = select_training_words(synthetic_corpus(), small_config(keep_whole_words=False), tokenizer)
    assert set().union(*not_kept) == set(SPLIT_WORDS)
    everything = select_training_words(synthetic_corpus(), small_config(wordpiece_residual=False), tokenizer)
    assert set().union(*everything) == set(TARGET_WORDS)
    with pytest.raises(ValueError, match="split by the encoder's tokenizer"):
        select_training_words({w: ["a ."] for w in WHOLE_WORDS}, residual, tokenizer)


def test_held_out_and_validation_words_take_split_words_at_their_share(tiny_bert_path):
    """Without the residual, whole words train too; split words, the kind the model
    serves, are held out and validated on at their share, whatever the seed."""
    tokenizer = load_tokenizer(tiny_bert_path)
    for seed in range(5):
        config = small_config(wordpiece_residual=False, held_out=10, validation=10, seed=seed)
        train, validation, held = select_training_words(synthetic_corpus(), config, tokenizer)
        assert sum(w in SPLIT_WORDS for w in held) == round(10 * len(SPLIT_WORDS) / len(TARGET_WORDS))
        assert sum(w in SPLIT_WORDS for w in validation) == round(10 * (len(SPLIT_WORDS) - 7) / 20)


def test_each_stage_ends_on_its_best_validation_epoch(trained, tiny_bert_path, targets_cache):
    log = read_log(trained)
    from spacy_bertram.training.trainer import _StageRunner

    from spacy_bertram.training.misspellings import whole_vocabulary_words

    train, validation, held = select_training_words(synthetic_corpus(), small_config(), load_tokenizer(tiny_bert_path))
    for stage, folder in (("context", "stage1-context"), ("form", "stage2-form"), ("combined", "stage3-add")):
        scores = {r["epoch"]: r["validation_cosine"] for r in log if r.get("stage") == stage and "epoch" in r}
        assert sorted(scores) == [0, 1, 2, 3, 4], (stage, scores)
        best = max(scores, key=lambda e: (scores[e], -e))
        summary = next(r for r in log if r.get("stage") == stage and "held_out_cosine" in r)
        assert summary["best_epoch"] == best and summary["validation_words"] == len(validation)
        model = BertramModel.from_pretrained(trained / folder)
        everything = compute_targets(model.encoder, model.tokenizer, TARGET_WORDS, ota=small_config().ota, cache_dir=targets_cache)
        targets = {w: everything[w] for w in validation}
        if stage == "form":  # validated on the validation words and their misspellings
            known = sorted({*train, *(w for w in whole_vocabulary_words(model.tokenizer) if w not in validation and w not in held)})
            everything = compute_targets(model.encoder, model.tokenizer, sorted({*everything, *known}), ota=small_config().ota, cache_dir=targets_cache)
            runner = _StageRunner(model, train, validation, everything, small_config(), None, False, known)
            typos = runner.validation_typos
            assert set(typos.values()) <= set(known) and not set(typos) & set(runner.typos)
            logged = next(r for r in log if "misspelled_validation_words" in r)
            assert typos and logged["misspelled_validation_words"] == len(typos)
            typo_targets = {t: everything[w] for t, w in typos.items()}
            kept = stages_module.form_cosine(model, sorted(validation) + sorted(typos), {**targets, **typo_targets})
        else:
            cache = encode_context_cache(model, validation, max_contexts=8)
            kept = stages_module.cache_cosine(model, cache, targets)
        assert kept == pytest.approx(scores[best], abs=1e-6), (stage, scores)


def test_output_map_warm_start_takes_the_ridge_best_for_validation_words(tiny_bert_path, trained):
    from spacy_bertram.training.trainer import RIDGE_FACTORS, _StageRunner

    model, corpus, targets = _context_model(tiny_bert_path, wordpiece_residual=True)
    words = sorted(w for w in corpus if w in SPLIT_WORDS)
    train = {w: corpus[w] for w in words[:-5]}
    validation = encode_context_cache(model, {w: corpus[w] for w in words[-5:]}, max_contexts=8)
    cache = encode_context_cache(model, train, max_contexts=8)
    runner = _StageRunner(model, train, {}, targets, small_config(output_init_ridge=2.0), None, False)
    scores = {}
    for factor in RIDGE_FACTORS:
        stages_module.fit_output_map(model, cache, targets, 2.0 * factor)
        scores[2.0 * factor] = stages_module.cache_cosine(model, validation, targets)
    chosen = runner._fit_output_map(model, cache, validation, trained_map=False)
    assert chosen == max(scores, key=scores.get)
    assert stages_module.cache_cosine(model, validation, targets) == pytest.approx(max(scores.values()))
    assert runner._fit_output_map(model, cache, None, trained_map=False) == 2.0  # no validation words: as configured
    logged = [r["output_ridge"] for r in read_log(trained) if "output_ridge" in r]
    assert len(logged) == 2 and logged[0] / 30.0 in RIDGE_FACTORS  # stage 3 may keep stage 1's map (None)
    assert logged[1] is None or logged[1] / 30.0 in RIDGE_FACTORS


def test_epochs_that_score_worse_are_undone():
    weight = torch.nn.Parameter(torch.zeros(3))
    target = torch.ones(3)
    config = StageConfig(epochs=4, lr=0.1, batch_size=1)
    scores = []

    def away(rows):  # every step moves the weight away from the target
        return -((weight - target) ** 2).sum()

    def validate():
        scores.append(-float(((weight.detach() - target) ** 2).sum()))
        return scores[-1]

    stages_module._run_epochs(2, away, [weight], config, seed=0, desc="t", log_epoch=None, show_progress=False, validate=validate)
    assert len(scores) == 5 and scores[-1] < scores[0]
    assert torch.equal(weight.detach(), torch.zeros(3))  # back at epoch 0
    toward = lambda rows: ((weight - target) ** 2).sum()  # noqa: E731
    scores.clear()
    stages_module._run_epochs(2, toward, [weight], config, seed=0, desc="t", log_epoch=None, show_progress=False, validate=validate)
    assert scores[-1] == max(scores) and -float(((weight.detach() - target) ** 2).sum()) == scores[-1]


def test_resumed_run_ends_with_the_same_weights(trained, tiny_bert_path, tmp_path, monkeypatch, targets_cache):
    folder = tmp_path / "resumed"
    real = stages_module.train_on_cache

    def interrupted(*args, desc, **kwargs):
        if desc == "combined":
            raise KeyboardInterrupt
        return real(*args, desc=desc, **kwargs)

    monkeypatch.setattr("spacy_bertram.training.trainer.train_on_cache", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_bertram(tiny_bert_path, synthetic_corpus(), folder, small_config(), cache_dir=targets_cache, show_progress=False)
    assert (folder / "stage2-form" / "stage.json").is_file()
    assert not (folder / "stage3-add").exists()
    monkeypatch.setattr("spacy_bertram.training.trainer.train_on_cache", real)
    train_bertram(tiny_bert_path, synthetic_corpus(), folder, small_config(), cache_dir=targets_cache, show_progress=False)
    log = read_log(folder)
    assert len(epoch_losses(log, "context")) == 4  # stage 1 was not trained again
    expected = load_file(str(trained / "model.safetensors"))
    resumed = load_file(str(folder / "model.safetensors"))
    assert expected.keys() == resumed.keys()
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)


def test_seed_decides_the_weights(trained, tiny_bert_path, tmp_path, targets_cache):
    def run(name, seed):
        config = small_config(mode="form", seed=seed)
        train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / name, config, cache_dir=targets_cache, show_progress=False)
        return load_file(str(tmp_path / name / "model.safetensors"))["form.embedding.weight"]

    first, again, other = run("a", 0), run("b", 0), run("c", 1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # the form stage draws from its own seed stream, whichever stages run before it
    add_run = load_file(str(trained / "stage2-form" / "model.safetensors"))["form.embedding.weight"]
    assert torch.equal(first, add_run)


def test_rerun_with_other_settings_is_refused(trained, tiny_bert_path):
    with pytest.raises(ValueError, match="other settings.*seed"):
        train_bertram(tiny_bert_path, synthetic_corpus(), trained, small_config(seed=5), show_progress=False)
    with pytest.raises(ValueError, match=r"other settings.*'model\.mode'"):
        train_bertram(tiny_bert_path, synthetic_corpus(), trained, small_config(mode="replace"), show_progress=False)


def _context_model(tiny_bert_path, mode="context", **overrides):
    corpus = synthetic_corpus()
    vocab = NgramVocab.build(corpus, min_count=1)
    model = BertramModel.from_encoder(tiny_bert_path, ngram_vocab=vocab, mode=mode, max_seq_length=32, **overrides)
    targets = compute_targets(model.encoder, model.tokenizer, list(corpus), ota=OtaConfig(steps=2))
    return model, corpus, targets


def test_stage1_cache_means_no_encoder_calls_after_it(tiny_bert_path):
    model, corpus, targets = _context_model(tiny_bert_path)
    calls = []
    model.encoder.register_forward_hook(lambda module, *args: calls.append(module.training))
    cache = encode_context_cache(model, corpus, max_contexts=8, batch_size=16)
    assert len(calls) == -(-cache.vectors.shape[0] // 16) and cache.vectors.shape[0] == 8 * len(corpus)
    config = StageConfig(epochs=3, lr=1e-2, batch_size=8)
    losses = train_on_cache(model, cache, targets, config, ["mimicking", "output"], sample_range=(2, 8), seed=0, desc="context")
    assert len(calls) == -(-cache.vectors.shape[0] // 16)  # epochs 1..3 ran on the cache alone
    assert losses[-1] < losses[0]
    uncached = train_end_to_end(model, corpus, targets, StageConfig(2, 1e-2, 8), ["mimicking", "output"], sample_range=(2, 8), seed=0)
    assert len(calls) > -(-cache.vectors.shape[0] // 16) + 2  # without the cache: every step
    assert uncached[-1] < uncached[0]
    assert not any(calls)  # the frozen encoder ran in eval mode (dropout off) every time


def test_cached_training_matches_the_model_forward(tiny_bert_path):
    """The cache holds exactly what the model's own forward computes."""
    model, corpus, _ = _context_model(tiny_bert_path, mode="add")
    cache = encode_context_cache(model, corpus, max_contexts=8)
    word = cache.words[1]
    start, count = cache.starts[1], cache.counts[1]
    mask = torch.ones((1, count), dtype=torch.bool)
    from_cache = model.combine(cache.form[1:2], model.mimic(cache.vectors[start : start + count][None], mask, model.wordpiece_base([word])), mask.any(1))
    with torch.no_grad():
        direct = model(model.collate([(word, corpus[word])], max_contexts=8))
    torch.testing.assert_close(from_cache.detach(), direct, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", ["shallow", "replace"])
def test_combined_stage_trains_other_modes(tiny_bert_path, tmp_path, mode, targets_cache):
    config = small_config(mode=mode, context=StageConfig(1, 1e-2, 8), form=StageConfig(1, 1e-2, 8), combined=StageConfig(4, 1e-3, 8))
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / mode, config, cache_dir=targets_cache, show_progress=False)
    losses = epoch_losses(read_log(folder), "combined")
    assert losses[-1] < losses[0], losses
    assert BertramModel.from_pretrained(folder).config.mode == mode


def test_cli_trains_from_a_tsv_file(tiny_bert_path, tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "cli-model"
    args = [
        "train", str(corpus_tsv(tmp_path)), "--encoder", str(tiny_bert_path), "--output", str(out), "--mode", "form",
        "--min-count", "1", "--held-out", "3", "--form-epochs", "2", "--ota-steps", "2", "--no-progress",
    ]
    result = CliRunner().invoke(train_app(), args)
    assert result.exit_code == 0, result.output
    assert BertramModel.from_pretrained(out).config.mode == "form"
    assert len(epoch_losses(read_log(out), "form")) == 2
    # the same folder with other settings: refused, or with --restart trained anew
    again = [*args[:-1], "--form-epochs", "1", "--no-progress"]
    refused = CliRunner().invoke(train_app(), again)
    assert refused.exit_code != 0 and "--restart" in str(refused.exception)
    restarted = CliRunner().invoke(train_app(), [*again, "--restart"])
    assert restarted.exit_code == 0, restarted.output
    assert len(epoch_losses(read_log(out), "form")) == 1


def test_restart_clears_a_run_with_other_settings_and_keeps_the_rest(tiny_bert_path, tmp_path, targets_cache):
    """A restarted run ends as a fresh one would; the folder's other files stay."""
    def run(folder, seed, restart=False):
        config = small_config(mode="form", seed=seed)
        train_bertram(tiny_bert_path, synthetic_corpus(), folder, config, cache_dir=targets_cache,
                      show_progress=False, restart=restart)
        return load_file(str(folder / "model.safetensors"))["form.embedding.weight"]

    folder = tmp_path / "run"
    first = run(folder, 0)
    (folder / "notes.txt").write_text("mine")
    (folder / "stage3-add").mkdir()  # a stage folder of another mode, from an older run
    (folder / "stage3-add" / "stage.json").write_text("{}")
    restarted = run(folder, 1, restart=True)
    assert torch.equal(restarted, run(tmp_path / "fresh", 1)) and not torch.equal(restarted, first)
    assert (folder / "notes.txt").read_text() == "mine" and not (folder / "stage3-add").exists()
    assert json.loads((folder / "training_config.json").read_text())["seed"] == 1
    assert [r["stage"] for r in read_log(folder)].count("form") == [r["stage"] for r in read_log(tmp_path / "fresh")].count("form")


def test_output_map_warm_start_fits_the_cache(tiny_bert_path):
    model, corpus, targets = _context_model(tiny_bert_path)
    cache = encode_context_cache(model, corpus, max_contexts=8)
    grouped, mask = stages_module._sample_contexts(cache, range(len(cache.words)), (8, 8), random.Random(0))
    target = torch.stack([targets[w] for w in cache.words])

    def loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(model.mimic(grouped, mask, model.wordpiece_base(cache.words)), target))

    before = loss()
    stages_module.fit_output_map(model, cache, targets, ridge=1.0)
    assert loss() < 0.5 * before


def test_bad_encoder_path_fails_clearly_and_pins_nothing(tmp_path):
    folder = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="encoder folder"):
        train_bertram(tmp_path / "no-such-encoder", synthetic_corpus(), folder, small_config(), show_progress=False)
    assert not (folder / "training_config.json").exists()


@pytest.mark.parametrize("keep_whole_words", [False, True])
def test_residual_warm_start_fits_target_minus_wordpiece_mean(tiny_bert_path, keep_whole_words):
    model, corpus, targets = _context_model(tiny_bert_path, wordpiece_residual=True, keep_whole_words=keep_whole_words)
    cache = encode_context_cache(model, corpus, max_contexts=8)
    stages_module.fit_output_map(model, cache, targets, ridge=1.0)
    fitted = model.output.weight.detach().clone(), model.output.bias.detach().clone()
    # the same ridge fit, done by hand on the residual (of the split words alone when
    # whole words keep their row)
    states = torch.stack([cache.vectors[s : s + c].mean(0) for s, c in zip(cache.starts, cache.counts)])
    inputs = torch.cat([states, torch.ones_like(states[:, :1])], dim=1).double()
    residual = torch.stack([targets[w] for w in cache.words]) - model.wordpiece_base(cache.words).mean
    if keep_whole_words:
        split = torch.tensor([len(model.tokenizer(" " + w, add_special_tokens=False)["input_ids"]) > 1 for w in cache.words])
        assert 0 < int(split.sum()) < len(split)
        inputs, residual = inputs[split], residual[split]
    gram = inputs.T @ inputs + torch.eye(inputs.shape[1], dtype=torch.double)
    solution = torch.linalg.solve(gram, inputs.T @ residual.double()).float()
    torch.testing.assert_close(fitted[0], solution[:-1].T, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fitted[1], solution[-1], atol=1e-4, rtol=1e-4)


def test_residual_training_lowers_the_loss(tiny_bert_path, tmp_path, targets_cache):
    config = small_config(wordpiece_residual=True)
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / "residual", config, cache_dir=targets_cache, show_progress=False)
    log = read_log(folder)
    for stage in ("context", "form", "combined"):
        losses = epoch_losses(log, stage)
        assert losses[-1] < losses[0], (stage, losses)
    model = BertramModel.from_pretrained(folder)
    assert model.config.wordpiece_residual and model.config.mode == "add"
    for stage in ("stage1-context", "stage2-form", "stage3-add"):
        assert BertramModel.from_pretrained(folder / stage).config.wordpiece_residual, stage


def test_run_record_without_a_setting_is_refused(tiny_bert_path, tmp_path, targets_cache):
    """A record that lacks a setting is another run's, whatever the setting's value."""
    folder = tmp_path / "old"
    config = small_config(mode="form", wordpiece_map=False)
    train_bertram(tiny_bert_path, synthetic_corpus(), folder, config, cache_dir=targets_cache, show_progress=False)
    path = folder / "training_config.json"
    record = json.loads(path.read_text())
    del record["model"]["wordpiece_map"]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"other settings.*'model\.wordpiece_map'"):
        train_bertram(tiny_bert_path, synthetic_corpus(), folder, config, cache_dir=targets_cache, show_progress=False)


def test_wordpiece_map_fit_recovers_a_linear_correction(tiny_bert_path):
    model = BertramModel.from_encoder(tiny_bert_path, words=TARGET_WORDS, mode="form", ngram_min_count=1, wordpiece_map=True)
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    split_words = ["".join(rng.choice(letters) for _ in range(9)) for _ in range(200)]
    words = split_words + ["movie", "film"]
    wordpieces = model.wordpiece_base(words)
    mean, counts = wordpieces.mean, wordpieces.n_pieces
    assert (counts[:-2] > 1).all() and (counts[-2:] == 1).all()
    generator = torch.Generator().manual_seed(0)
    dim = model.embedding_dim
    true_map = torch.randn((dim, dim), generator=generator) * 0.3
    true_bias = torch.randn((dim,), generator=generator)
    targets = {w: mean[i] + mean[i] @ true_map.T + true_bias for i, w in enumerate(split_words)}
    targets.update({"movie": torch.zeros(dim), "film": torch.zeros(dim)})  # whole words never count
    assert stages_module.fit_wordpiece_map(model, words, targets, ridge=1e-6) == len(split_words)
    torch.testing.assert_close(model.wordpiece.linear.weight, true_map, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(model.wordpiece.linear.bias, true_bias, atol=1e-2, rtol=1e-2)
    base = model.wordpiece_base(words).base
    torch.testing.assert_close(base[-2:], mean[-2:])
    expected = torch.stack([targets[w] for w in split_words])
    torch.testing.assert_close(base[:-2], expected, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="ridge"):
        stages_module.fit_wordpiece_map(model, words, targets, ridge=0.0)


def test_training_fits_the_wordpiece_map_once_and_freezes_it(tiny_bert_path, tmp_path, targets_cache):
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / "map", small_config(wordpiece_map=True), cache_dir=targets_cache, show_progress=False)
    fitted = [r for r in read_log(folder) if r.get("stage") == "wordpiece"]
    assert len(fitted) == 1 and fitted[0]["split_words"] > 0
    weights = [
        load_file(str(path / "model.safetensors"))["wordpiece.linear.weight"]
        for path in (folder / "stage1-context", folder / "stage2-form", folder / "stage3-add", folder)
    ]
    assert float(weights[0].abs().max()) > 0
    for weight in weights[1:]:
        torch.testing.assert_close(weight, weights[0])


def test_misspelled_copies_are_seeded_distinct_and_filtered():
    from spacy_bertram.training.misspellings import misspelled_copies

    words = ["movies", "stories", "happily", "cat"]
    copies = misspelled_copies(words, 3, seed=1)
    assert copies == misspelled_copies(list(reversed(words)), 3, seed=1)  # order-free, seeded
    assert copies != misspelled_copies(words, 3, seed=2)
    for typo, word in copies.items():
        assert typo != word and typo == typo.lower() and word in words
    per_word = {w: sum(1 for v in copies.values() if v == w) for w in words}
    assert per_word["movies"] == per_word["stories"] == 3 and per_word["cat"] <= 3
    refused = misspelled_copies(words, 3, seed=1, accept=lambda typos: ["x" not in t for t in typos])
    assert refused and all("x" not in t for t in refused)
    assert misspelled_copies(words, 0) == {}
    with pytest.raises(ValueError, match="per_word"):
        misspelled_copies(words, -1)


def test_form_stage_learns_to_map_misspellings_to_their_words(tiny_bert_path, tmp_path, targets_cache):
    """Trained with misspelled copies of the words the vocabulary keeps whole, the form
    part brings new misspellings of those words closer to the words' own rows than the
    form part trained without them."""
    from spacy_bertram.training.misspellings import misspelled_copies, whole_vocabulary_words

    cosines = {}
    for n in (0, 3):
        config = small_config(mode="form", form_misspellings=n, validation=0, form=StageConfig(30, 1e-2, 8))
        folder = train_bertram(
            tiny_bert_path, synthetic_corpus(), tmp_path / str(n), config, cache_dir=targets_cache, show_progress=False
        )
        log = read_log(folder)
        logged = [r for r in log if "misspelled_training_words" in r]
        assert bool(logged) == (n > 0) and (not logged or logged[0]["misspelled_training_words"] > 100)
        summary = next(r for r in log if "held_out_misspelled_cosine" in r)
        assert -1 <= summary["held_out_misspelled_cosine"] <= 1 and -1 <= summary["known_misspelled_cosine"] <= 1
        probes = {r["of"]: r for r in log if r.get("stage") == "misspellings"}
        assert set(probes) == {"held_out", "known"} and probes["known"]["misspellings"] > 0
        model = BertramModel.from_pretrained(folder)
        words = whole_vocabulary_words(model.tokenizer)
        targets = compute_targets(model.encoder, model.tokenizer, words, ota=config.ota)
        held = select_training_words(synthetic_corpus(), config, model.tokenizer)[2]
        words = [w for w in words if w not in held]
        typos = misspelled_copies(words, 1, seed=7, accept=lambda ts: [t not in targets and not own for t, own in zip(ts, model.wordpiece_base(ts).own_row)])
        with torch.no_grad():
            vectors = model.form_vectors(sorted(typos))
        goal = torch.stack([targets[typos[t]] for t in sorted(typos)])
        cosines[n] = float(torch.nn.functional.cosine_similarity(vectors, goal, dim=1).mean())
    assert cosines[3] > cosines[0] + 0.1, cosines


def test_form_steps_update_only_the_rows_of_their_ngrams(tiny_bert_path):
    """The n-gram table's gradient is sparse and its optimiser lazy: a step moves the rows
    its batch touches and no others (dense Adam's momentum would move the last batch's)."""
    from spacy_bertram.training.stages import _Adam, trainable_parameters

    model = BertramModel.from_encoder(tiny_bert_path, words=SPLIT_WORDS, mode="form", ngram_min_count=1, ngram_dropout=0.0)
    model.train()
    table = model.form.embedding.weight
    optimizer = _Adam(trainable_parameters(model, ["form"]), lr=1e-2)
    for word in ("movies", "happily"):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model.form_vectors([word]), torch.randn(1, 32))
        loss.backward()
        assert table.grad.is_sparse
        before = table.detach().clone()
        optimizer.step()
    changed = set((table.detach() != before).any(dim=1).nonzero().flatten().tolist())
    assert changed == set(model.ngram_vocab.encode("happily"))
    assert not changed & set(model.ngram_vocab.encode("movies"))


def test_adam_files_each_parameter_by_its_first_gradient():
    """A sparse table that the first batch leaves untouched still gets SparseAdam."""
    table = torch.nn.Embedding(10, 4, sparse=True)
    head = torch.nn.Linear(4, 1)
    optimizer = stages_module._Adam(list(head.parameters()) + [table.weight], lr=0.1)
    optimizer.zero_grad()
    head(torch.ones(1, 4)).sum().backward()
    optimizer.step()
    before = table.weight.detach().clone()
    optimizer.zero_grad()
    head(table(torch.tensor([1, 2]))).sum().backward()
    optimizer.step()
    moved = (table.weight.detach() != before).any(dim=1)
    assert moved.tolist() == [i in (1, 2) for i in range(10)]
