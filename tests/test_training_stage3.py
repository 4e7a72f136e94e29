"""Stage 3 ("add"): no target in the `form :` slot, stage 1's output map kept, the
paper's ADD as the output, split words only."""
import torch
from safetensors.torch import load_file

from spacy_bertram.model import BertramModel, group_contexts
from spacy_bertram.training import trainer as trainer_module
from spacy_bertram.training.stages import StageConfig
from spacy_bertram.training.targets import compute_targets
from spacy_bertram.training.trainer import train_bertram

from test_training import SPLIT_WORDS, one_thread, read_log, small_config, synthetic_corpus  # noqa: F401


def test_stage3_never_sees_a_words_own_row_in_the_form_slot(tiny_bert_path, tmp_path, monkeypatch):
    caches = []
    real = trainer_module.encode_context_cache

    def spy(model, words, **kwargs):
        cache = real(model, words, **kwargs)
        if model.config.mode == "add":
            caches.append(cache)
        return cache

    monkeypatch.setattr(trainer_module, "encode_context_cache", spy)
    config = small_config(validation=3)
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / "run", config, show_progress=False)
    model = BertramModel.from_pretrained(folder)
    rows = model.encoder.get_input_embeddings().weight.detach()
    assert len(caches) == 2  # training and validation words
    for cache in caches:
        assert cache.words and set(cache.words) <= set(SPLIT_WORDS)
        targets = compute_targets(model.encoder, model.tokenizer, cache.words, ota=config.ota,
                                  contexts=synthetic_corpus(), cache_dir=tmp_path / "run" / "cache")
        for word, form in zip(cache.words, cache.form):
            assert not torch.allclose(form, targets[word], atol=1e-4), word
            assert not torch.isclose(rows, form[None]).all(dim=1).any(), word  # no embedding row


def test_stage3_starts_from_stage1s_output_map_unless_a_fit_beats_it(tiny_bert_path, tmp_path, monkeypatch):
    real = trainer_module.fit_output_map

    def worse_in_stage3(model, cache, targets, ridge):
        real(model, cache, targets, ridge)
        if model.config.mode == "add":  # a fit that cannot beat stage 1's map
            with torch.no_grad():
                model.output.weight.normal_(std=10.0)

    monkeypatch.setattr(trainer_module, "fit_output_map", worse_in_stage3)
    config = small_config(validation=3, combined=StageConfig(epochs=0, lr=1e-2, batch_size=8))
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / "run", config, show_progress=False)
    final = load_file(str(folder / "model.safetensors"))
    context = load_file(str(folder / "stage1-context" / "model.safetensors"))
    for name in ("output.weight", "output.bias", "mimicking.query.weight", "mimicking.key.weight"):
        assert torch.equal(final[name], context[name]), name
    ridges = [r["output_ridge"] for r in read_log(folder) if "output_ridge" in r]
    assert ridges[0] is not None and ridges[1] is None  # stage 3 kept stage 1's map


def test_add_reads_the_contexts_with_the_form_vector_in_the_slot(tiny_bert_path, tmp_path):
    """The paper's ADD: the vector is what the context part reads through the encoder
    with the form in the `form :` slot, not a blend of form and context vectors."""
    folder = train_bertram(tiny_bert_path, synthetic_corpus(), tmp_path / "run", small_config(), show_progress=False)
    model = BertramModel.from_pretrained(folder)
    word = SPLIT_WORDS[0]
    batch = model.collate([(word, synthetic_corpus()[word])])
    with torch.no_grad():
        got = model(batch)
        base = model.wordpiece_base([word])
        form = model.form_vectors([word], base)
        states = model.encode_contexts(batch.contexts, form)
        grouped, mask = group_contexts(states, batch.contexts.context_word, 1, model.config.hidden_size)
        expected = base.add(model.output(model.mimicking(grouped, mask)))
        other = model.encode_contexts(batch.contexts, torch.zeros_like(form))
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(states, other)  # the slot's content reaches the vector
