"""Sampling strategies: each returns an *ordering* of candidate rows (best first).

An amount then takes a prefix of that ordering (``count``: the first N;
``tokens``: the shortest prefix reaching the budget), so every strategy works
with every unit. All are vectorized numpy and deterministic for a seed.

- ``random``: a seeded permutation.
- ``per_cluster``: round-robin over clusters (random order inside each), so any
  prefix holds an equal number per cluster until small clusters run out --
  LIMA-style topical diversity.
- ``top``: descending by a score column, seeded tie-break, nulls last.
- ``diverse``: farthest-point sampling (greedy k-center) on L2-normalised
  embeddings with cosine distance, started from a seeded random row.
"""

from __future__ import annotations

import numpy as np


def random_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded permutation of ``range(n)``."""
    return rng.permutation(n)


def top_order(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices by descending score; ties broken by a seeded shuffle; NaN last."""
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    tie = rng.permutation(len(s))
    return np.lexsort((tie, -s))


def per_cluster_order(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round-robin over groups (cluster ids; nulls as their own group), random inside each."""
    n = len(groups)
    perm = rng.permutation(n)
    g = np.asarray(groups)[perm]
    _, codes = np.unique(g, return_inverse=True)
    by_group = np.argsort(codes, kind="stable")
    sorted_codes = codes[by_group]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank = np.empty(n, dtype=np.int64)
    rank[by_group] = np.arange(n) - np.repeat(starts, sizes)
    group_turn = rng.permutation(len(starts))[codes]  # which group goes first in each round
    return perm[np.lexsort((group_turn, rank))]


def diverse_order(vectors: np.ndarray, rng: np.random.Generator, k: int | None = None,
                  tokens: np.ndarray | None = None, token_budget: int | None = None) -> np.ndarray:
    """Farthest-point ordering of up to ``k`` rows (or until ``token_budget`` estimated tokens)."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    limit = n if k is None else min(k, n)
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    first = int(rng.integers(n))
    order = [first]
    total = int(tokens[first]) if tokens is not None else 0
    # Distance of every row to its nearest chosen row (cosine distance = 1 - dot on unit vectors).
    nearest = 1.0 - v @ v[first]
    nearest[first] = -np.inf
    while len(order) < limit and (token_budget is None or total < token_budget):
        nxt = int(np.argmax(nearest))
        if nearest[nxt] == -np.inf:
            break
        order.append(nxt)
        if tokens is not None:
            total += int(tokens[nxt])
        np.minimum(nearest, 1.0 - v @ v[nxt], out=nearest)  # chosen rows stay at -inf
        nearest[nxt] = -np.inf
    return np.asarray(order, dtype=np.int64)


def take_prefix(order: np.ndarray, unit: str, value: float, tokens: np.ndarray) -> np.ndarray:
    """The prefix of ``order`` an amount asks for (``count`` rows or ``tokens`` budget)."""
    if unit == "count":
        return order[: int(value)]
    if unit == "tokens":
        cum = np.cumsum(tokens[order])
        return order[: int(np.searchsorted(cum, value, side="left")) + 1]
    raise ValueError(f"take_prefix does not handle unit {unit!r}")


def interleave(lengths: list[int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Spread components evenly through the training order.

    Row ``i`` of a component with ``n`` rows gets position key ``(i + u) / n``
    (``u`` a seeded offset per component); sorting by the key interleaves the
    components in proportion to their sizes instead of concatenating them.
    Returns ``(component index, row index within component)`` in final order.
    """
    comp = np.repeat(np.arange(len(lengths)), lengths)
    idx = np.concatenate([np.arange(n) for n in lengths]) if lengths else np.zeros(0, dtype=np.int64)
    offsets = rng.random(len(lengths))
    sizes = np.asarray(lengths, dtype=np.float64)
    key = (idx + offsets[comp]) / np.maximum(sizes[comp], 1)
    order = np.lexsort((comp, key))
    return comp[order], idx[order]
