"""Mixture properties under random specs (hypothesis): no duplicates unless repeat, counts honoured,
deterministic order for a seed, components interleaved rather than concatenated."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl
from hypothesis import given, settings, strategies as hs

from mixwise.mixing.build import select
from mixwise.mixing.spec import parse_spec
from mixwise.mixing.synthetic import synthetic_scored

SOURCES = ("alpha", "beta", "gamma", "delta")


@lru_cache(maxsize=4)
def table(seed: int) -> pl.DataFrame:
    return synthetic_scored(600, seed=seed, sources=SOURCES, clusters=6, dup_rate=0.1)


component = hs.fixed_dictionaries({
    "source": hs.sampled_from(SOURCES),
    "count": hs.integers(1, 60),
    "strategy": hs.sampled_from(["random", "per_cluster", "top"]),
})


@settings(max_examples=40, deadline=None)
@given(hs.lists(component, min_size=1, max_size=4, unique_by=lambda c: c["source"]), hs.integers(0, 2**31), hs.integers(0, 2),
       hs.booleans())
def test_counts_uniqueness_and_determinism(comps, seed, tseed, dedup):
    spec = parse_spec({"name": "p", "seed": seed, "dedup": {"drop": ["exact", "near"] if dedup else []}, "components": [
        {"name": f"c{i}", "filter": {"source": c["source"]}, "count": c["count"], "strategy": c["strategy"],
         **({"by": "quality"} if c["strategy"] == "top" else {})} for i, c in enumerate(comps)]})
    t = table(tseed)
    sel = select(spec, t)
    s = sel.samples
    assert s["id"].n_unique() == s.height  # no sample twice without repeat
    for c, rec in zip(comps, sel.components):
        got = s.filter(pl.col("component") == rec["name"])
        assert got.height == rec["selected"] == c["count"]  # every source here has far more than 60 rows
        assert set(got["source"]) == {c["source"]}
    again = select(spec, t).samples
    assert again["id"].to_list() == s["id"].to_list()  # same seed, same order


@settings(max_examples=30, deadline=None)
@given(hs.lists(hs.integers(5, 120), min_size=2, max_size=4), hs.integers(0, 2**31))
def test_components_are_interleaved_in_proportion(counts, seed):
    spec = parse_spec({"name": "p", "seed": seed, "components": [
        {"name": f"c{i}", "filter": {"source": SOURCES[i]}, "count": n} for i, n in enumerate(counts)]})
    comp = select(spec, table(0)).samples["component"].to_list()
    total = len(comp)
    for i, n in enumerate(counts):
        hits = np.cumsum([c == f"c{i}" for c in comp])
        expected = np.arange(1, total + 1) * n / total
        # In every prefix of the training order each component holds its share, within 2 rows.
        assert np.abs(hits - expected).max() <= 2.0, (i, counts)


@settings(max_examples=20, deadline=None)
@given(hs.integers(1, 3), hs.integers(1, 40), hs.integers(0, 2**31))
def test_repeat_is_the_only_way_to_duplicate(times, n, seed):
    ids = table(1)["id"].head(n).to_list()
    spec = parse_spec({"name": "r", "seed": seed, "components": [
        {"name": "once", "filter": {"ids": ids[: n // 2 or 1]}, "count": n // 2 or 1},
        {"name": "again", "filter": {"ids": ids}, "repeat": times}]})
    s = select(spec, table(1)).samples
    per_id = dict(s.group_by("id").len().iter_rows())
    first = set(ids[: n // 2 or 1])
    assert all(per_id[i] == (1 if i in first else times) for i in ids)
