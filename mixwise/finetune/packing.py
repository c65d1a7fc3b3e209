"""Sequences, epochs and batches: packing, deterministic order, and loss targets.

A *sequence* is one row of a batch: one sample, or (with packing) several
samples laid end to end, filled greedily in training order up to
``max_length``. Samples are never split across sequences.

Packed rows carry per-sample ``position_ids`` (restarting at 0) and no 2-D
attention mask. transformers (>= 4.56) then detects the packed layout from the
position ids and builds a block-diagonal causal mask for the ``sdpa``,
``eager`` and ``flex_attention`` implementations, and ``flash_attention_2``
uses them as variable-length boundaries: no token attends across samples.
Other implementations (or older transformers) would attend across samples;
the loss masking below is correct either way.

Targets are shifted here: ``targets[t]`` is the token at ``t+1`` when that token
is a trained response token of the *same* sample, else -100. The order of
sequences in an epoch depends only on ``(seed, epoch)``, so a resumed run sees
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mixwise.finetune.data import Tokenized

IGNORE = -100


def build_sequences(data: Tokenized, *, max_length: int, packing: bool) -> list[list[int]]:
    """Sample indices per sequence: one each, or packed greedily in order up to ``max_length`` tokens."""
    if not packing:
        return [[i] for i in range(len(data))]
    seqs: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, ids in enumerate(data.input_ids):
        if current and used + len(ids) > max_length:
            seqs.append(current)
            current, used = [], 0
        current.append(i)
        used += len(ids)
    if current:
        seqs.append(current)
    return seqs


def epoch_order(n: int, *, epoch: int, seed: int, shuffle: bool) -> np.ndarray:
    """The order of the ``n`` sequences in ``epoch`` (0-based): a permutation from (seed, epoch), or as given."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


def steps_per_epoch(n_sequences: int, batch_size: int) -> int:
    return math.ceil(n_sequences / batch_size)


def step_micro_batches(order: np.ndarray, step_in_epoch: int, *, batch_size: int, micro_batch_size: int,
                       rank: int = 0, world_size: int = 1) -> list[list[int] | None]:
    """Sequence ids of this process's micro-batches for one optimizer step (None = idle slot, for equal counts)."""
    chosen = order[step_in_epoch * batch_size:(step_in_epoch + 1) * batch_size].tolist()
    micro = [chosen[i:i + micro_batch_size] for i in range(0, len(chosen), micro_batch_size)]
    per_rank = math.ceil(len(micro) / world_size)
    mine = micro[rank::world_size]
    return mine + [None] * (per_rank - len(mine))


@dataclass
class Batch:
    """Model inputs plus shifted targets and token counts for one micro-batch."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    targets: torch.Tensor
    tokens: int  # non-padding tokens
    trained: int  # tokens with a target

    def to(self, device) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.input_ids), move(self.position_ids), move(self.attention_mask), move(self.targets),
                     self.tokens, self.trained)


def _targets(ids: np.ndarray, trained: np.ndarray) -> np.ndarray:
    t = np.full(len(ids), IGNORE, dtype=np.int64)
    t[:-1] = np.where(trained[1:], ids[1:], IGNORE)
    return t


def collate(data: Tokenized, sequences: list[list[int]], *, pad_id: int, packed: bool) -> Batch:
    """One micro-batch of sequences, right-padded to the longest; packed rows get restarting position ids."""
    rows_ids, rows_pos, rows_tgt = [], [], []
    for seq in sequences:
        ids = [data.input_ids[i] for i in seq]
        rows_ids.append(np.concatenate(ids))
        rows_pos.append(np.concatenate([np.arange(len(x)) for x in ids]))
        # per-sample shift, so the last token of one sample never predicts the first of the next
        rows_tgt.append(np.concatenate([_targets(x, data.trained[i]) for x, i in zip(ids, seq)]))
    width = max(len(r) for r in rows_ids)
    n = len(sequences)
    input_ids = np.full((n, width), pad_id, dtype=np.int64)
    targets = np.full((n, width), IGNORE, dtype=np.int64)
    position_ids = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    for r, (ids, pos, tgt) in enumerate(zip(rows_ids, rows_pos, rows_tgt)):
        k = len(ids)
        input_ids[r, :k], targets[r, :k], mask[r, :k] = ids, tgt, 1
        position_ids[r, :k] = pos
        position_ids[r, k:] = np.arange(width - k)  # padding is its own segment: attends to nothing real
    tokens = int(mask.sum())
    return Batch(torch.from_numpy(input_ids), torch.from_numpy(position_ids),
                 None if packed else torch.from_numpy(mask), torch.from_numpy(targets),
                 tokens, int((targets != IGNORE).sum()))
