"""One-token approximation (OTA): a single input vector for a word the tokenizer splits.

BERTRAM's targets live in the encoder's input-embedding space, one vector per word.
A word split into several pieces has no such row, so OTA learns one: the vector `v`
that, put in the word's slot of a template sentence, makes the encoder's hidden
states at the other positions (summed over layers) match those it computes for the
multi-piece input. The template's tokens keep the position ids they have in the
multi-piece input, so `v` is not asked to make up for the shift that the extra pieces
cause. Starting from the mean of the pieces' embeddings, a batch of words is optimised
at once: each row of the batch depends on its own vector only (the
encoder is frozen and in eval mode), so batching changes nothing but the speed.
"""
import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from tqdm.auto import tqdm

from ..model.configuration_bertram import setting
from ..model.encoder import position_offset, word_pieces
from ..util import eval_mode


@dataclass
class OtaConfig:
    """Templates (with `{word}` and optionally `{mask}`) and the optimiser's settings."""

    templates: Tuple[str, ...] = setting(
        ("{word}", "{mask} {word} {mask} ."), help="Template sentences with {word} (and {mask})."
    )
    steps: int = setting(100, help="Optimiser steps of the one-token approximation.")
    lr: float = setting(0.01, help="Learning rate of the one-token approximation.")
    batch_size: int = setting(64, help="Words optimised at once.")

    def __post_init__(self) -> None:
        self.templates = tuple(self.templates)
        if not self.templates or any(t.count("{word}") != 1 for t in self.templates):
            raise ValueError(
                f"OTA templates must each contain `{{word}}` exactly once, got {self.templates}."
            )
        if self.steps < 0 or self.lr <= 0 or self.batch_size < 1:
            raise ValueError(
                f"OTA needs steps >= 0, lr > 0 and batch_size >= 1, got steps={self.steps}, "
                f"lr={self.lr}, batch_size={self.batch_size}."
            )


class _Template:
    """A template tokenised once: ids around the word's slot, with special tokens."""

    def __init__(self, tokenizer, template: str):
        left, right = template.split("{word}")
        mask = tokenizer.mask_token or tokenizer.unk_token
        left_ids = tokenizer(left.format(mask=mask), add_special_tokens=False)["input_ids"] if left.strip() else []
        right_ids = tokenizer(right.format(mask=mask), add_special_tokens=False)["input_ids"] if right.strip() else []
        wrapped = tokenizer.build_inputs_with_special_tokens([-1])
        slot = wrapped.index(-1)
        self.prefix = wrapped[:slot] + left_ids
        self.suffix = right_ids + wrapped[slot + 1 :]

    def single_ids(self, placeholder: int) -> List[int]:
        return self.prefix + [placeholder] + self.suffix

    def multi_ids(self, pieces: Sequence[int]) -> List[int]:
        return self.prefix + list(pieces) + self.suffix

    def around_positions(self, n_pieces: int) -> List[int]:
        """Positions of the template's own tokens in an input with `n_pieces` word pieces."""
        start = len(self.prefix)
        return list(range(start)) + list(range(start + n_pieces, start + n_pieces + len(self.suffix)))


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


def _position_offset(encoder) -> Optional[int]:
    """The encoder's first position id (`encoder.position_offset`), or None when its
    forward takes no `position_ids`."""
    if "position_ids" not in inspect.signature(encoder.forward).parameters:
        return None
    return position_offset(encoder)


def _hidden_states(encoder, **inputs) -> torch.Tensor:
    """Stacked hidden states of all encoder layers (not the embedding output): [L, B, T, D]."""
    out = encoder(**inputs, output_hidden_states=True, return_dict=True)
    return torch.stack(out.hidden_states[1:])


class _TemplateBatch:
    """One template's fixed inputs and frozen multi-piece hidden states for a batch of words."""

    def __init__(self, encoder, tokenizer, template: _Template, pieces: List[List[int]], device):
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        multi = [template.multi_ids(p) for p in pieces]
        width = max(len(ids) for ids in multi)
        ids = torch.full((len(multi), width), pad, dtype=torch.long)
        attention = torch.zeros_like(ids)
        for row, seq in enumerate(multi):
            ids[row, : len(seq)] = torch.tensor(seq)
            attention[row, : len(seq)] = 1
        around = torch.tensor([template.around_positions(len(p)) for p in pieces])
        extra = {}
        offset = _position_offset(encoder)
        if offset is not None:
            extra["position_ids"] = (torch.arange(width)[None].expand(len(multi), -1) + offset).to(device)
            # In the one-slot input, the template's tokens keep the positions they have
            # in the multi-piece input, so v need not make up for shifted positions.
            slot = len(template.prefix)
            after = range(len(template.suffix))
            positions = [list(range(slot + 1)) + [slot + len(p) + i for i in after] for p in pieces]
            self.position_ids = (torch.tensor(positions) + offset).to(device)
        else:
            self.position_ids = None
        with torch.no_grad():
            states = _hidden_states(
                encoder, input_ids=ids.to(device), attention_mask=attention.to(device), **extra
            )
        index = around.to(device)[None, :, :, None].expand(states.shape[0], -1, -1, states.shape[-1])
        self.target = states.gather(2, index)  # [L, B, n_around, D]
        self.slot = len(template.prefix)
        single = torch.tensor(template.single_ids(pad), device=device)
        self.base = encoder.get_input_embeddings()(single).detach()  # [T, D]
        self.around = torch.tensor(template.around_positions(1), device=device)

    def loss(self, encoder, vectors: torch.Tensor) -> torch.Tensor:
        """Per-word objective: squared distance summed over layers and around positions."""
        batch = vectors.shape[0]
        embeds = torch.cat(
            [
                self.base[None, : self.slot].expand(batch, -1, -1),
                vectors[:, None, :],
                self.base[None, self.slot + 1 :].expand(batch, -1, -1),
            ],
            dim=1,
        )
        extra = {} if self.position_ids is None else {"position_ids": self.position_ids}
        states = _hidden_states(encoder, inputs_embeds=embeds, **extra)[:, :, self.around]
        return ((states - self.target) ** 2).sum(dim=(0, 2, 3))


def ota_objective(
    encoder, tokenizer, words: Sequence[str], vectors: torch.Tensor, config: OtaConfig
) -> torch.Tensor:
    """OTA's objective (per word, summed over templates) for given candidate vectors."""
    device = vectors.device
    pieces = word_pieces(tokenizer, words)
    templates = [_Template(tokenizer, t) for t in config.templates]
    with frozen(encoder), torch.no_grad():
        return sum(
            _TemplateBatch(encoder, tokenizer, t, pieces, device).loss(encoder, vectors) for t in templates
        )


def one_token_approximation(
    encoder,
    tokenizer,
    words: Sequence[str],
    config: OtaConfig = OtaConfig(),
    *,
    show_progress: bool = False,
) -> torch.Tensor:
    """Learn one input vector per (multi-piece) word, batched: returns [len(words), D] on CPU.

    The encoder is frozen and in eval mode meanwhile, so dropout cannot move the target.
    """
    with frozen(encoder):
        return _optimise(encoder, tokenizer, list(words), config, show_progress)


def _optimise(encoder, tokenizer, words: List[str], config: OtaConfig, show_progress: bool) -> torch.Tensor:
    device = next(encoder.parameters()).device
    embeddings = encoder.get_input_embeddings().weight
    templates = [_Template(tokenizer, t) for t in config.templates]
    results: List[torch.Tensor] = []
    bar = tqdm(total=len(words), desc="OTA targets", unit="word", disable=not show_progress)
    for start in range(0, len(words), config.batch_size):
        chunk = words[start : start + config.batch_size]
        pieces = word_pieces(tokenizer, chunk)
        batches = [_TemplateBatch(encoder, tokenizer, t, pieces, device) for t in templates]
        with torch.no_grad():
            init = torch.stack([embeddings[torch.tensor(p, device=device)].mean(0) for p in pieces])
        vectors = torch.nn.Parameter(init.clone())
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
