"""One-token approximation (OTA): a single input vector for a word the tokenizer splits.

BERTRAM's targets live in the encoder's input-embedding space, one vector per word.
A word split into several pieces has no such row, so OTA learns one: the vector `v`
that, put in the word's slot of a template sentence, makes the encoder's hidden
states at the other positions (summed over layers) match those it computes for the
multi-piece input. The templates are a few fixed ones plus sentences of the word's
own corpus contexts, sampled per word (as the reference implementation samples
corpus contexts); the one-slot input has contiguous position ids, as at use time.
Starting from the mean of the pieces' embeddings, a batch of words is optimised at
once: each row of the batch depends on its own vector and templates only (the
encoder is frozen and in eval mode), so batching changes nothing but the speed.
"""
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from tqdm.auto import tqdm

from ..model.configuration_bertram import setting
from ..model.encoder import word_pieces
from ..model.masking import word_pattern
from ..util import eval_mode

# Tokens of a sampled context kept on each side of the word.
CONTEXT_WINDOW = 16
WordContextMap = Mapping[str, Sequence[str]]


@dataclass
class OtaConfig:
    """Templates (fixed ones with `{word}` and optionally `{mask}`, plus sampled corpus
    contexts) and the optimiser's settings."""

    templates: Tuple[str, ...] = setting(
        ("{word}", "{mask} {word} {mask} ."), help="Template sentences with {word} (and {mask})."
    )
    contexts: int = setting(
        4,
        help="Corpus contexts of each word sampled as further templates (the word kept in "
        "place, up to 16 tokens each side); 0: the fixed templates only.",
    )
    steps: int = setting(
        100, help="Optimiser steps of the one-token approximation (the paper: 4,000)."
    )
    lr: float = setting(0.01, help="Learning rate of the one-token approximation.")
    batch_size: int = setting(64, help="Words optimised at once.")

    def __post_init__(self) -> None:
        self.templates = tuple(self.templates)
        if not self.templates or any(t.count("{word}") != 1 for t in self.templates):
            raise ValueError(
                f"OTA templates must each contain `{{word}}` exactly once, got {self.templates}."
            )
        if self.steps < 0 or self.lr <= 0 or self.batch_size < 1 or self.contexts < 0:
            raise ValueError(
                f"OTA needs steps >= 0, lr > 0, batch_size >= 1 and contexts >= 0, got "
                f"steps={self.steps}, lr={self.lr}, batch_size={self.batch_size}, contexts={self.contexts}."
            )


class _Template:
    """A template tokenised once: ids around the word's slot, with special tokens."""

    def __init__(self, tokenizer, left_ids: List[int], right_ids: List[int]):
        wrapped = tokenizer.build_inputs_with_special_tokens([-1])
        slot = wrapped.index(-1)
        self.prefix = wrapped[:slot] + list(left_ids)
        self.suffix = list(right_ids) + wrapped[slot + 1 :]

    @classmethod
    def fixed(cls, tokenizer, template: str) -> "_Template":
        left, right = template.split("{word}")
        mask = tokenizer.mask_token or tokenizer.unk_token
        return cls(tokenizer, _ids(tokenizer, left.format(mask=mask)), _ids(tokenizer, right.format(mask=mask)))

    @classmethod
    def from_context(cls, tokenizer, word: str, context: str) -> Optional["_Template"]:
        """The context cut at the word's first occurrence (None when it has none)."""
        match = word_pattern(word).search(context)
        if match is None:
            return None
        left = _ids(tokenizer, context[: match.start()])[-CONTEXT_WINDOW:]
        return cls(tokenizer, left, _ids(tokenizer, context[match.end() :])[:CONTEXT_WINDOW])

    def ids(self, pieces: Sequence[int]) -> List[int]:
        return self.prefix + list(pieces) + self.suffix

    def around_positions(self, n_pieces: int) -> List[int]:
        """Positions of the template's own tokens in an input with `n_pieces` word pieces."""
        start = len(self.prefix)
        return list(range(start)) + list(range(start + n_pieces, start + n_pieces + len(self.suffix)))


def _ids(tokenizer, text: str) -> List[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text.strip() else []


def _word_templates(
    tokenizer, words: Sequence[str], contexts: Optional[WordContextMap], config: OtaConfig
) -> List[List[_Template]]:
    """Per template index, each word's template: the fixed ones, then `config.contexts`
    of the word's own contexts, sampled by a generator seeded with the word alone (a
    word's target never depends on the batch); a word with fewer usable contexts
    repeats them, one with none repeats the first fixed template."""
    fixed = [_Template.fixed(tokenizer, t) for t in config.templates]
    per_word: List[List[_Template]] = []
    for word in words:
        usable = [
            t for t in (_Template.from_context(tokenizer, word, c) for c in (contexts or {}).get(word, ())) if t
        ]
        sampled = random.Random(word).sample(usable, min(len(usable), config.contexts))
        per_word.append([sampled[k % len(sampled)] if sampled else fixed[0] for k in range(config.contexts)])
    return [[t] * len(words) for t in fixed] + [list(column) for column in zip(*per_word)]


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode and no parameter gradients for the duration; both are restored after."""
    flags = [p.requires_grad for p in module.parameters()]
    with eval_mode(module):
        for p in module.parameters():
            p.requires_grad_(False)
        try:
            yield module
        finally:
            for p, flag in zip(module.parameters(), flags):
                p.requires_grad_(flag)


def _hidden_states(encoder, **inputs) -> torch.Tensor:
    """Stacked hidden states of all encoder layers (not the embedding output): [L, B, T, D]."""
    out = encoder(**inputs, output_hidden_states=True, return_dict=True)
    return torch.stack(out.hidden_states[1:])


class _TemplateBatch:
    """One template per word (rows may differ): fixed inputs and the frozen multi-piece
    hidden states at the template's own tokens, for a batch of words."""

    def __init__(self, encoder, tokenizer, templates: List[_Template], pieces: List[List[int]], device):
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        multi_ids, multi_attention = _padded([t.ids(p) for t, p in zip(templates, pieces)], pad)
        single_ids, self.attention = _padded([t.ids([pad]) for t in templates], pad)
        self.attention = self.attention.to(device)
        around = [t.around_positions(len(p)) for t, p in zip(templates, pieces)]
        width = max(len(a) for a in around)
        self.weight = torch.tensor([[1.0] * len(a) + [0.0] * (width - len(a)) for a in around], device=device)
        multi_around = torch.tensor([a + [0] * (width - len(a)) for a in around], device=device)
        single = [t.around_positions(1) for t in templates]
        self.around = torch.tensor([a + [0] * (width - len(a)) for a in single], device=device)
        with torch.no_grad():
            states = _hidden_states(
                encoder, input_ids=multi_ids.to(device), attention_mask=multi_attention.to(device)
            )
        self.target = _gather(states, multi_around)  # [L, B, n_around, D]
        self.slots = torch.tensor([len(t.prefix) for t in templates], device=device)
        self.base = encoder.get_input_embeddings()(single_ids.to(device)).detach()  # [B, T, D]

    def loss(self, encoder, vectors: torch.Tensor) -> torch.Tensor:
        """Per-word objective: squared distance summed over layers and around positions."""
        rows = torch.arange(vectors.shape[0], device=vectors.device)
        embeds = self.base.index_put((rows, self.slots), vectors.to(self.base.dtype))
        states = _gather(_hidden_states(encoder, inputs_embeds=embeds, attention_mask=self.attention), self.around)
        return (((states - self.target) ** 2).sum(dim=(0, 3)) * self.weight).sum(dim=1)


def _padded(sequences: List[List[int]], pad: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and their attention mask."""
    width = max(len(ids) for ids in sequences)
    ids = torch.full((len(sequences), width), pad, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
        attention[row, : len(seq)] = 1
    return ids, attention


def _gather(states: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """states [L, B, T, D] at per-row positions [B, P] -> [L, B, P, D]."""
    index = positions[None, :, :, None].expand(states.shape[0], -1, -1, states.shape[-1])
    return states.gather(2, index)


def _batches(encoder, tokenizer, words, contexts, config, device) -> List[_TemplateBatch]:
    pieces = word_pieces(tokenizer, words)
    return [
        _TemplateBatch(encoder, tokenizer, column, pieces, device)
        for column in _word_templates(tokenizer, words, contexts, config)
    ]


def ota_objective(
    encoder,
    tokenizer,
    words: Sequence[str],
    vectors: torch.Tensor,
    config: OtaConfig,
    contexts: Optional[WordContextMap] = None,
) -> torch.Tensor:
    """OTA's objective (per word, summed over templates) for given candidate vectors."""
    with frozen(encoder), torch.no_grad():
        batches = _batches(encoder, tokenizer, list(words), contexts, config, vectors.device)
        return sum(b.loss(encoder, vectors) for b in batches)


def one_token_approximation(
    encoder,
    tokenizer,
    words: Sequence[str],
    config: OtaConfig = OtaConfig(),
    *,
    contexts: Optional[WordContextMap] = None,
    show_progress: bool = False,
) -> torch.Tensor:
    """Learn one input vector per (multi-piece) word, batched: returns [len(words), D] on CPU.

    `contexts` (`{word: [context, ...]}`) are the corpus sentences templates are
    sampled from. The encoder is frozen and in eval mode meanwhile, so dropout cannot
    move the target.
    """
    with frozen(encoder):
        return _optimise(encoder, tokenizer, list(words), config, contexts, show_progress)


def _optimise(encoder, tokenizer, words: List[str], config: OtaConfig, contexts, show_progress: bool) -> torch.Tensor:
    device = next(encoder.parameters()).device
    embeddings = encoder.get_input_embeddings().weight
    results: List[torch.Tensor] = []
    bar = tqdm(total=len(words), desc="OTA targets", unit="word", disable=not show_progress)
    for start in range(0, len(words), config.batch_size):
        chunk = words[start : start + config.batch_size]
        batches = _batches(encoder, tokenizer, chunk, contexts, config, device)
        vectors = torch.nn.Parameter(_piece_means(encoder, tokenizer, chunk))
        optimizer = torch.optim.Adam([vectors], lr=config.lr)
        for _ in range(config.steps):
            optimizer.zero_grad(set_to_none=True)
            loss = sum(b.loss(encoder, vectors) for b in batches)
            loss.sum().backward()
            optimizer.step()
        results.append(vectors.detach().float().cpu())
        bar.update(len(chunk))
    bar.close()
    if not results:
        return torch.zeros((0, embeddings.shape[1]))
    return torch.cat(results)


def _piece_means(encoder, tokenizer, words: Sequence[str]) -> torch.Tensor:
    """The mean of each word's wordpiece input embeddings (OTA's start): [W, D]."""
    weight = encoder.get_input_embeddings().weight.detach()
    return torch.stack([weight[torch.tensor(p, device=weight.device)].mean(0) for p in word_pieces(tokenizer, words)])


def ota_fit(
    encoder, tokenizer, words: Sequence[str], vectors: torch.Tensor, config: OtaConfig,
    contexts: Optional[WordContextMap] = None,
) -> Dict[str, float]:
    """How well OTA fit: its objective at the mean of the pieces (its start) and at the
    learned vectors, their mean ratio, and the mean cosine of the learned vectors to
    that mean. A ratio near 1 says the target is little more than the mean."""
    words = list(words)
    device = next(encoder.parameters()).device
    mean = _piece_means(encoder, tokenizer, words)
    start = ota_objective(encoder, tokenizer, words, mean, config, contexts)
    end = ota_objective(encoder, tokenizer, words, vectors.to(device), config, contexts)
    cosine = torch.nn.functional.cosine_similarity(vectors.to(device), mean, dim=-1)
    return {
        "ota_words": len(words),
        "ota_steps": config.steps,
        "ota_loss_start": float(start.mean()),
        "ota_loss_end": float(end.mean()),
        "ota_loss_ratio": float((end / start.clamp_min(1e-12)).mean()),
        "ota_cosine_to_mean": float(cosine.mean()),
    }
