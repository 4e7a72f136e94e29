"""Edit a padded wordpiece batch so that rare words get one input position for their vector.

Pure array logic, no torch model: the transformer layer calls it between alignment and
truncation. Two modes:

- ``replace``: the rare word's pieces become one slot; the token aligns to that slot.
- ``slash``: the pieces stay, then the separator ``/`` (one piece or several, as the
  tokenizer cuts `` /`` after a word), then the slot (BERTRAM's ``w / vector`` form);
  the token aligns to its pieces, the separator and the slot, so pooling sees both
  the surface form and the vector.

Alignment indices are flat positions ``row * padded_width + col``, as in
spacy-transformers. A rare word that shares a wordpiece with another rare word (one
wordpiece covering both) is left as it is: neither slot would be well defined.
"""
from dataclasses import dataclass, replace
from typing import Tuple

import numpy
from spacy_transformers.data_classes import WordpieceBatch
from spacy_transformers.truncate import truncate_oversize_splits
from thinc.types import Ints1d, Ragged

from ..model.encoder import word_pieces

# How the transformer reads a rare word's vector: instead of its wordpieces, or after them.
INJECTION_MODES = ("replace", "slash")
VECTOR_PIECE = "[BERTRAM]"
# What "slash" puts between a rare word's pieces and its vector.
SEPARATOR = "/"


@dataclass(frozen=True)
class EditPieces:
    """The pieces the edit writes: padding, the separator, and the slot's placeholder.

    The slot's id is only a placeholder (the unknown token): the encoder sees the
    vector there, and ``VECTOR_PIECE`` marks it in the batch's strings.
    """

    pad_id: int
    pad: str
    slot_id: int
    separator_ids: Tuple[int, ...] = ()
    separator: Tuple[str, ...] = ()
    slot: str = VECTOR_PIECE

    @classmethod
    def from_tokenizer(cls, tokenizer, mode: str) -> "EditPieces":
        """The pieces for `mode`; for "slash" the separator as the tokenizer cuts `` /``
        after a word (``Ġ/``, or ``Ġ`` + ``/`` for a byte-level BPE without that merge)."""
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        slot_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else pad_id
        pieces = cls(pad_id=pad_id, pad=tokenizer.pad_token or "", slot_id=slot_id)
        if check_mode(mode) == "replace":
            return pieces
        (ids,) = word_pieces(tokenizer, [SEPARATOR])
        if not ids or (tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids):
            name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
            raise ValueError(
                f"The tokenizer of {name} has no pieces for ' {SEPARATOR}' (it gives "
                f"{tokenizer.convert_ids_to_tokens(ids)}), so the transformer cannot read "
                "BERTRAM vectors in mode = \"slash\". Set mode = \"replace\" in the "
                "transformer's [model] block."
            )
        return replace(pieces, separator_ids=tuple(ids), separator=tuple(tokenizer.convert_ids_to_tokens(ids)))


@dataclass
class VectorSlots:
    """Where the vectors go: flat positions in the batch, and which vector each takes."""

    index: Ints1d
    vector: Ints1d

    def __len__(self) -> int:
        return len(self.index)


def check_mode(mode: str) -> str:
    if mode not in INJECTION_MODES:
        raise ValueError(
            f"Unknown BERTRAM injection mode {mode!r}. Set mode to one of {INJECTION_MODES}: "
            "'replace' puts the vector in place of the word's wordpieces, 'slash' "
            "appends '/' and the vector after them."
        )
    return mode


def insert_vector_slots(
    wordpieces: WordpieceBatch,
    align: Ragged,
    rare: Ints1d,
    mode: str,
    pieces: EditPieces,
) -> Tuple[WordpieceBatch, Ragged, VectorSlots]:
    """Give each occurrence of the tokens at positions `rare` (rows of `align`) a slot.

    A token that occurs in several spans (overlapping strided windows) gets a slot
    in each; slot `i` takes vector `rare`-row `VectorSlots.vector[i]`.
    """
    if check_mode(mode) == "slash" and not pieces.separator_ids:
        raise ValueError("The 'slash' mode needs EditPieces with the tokenizer's separator.")
    n_sep = len(pieces.separator_ids)
    n_rows, width = wordpieces.input_ids.shape
    data = numpy.asarray(align.dataXd, dtype="int64").reshape(-1)
    lengths = numpy.asarray(align.lengths, dtype="int64")
    rare = numpy.asarray(rare, dtype="int64")
    owner, row, col, opens = _rare_pieces(data, lengths, rare, n_rows, width)
    closes = numpy.r_[opens[1:], True] if len(opens) else opens
    g_owner, g_row = owner[opens], row[opens]
    g_first, g_last = col[opens], col[closes]

    # Per column: is it kept, and how many new positions follow it.
    keep = numpy.ones((n_rows, width), dtype=bool)
    extra = numpy.zeros((n_rows, width), dtype="int64")
    if mode == "replace":
        keep[row, col] = False
        keep[g_row, g_first] = True
    else:
        extra[g_row, g_last] = n_sep + 1
    count = keep + extra
    new_col = numpy.cumsum(count, axis=1) - count
    # Padding is re-cut to the longest edited row.
    ends = numpy.where(numpy.asarray(wordpieces.attention_mask) > 0, new_col + count, 0)
    new_width = int(ends.max()) if ends.size else 0

    if mode == "replace":
        slot_col = new_col[g_row, g_first]
        col_map = new_col.copy()
        col_map[row, col] = new_col[row, g_first[numpy.cumsum(opens) - 1]]
        added_entries = (numpy.zeros(0, "int64"), numpy.zeros(0, "int64"))
    else:
        slot_col = new_col[g_row, g_last] + n_sep + 1
        # [groups, n_sep]: the separator's columns, just before the slot.
        separator_cols = slot_col[:, None] - n_sep + numpy.arange(n_sep)
        col_map = new_col
        added_entries = (
            numpy.repeat(rare[g_owner], n_sep + 1),
            (g_row[:, None] * new_width + numpy.c_[separator_cols, slot_col]).ravel(),
        )

    kept_rows, kept_cols = numpy.nonzero(keep & (new_col < new_width))
    targets = (kept_rows, new_col[kept_rows, kept_cols])

    def move(values: numpy.ndarray, fill) -> numpy.ndarray:
        out = numpy.full((n_rows, new_width), fill, dtype=values.dtype)
        out[targets] = values[kept_rows, kept_cols]
        return out

    input_ids = move(numpy.asarray(wordpieces.input_ids), pieces.pad_id)
    attention_mask = move(numpy.asarray(wordpieces.attention_mask), 0)
    strings = move(_string_grid(wordpieces.strings, n_rows, width), pieces.pad)
    token_type_ids = None
    if wordpieces.token_type_ids is not None:
        token_type_ids = move(numpy.asarray(wordpieces.token_type_ids), 0)
    input_ids[g_row, slot_col] = pieces.slot_id
    strings[g_row, slot_col] = pieces.slot
    if mode == "slash":
        rows = g_row[:, None]
        input_ids[rows, separator_cols] = numpy.asarray(pieces.separator_ids, dtype=input_ids.dtype)
        for i, piece in enumerate(pieces.separator):
            strings[g_row, separator_cols[:, i]] = piece
        attention_mask[rows, separator_cols] = attention_mask[g_row, slot_col] = 1
        if token_type_ids is not None:
            segment = wordpieces.token_type_ids[g_row, g_last]
            token_type_ids[rows, separator_cols] = segment[:, None]
            token_type_ids[g_row, slot_col] = segment
    new_lengths = numpy.asarray(wordpieces.lengths) + count.sum(axis=1) - width

    new_data = (data // width) * new_width + col_map.ravel()[data]
    new_align = _merge_alignment(new_data, lengths, *added_entries)
    edited = WordpieceBatch(
        strings=strings.tolist(),
        input_ids=input_ids,
        attention_mask=attention_mask,
        lengths=[int(n) for n in new_lengths],
        token_type_ids=token_type_ids,
    )
    slots = VectorSlots(index=g_row * new_width + slot_col, vector=g_owner)
    return edited, new_align, slots


def truncate_with_slots(
    wordpieces: WordpieceBatch, align: Ragged, slots: VectorSlots, max_length: int
) -> Tuple[WordpieceBatch, Ragged, VectorSlots]:
    """spacy-transformers' truncation, with the slots carried through it.

    The slots ride along as extra one-entry alignment rows, so they follow the
    truncation exactly; a slot cut off by it is dropped with its vector.
    """
    n_tokens = len(align.lengths)
    data = numpy.asarray(align.dataXd).reshape(-1)
    joint = Ragged(
        numpy.concatenate([data, slots.index.astype(data.dtype)]),
        numpy.concatenate([align.lengths, numpy.ones(len(slots), dtype=align.lengths.dtype)]),
    )
    wordpieces, joint = truncate_oversize_splits(wordpieces, joint, max_length)
    joint_data = numpy.asarray(joint.dataXd).reshape(-1)
    n_data = int(joint.lengths[:n_tokens].sum())
    kept = joint.lengths[n_tokens:].astype(bool)
    align = Ragged(joint_data[:n_data], joint.lengths[:n_tokens])
    return wordpieces, align, VectorSlots(joint_data[n_data:], slots.vector[kept])


def _rare_pieces(
    data: numpy.ndarray, lengths: numpy.ndarray, rare: numpy.ndarray, n_rows: int, width: int
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The rare tokens' pieces as (owner in `rare`, row, col), and where each
    (token, row) group opens; groups that share a piece with another rare token
    are dropped."""
    starts = numpy.cumsum(lengths) - lengths
    n_entries = lengths[rare]
    owner = numpy.repeat(numpy.arange(len(rare)), n_entries)
    within = numpy.arange(n_entries.sum()) - numpy.repeat(
        numpy.cumsum(n_entries) - n_entries, n_entries
    )
    flat = data[numpy.repeat(starts[rare], n_entries) + within]
    row, col = numpy.divmod(flat, width)
    # Each token's entries are sorted, so a (token, row) group is one run.
    opens = _run_starts(owner * n_rows + row)
    group = numpy.cumsum(opens) - 1
    claims = numpy.bincount(flat, minlength=n_rows * width)
    shared = numpy.zeros(int(opens.sum()), dtype=bool)
    numpy.logical_or.at(shared, group, claims[flat] > 1)
    keep = ~shared[group]
    return owner[keep], row[keep], col[keep], opens[keep]


def _run_starts(keys: numpy.ndarray) -> numpy.ndarray:
    return numpy.r_[True, keys[1:] != keys[:-1]] if len(keys) else numpy.zeros(0, dtype=bool)


def _string_grid(strings, n_rows: int, width: int) -> numpy.ndarray:
    grid = numpy.empty((n_rows, width), dtype=object)
    for i, seq in enumerate(strings):
        grid[i, : len(seq)] = seq
    return grid


def _merge_alignment(
    data: numpy.ndarray, lengths: numpy.ndarray, added_owner: numpy.ndarray, added: numpy.ndarray
) -> Ragged:
    """Rebuild the ragged alignment: add entries, sort each token's, drop repeats."""
    owner = numpy.concatenate([numpy.repeat(numpy.arange(len(lengths)), lengths), added_owner])
    data = numpy.concatenate([data, added])
    order = numpy.lexsort((data, owner))
    owner, data = owner[order], data[order]
    fresh = _run_starts(owner * (int(data.max(initial=0)) + 1) + data)
    owner, data = owner[fresh], data[fresh]
    new_lengths = numpy.bincount(owner, minlength=len(lengths))
    return Ragged(data.astype("int32"), new_lengths.astype("int32"))
