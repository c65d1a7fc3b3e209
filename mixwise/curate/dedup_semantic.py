"""Semantic near-duplicates: pairs of embeddings whose cosine reaches a threshold, via faiss.

Vectors are L2-normalised (``mixwise.curate.embed``), so inner product is
cosine. Up to ``EXACT_LIMIT`` vectors per scope are searched exhaustively
(``IndexFlatIP.range_search``); larger scopes use an IVF index with a seeded
training sample, which trades a little recall for near-linear time.
``groups`` restricts the search to within each group (e.g. topic clusters).
"""

from __future__ import annotations

import numpy as np

EXACT_LIMIT = 50_000


def _range_pairs(vectors: np.ndarray, threshold: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import faiss

    n, d = vectors.shape
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if n <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = int(4 * np.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        train = x[np.sort(rng.choice(n, size=min(n, nlist * 40), replace=False))]
        index.cp.seed = seed
        index.train(train)
        index.nprobe = 8
    index.add(x)
    us, vs, ss = [], [], []
    step = 8192
    for start in range(0, n, step):
        lims, sims, labels = index.range_search(x[start : start + step], float(threshold))
        counts = np.diff(lims).astype(np.int64)
        q = np.repeat(np.arange(start, start + len(counts)), counts)
        keep = labels > q  # each pair once, no self matches
        us.append(q[keep])
        vs.append(labels[keep])
        ss.append(sims[keep])
    return np.concatenate(us), np.concatenate(vs).astype(np.int64), np.concatenate(ss)


def semantic_pairs(
    vectors: np.ndarray, threshold: float = 0.95, groups: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(u, v, cosine)`` for every pair with cosine >= threshold (within each group when given)."""
    if len(vectors) < 2:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32)
    if groups is None:
        return _range_pairs(vectors, threshold, seed)
    us, vs, ss = [], [], []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if len(members) < 2:
            continue
        u, v, s = _range_pairs(vectors[members], threshold, seed)
        us.append(members[u])
        vs.append(members[v])
        ss.append(s)
    if not us:
        return semantic_pairs(vectors[:0], threshold)
    return np.concatenate(us), np.concatenate(vs), np.concatenate(ss)
