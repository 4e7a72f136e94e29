"""Turn (word, context) pairs into encoder inputs with the word masked.

Rules, chosen so that the encoder never sees the word it must describe:

- The word is matched case-insensitively on word boundaries (`(?<!\\w)word(?!\\w)`).
  Every occurrence becomes one mask token (the tokenizer's own `mask_token`); the
  vector is read at the FIRST one. In "replace" mode the form vector goes into that
  first slot only; later occurrences stay masks.
- A context in which the word does not occur is skipped; a word left without
  contexts is represented by its form alone.
- A context longer than `max_length` tokens is cut to a window centred on the read
  mask, not from the end.
- In "add" mode the context is prefixed with `FORM :` (BERT-style) or `" FORM " :`
  (byte-level BPE, RoBERTa-style), FORM being one slot whose input embedding the model
  overwrites with the form vector.
- Literal mask-token strings already in a context are blanked first, so the first
  mask id is always the word's first occurrence.
"""
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Sequence

import torch

# Characters kept on each side of the word before tokenizing, per token of budget:
# enough for any natural text, and it keeps very long contexts cheap to tokenize.
_CHARS_PER_TOKEN = 16


@dataclass
class EncodedContext:
    """One context as encoder input ids, with where to read and where to inject."""

    input_ids: List[int]
    read_position: int
    slot_position: int  # -1 when the mode injects nothing


@dataclass
class EncodedContexts:
    """Padded encoder inputs for a set of contexts.

    `context_word[i]` is the index (into the batch's word list) of the word that
    context i belongs to; `slot_positions[i]` is -1 when nothing is injected.
    """

    input_ids: torch.Tensor  # [C, L] long
    attention_mask: torch.Tensor  # [C, L] long
    read_positions: torch.Tensor  # [C] long
    slot_positions: torch.Tensor  # [C] long
    context_word: torch.Tensor  # [C] long

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def to(self, device: torch.device) -> "EncodedContexts":
        return EncodedContexts(*(t.to(device, non_blocking=True) for t in self._tensors()))

    def _tensors(self):
        return (
            self.input_ids,
            self.attention_mask,
            self.read_positions,
            self.slot_positions,
            self.context_word,
        )


@lru_cache(maxsize=65536)
def word_pattern(word: str) -> "re.Pattern[str]":
    """Case-insensitive, word-boundary pattern for `word` (cached: deterministic)."""
    return re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)


class ContextTokenizer:
    """Masks, tokenizes, truncates and pads contexts for one tokenizer and mode."""

    def __init__(self, tokenizer, mode: str, max_length: int, quote_form: bool) -> None:
        if tokenizer.mask_token is None or tokenizer.mask_token_id is None:
            raise ValueError(
                f"The tokenizer {type(tokenizer).__name__} has no mask token; BERTRAM needs "
                f"a masked-language-model encoder (BERT, RoBERTa, ...)."
            )
        self.tokenizer = tokenizer
        self.mode = mode
        self.max_length = max_length
        self.mask_token: str = tokenizer.mask_token
        self.mask_id: int = tokenizer.mask_token_id
        pad_id = tokenizer.pad_token_id
        self.pad_id: int = pad_id if pad_id is not None else 0
        sentinel = -7
        wrapped = tokenizer.build_inputs_with_special_tokens([sentinel])
        self.n_lead = wrapped.index(sentinel)
        self.lead_ids, self.trail_ids = wrapped[: self.n_lead], wrapped[self.n_lead + 1 :]
        self.n_special = len(wrapped) - 1
        self.prefix: List[int] = []
        self.slot_in_prefix = -1
        if mode == "add":
            if quote_form:
                left, right = self._tokenize(['"', '" :'])
            else:
                left, right = [], self._tokenize([" :"])[0]
            self.prefix = left + [self.mask_id] + right
            self.slot_in_prefix = len(left)
        self.budget = max_length - self.n_special - len(self.prefix)
        if self.budget < 1:
            raise ValueError(f"max_length {max_length} leaves no room for the context.")

    def mask(self, word: str, text: str) -> Optional[str]:
        """The context with every occurrence of `word` masked, or None if absent."""
        if not isinstance(text, str):
            raise TypeError(
                f"Contexts must be strings, got {type(text).__name__} {text!r} for {word!r}."
            )
        match = word_pattern(word).search(text)
        if match is None:
            return None
        reach = self.max_length * _CHARS_PER_TOKEN
        if len(text) > 2 * reach + len(word):
            text = text[max(0, match.start() - reach) : match.end() + reach]
        text = text.replace(self.mask_token, " ")
        masked, n = word_pattern(word).subn(self.mask_token, text)
        return masked if n else None

    def select(self, word: str, contexts: Sequence[str], limit: Optional[int]) -> List[str]:
        """Masked versions of the first `limit` contexts that contain the word."""
        if isinstance(contexts, str):
            raise TypeError(
                f"The contexts of {word!r} must be a sequence of strings, not one string; "
                f"wrap it in a list."
            )
        selected: List[str] = []
        for text in contexts:
            if limit is not None and len(selected) >= limit:
                break
            masked = self.mask(word, text)
            if masked is not None:
                selected.append(masked)
        return selected

    def encode(self, masked_texts: Sequence[str]) -> List[EncodedContext]:
        """Tokenize masked contexts in one batch and cut each around its read mask."""
        if not masked_texts:
            return []
        lead = " " if self.mode == "add" else ""
        all_ids = self._tokenize([lead + t for t in masked_texts])
        return [self._frame(ids) for ids in all_ids]

    def pad(self, encoded: Sequence[EncodedContext], context_word: Sequence[int]) -> EncodedContexts:
        width = max(len(e.input_ids) for e in encoded)
        rows = [e.input_ids + [self.pad_id] * (width - len(e.input_ids)) for e in encoded]
        lengths = torch.tensor([len(e.input_ids) for e in encoded], dtype=torch.long)
        attention = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()
        return EncodedContexts(
            input_ids=torch.tensor(rows, dtype=torch.long),
            attention_mask=attention,
            read_positions=torch.tensor([e.read_position for e in encoded], dtype=torch.long),
            slot_positions=torch.tensor([e.slot_position for e in encoded], dtype=torch.long),
            context_word=torch.as_tensor(list(context_word), dtype=torch.long),
        )

    def _tokenize(self, texts: Sequence[str]) -> List[List[int]]:
        return self.tokenizer(
            list(texts),
            add_special_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )["input_ids"]

    def _frame(self, ids: List[int]) -> EncodedContext:
        try:
            read = ids.index(self.mask_id)
        except ValueError:  # the tokenizer dropped the mask: should not happen
            raise ValueError(
                f"The tokenizer lost the mask token {self.mask_token!r}; use a tokenizer "
                f"whose mask token is a special token."
            ) from None
        if len(ids) > self.budget:
            start = min(max(0, read - self.budget // 2), len(ids) - self.budget)
            ids = ids[start : start + self.budget]
            read -= start
        input_ids = self.lead_ids + self.prefix + ids + self.trail_ids
        read_position = self.n_lead + len(self.prefix) + read
        if self.mode == "add":
            slot = self.n_lead + self.slot_in_prefix
        elif self.mode == "replace":
            slot = read_position
        else:
            slot = -1
        return EncodedContext(input_ids, read_position, slot)
