"""The numpy MinHash + LSH engine: word hashing, signature accuracy, banding, union-find."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mixwise.curate.dedup_minhash import MinHasher, candidate_pairs, components, estimate_jaccard, near_pairs, optimal_bands


def _words(rng: np.random.Generator, n: int) -> list[str]:
    return [f"w{int(x)}" for x in rng.integers(0, 50_000, n)]


def test_shingles_do_not_depend_on_position_or_neighbours():
    h = MinHasher(shingle=2)
    a, da = h.shingles(pl.Series(["alpha beta gamma"]))
    b, db = h.shingles(pl.Series(["x", "", "zz alpha beta gamma", "alpha beta gamma"]))
    assert a.tolist() == b[db == 3].tolist()  # same text, same shingles, wherever it sits
    assert set(a.tolist()) < set(b[db == 2].tolist())  # "alpha beta", "beta gamma" also inside the longer text
    assert db.tolist().count(1) == 0  # an empty text has no shingles
    assert db.tolist().count(0) == 1  # a text shorter than the shingle is one shingle


def test_signature_estimates_true_jaccard():
    rng = np.random.default_rng(1)
    h = MinHasher(num_perm=256, shingle=1, seed=3)
    texts, truth = [], []
    for j in np.linspace(0.1, 0.95, 18):
        common, extra = int(200 * j), int(200 * (1 - j) / 2)
        base = _words(rng, common + 2 * extra)
        if len(set(base)) != len(base):
            base = list(dict.fromkeys(base))
        shared, a_only, b_only = base[:common], base[common : common + extra], base[common + extra :]
        texts += [" ".join(shared + a_only), " ".join(shared + b_only)]
        truth.append(len(shared) / (len(shared) + len(a_only) + len(b_only)))
    sig, has = h.signatures(pl.Series(texts))
    assert has.all()
    est = estimate_jaccard(sig, np.arange(0, len(texts), 2), np.arange(1, len(texts), 2))
    err = np.abs(est - np.array(truth))
    # Standard error of a 256-slot estimate is <= 0.032; allow ~3.5 sigma per pair and a tight mean.
    assert err.max() < 0.11 and err.mean() < 0.035, (err.max(), err.mean())


def test_seeds_change_signatures_and_same_seed_repeats():
    texts = pl.Series(["the cat sat on the mat today", "a completely different sentence here"])
    s0, _ = MinHasher(seed=0).signatures(texts)
    s0b, _ = MinHasher(seed=0).signatures(texts)
    s1, _ = MinHasher(seed=1).signatures(texts)
    assert np.array_equal(s0, s0b) and not np.array_equal(s0, s1)


def test_optimal_bands_fit_and_match_the_classic_choice():
    b, r = optimal_bands(0.7, 128)
    assert b * r <= 128
    assert (b, r) == (14, 9)  # the FP/FN-balanced optimum at 0.7 with 128 permutations
    b2, r2 = optimal_bands(0.9, 128)
    assert r2 > r  # a higher threshold needs longer bands


def test_candidate_pairs_cover_small_buckets_fully_and_big_ones_linearly():
    keys = np.array([[5], [5], [7], [5], [9], [7]], dtype=np.uint64)
    u, v = candidate_pairs(keys, np.ones(6, bool))
    assert set(zip(u.tolist(), v.tolist())) == {(0, 1), (0, 3), (1, 3), (2, 5)}
    big = np.zeros((1000, 1), np.uint64)
    u, v = candidate_pairs(big, np.ones(1000, bool), window=4)
    assert len(u) < 1000 * 5  # star + window, not 499,500 pairs


def _python_union_find(n, edges):
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_components_match_a_plain_union_find(seed):
    rng = np.random.default_rng(seed)
    n = 500
    u, v = rng.integers(0, n, 400), rng.integers(0, n, 400)
    lab = components(n, u, v)
    ref = _python_union_find(n, zip(u.tolist(), v.tolist()))
    assert lab.tolist() == ref  # the label is the smallest index of the component, like the reference
    more = components(n, np.array([0]), np.array([n - 1]), lab)
    assert more[n - 1] == more[0] == 0


def test_near_pairs_find_edits_and_ignore_shared_boilerplate():
    rng = np.random.default_rng(0)
    base = [" ".join(_words(rng, 60)) for _ in range(40)]
    prompts = [" ".join(_words(rng, 12)) for _ in range(40)]
    edited = [b.replace(b.split()[10], "typo", 1) for b in base]
    p = pl.Series(prompts + prompts)
    r = pl.Series(base + edited)
    res = near_pairs(p, r, threshold=0.7)
    assert set(zip(res.u.tolist(), res.v.tolist())) == {(i, i + 40) for i in range(40)}
    # Same long response, different prompts: the pair is similar, the prompt half is not.
    same_r = near_pairs(pl.Series(prompts[:2]), pl.Series([base[0], base[0]]), threshold=0.5, half_threshold=0.5)
    assert len(same_r.u) == 0
    assert len(near_pairs(pl.Series(prompts[:2]), pl.Series([base[0], base[0]]), threshold=0.5, half_threshold=0).u) == 1


def test_semantic_pairs_flat_and_ivf_find_planted_copies(monkeypatch):
    from mixwise.curate import dedup_semantic

    rng = np.random.default_rng(0)
    base = rng.normal(size=(3000, 32)).astype(np.float32)
    copies = base[:60] + 0.05 * rng.normal(size=(60, 32)).astype(np.float32)
    x = np.vstack([base, copies])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    planted = {(i, 3000 + i) for i in range(60)}
    u, v, s = dedup_semantic.semantic_pairs(x, 0.95)
    assert set(zip(u.tolist(), v.tolist())) == planted and (s >= 0.95).all()
    monkeypatch.setattr(dedup_semantic, "EXACT_LIMIT", 1000)  # force the IVF index used above 50k vectors
    u, v, _ = dedup_semantic.semantic_pairs(x, 0.95)
    found = set(zip(u.tolist(), v.tolist()))
    assert found <= planted and len(found) >= 54  # approximate search: at least 90% of the planted pairs
    groups = np.r_[np.zeros(3000, int), np.ones(60, int)]  # copies in another group: never compared
    assert len(dedup_semantic.semantic_pairs(x, 0.95, groups)[0]) == 0
