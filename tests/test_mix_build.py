"""Selection rules on a synthetic scored table: dedup, strategies, amounts, shortfall, order."""

from __future__ import annotations

import polars as pl
import pytest

from mixwise.errors import SpecError
from mixwise.mixing.build import select
from mixwise.mixing.filters import TOKENS_COL, with_tokens
from mixwise.mixing.spec import parse_spec
from mixwise.mixing.synthetic import synthetic_scored


@pytest.fixture(scope="module")
def table():
    return synthetic_scored(4000, seed=7, clusters=8, dup_rate=0.2)


def run(table, components, **top):
    return select(parse_spec({"name": "t", "seed": top.pop("seed", 5), "components": components, **top}), table)


def test_dedup_drops_listed_kinds_but_keeps_representatives(table):
    sel = run(table, [{"name": "all", "repeat": 1}], dedup={"drop": ["exact", "near"]})
    s = sel.samples
    assert s.filter(pl.col("dup_kind").is_in(["exact", "near"]) & ~pl.col("dup_keep")).height == 0
    assert s.filter(pl.col("dup_kind") == "semantic").height > 0  # not listed: kept
    expected = table.filter(pl.col("dup_kind").is_in(["exact", "near"]) & ~pl.col("dup_keep"))
    assert sel.dedup["dropped_total"] == expected.height == table.height - s.height
    assert sel.dedup["dropped"] == dict(sorted(expected.group_by("dup_kind").len().iter_rows()))


def test_per_cluster_takes_equal_counts_per_cluster(table):
    s = run(table, [{"name": "c", "filter": {"source": "alpha"}, "count": 80, "strategy": "per_cluster"}]).samples
    counts = s.group_by("cluster").len()["len"].to_list()
    assert len(counts) == 8 and set(counts) == {10}


def test_top_takes_the_highest_scores(table):
    s = run(table, [{"name": "t", "filter": {"style": "concise"}, "count": 50, "strategy": "top", "by": "quality"}]).samples
    rest = table.filter((pl.col("style") == "concise") & ~pl.col("id").is_in(s["id"].implode()))
    assert s.height == 50 and s["quality"].min() >= rest["quality"].max()


def test_tokens_amount_is_the_shortest_prefix_reaching_the_budget(table):
    s = run(table, [{"name": "t", "filter": {"source": "beta"}, "tokens": 20_000}]).samples
    tok = s[TOKENS_COL]
    assert tok.sum() >= 20_000 and tok.sum() - tok.max() < 20_000


def test_share_resolves_against_size_and_size_is_enforced(table):
    sel = run(table, [{"name": "a", "filter": {"source": "alpha"}, "share": 0.25}, {"name": "b", "count": 300}], size={"samples": 400})
    assert [c["selected"] for c in sel.components] == [100, 300]
    with pytest.raises(SpecError, match="ask for 500 samples but size is 400"):
        run(table, [{"name": "a", "filter": {"source": "alpha"}, "share": 0.5}, {"name": "b", "count": 300}], size={"samples": 400})


def test_shortfall_is_an_error_unless_allowed(table):
    n = table.filter(pl.col("cluster") == 3, pl.col("style") == "code").height
    comp = {"name": "few", "filter": {"cluster": [3], "style": "code"}, "count": n + 7}
    with pytest.raises(SpecError, match=f"short by 7;") as e:
        run(table, [comp])
    assert "shortfall: allow" in e.value.line()
    sel = run(table, [{**comp, "shortfall": "allow"}])
    assert sel.components[0]["shortfall"] == 7 and sel.samples.height == n


def test_later_components_never_retake_rows_and_repeat_repeats(table):
    sel = run(table, [{"name": "a", "filter": {"cluster": [1]}, "count": 100}, {"name": "b", "filter": {"cluster": [1, 2]}, "repeat": 2}])
    s = sel.samples
    a_ids = set(s.filter(pl.col("component") == "a")["id"])
    b = s.filter(pl.col("component") == "b")
    assert not a_ids & set(b["id"])
    assert set(b.group_by("id").len()["len"].to_list()) == {2}
    assert b["id"].n_unique() == table.filter(pl.col("cluster").is_in([1, 2])).height - 100


def test_filters_bounds_exclude_labels_and_ids(table):
    ids = table["id"].head(30).to_list()
    s = run(table, [{"name": "f", "filter": {"ids": ids, "exclude": {"cluster": ["topic 2"]}}, "repeat": 1}]).samples
    assert set(s["id"]) == set(table.head(30).filter(pl.col("cluster") != 2)["id"])
    s = run(table, [{"name": "f", "filter": {"response_chars": {"min": 300, "max": 900}, "tokens": {"max": 400}}, "repeat": 1}]).samples
    assert s["response_chars"].min() >= 300 and s["response_chars"].max() <= 900 and s[TOKENS_COL].max() <= 400


def test_exact_dedup_without_the_dedup_stage_uses_content_hashes(table):
    bare = table.drop("dup_group", "dup_of", "dup_kind", "dup_keep").head(100)
    doubled = pl.concat([bare, bare.head(10).with_columns(("x" + pl.col("id")).alias("id"))])
    sel = run(doubled, [{"name": "all", "repeat": 1}], dedup={"drop": ["exact"]})
    assert sel.samples.height == 100 and sel.dedup["dropped"] == {"exact": 10} and "exact_from" in sel.dedup


def test_token_estimate_counts_every_turn():
    t = with_tokens(pl.DataFrame({
        "prompt_chars": [8, 4], "response_chars": [4, 4], "n_turns": [1, 2], "system": [None, "abcd"],
        "messages": [[{"role": "user", "content": "a" * 8}, {"role": "assistant", "content": "b" * 4}],
                     [{"role": "user", "content": "c" * 4}, {"role": "assistant", "content": "d" * 4},
                      {"role": "user", "content": "e" * 8}, {"role": "assistant", "content": "f" * 9}]]}))
    assert t[TOKENS_COL].to_list() == [3, 8]  # ceil(12/4), ceil((4+4+8+9+4)/4)


def test_top_by_token_count(table):
    s = run(table, [{"name": "longest", "filter": {"source": "gamma"}, "count": 5, "strategy": "top", "by": TOKENS_COL}]).samples
    rest = with_tokens(table.filter(pl.col("source") == "gamma", ~pl.col("id").is_in(s["id"].implode())))
    assert s[TOKENS_COL].min() >= rest[TOKENS_COL].max()


def test_share_of_a_token_size_becomes_a_token_budget(table):
    sel = run(table, [{"name": "a", "filter": {"source": "alpha"}, "share": 0.5}], size={"tokens": 40_000})
    rec = sel.components[0]
    assert rec["resolved"] == {"tokens": 20_000} and rec["tokens"] >= 20_000
    assert sel.samples[TOKENS_COL].sum() - sel.samples[TOKENS_COL].max() < 20_000


def test_diverse_order_is_farthest_point_and_respects_token_budget():
    import numpy as np

    from mixwise.mixing.strategies import diverse_order

    rng = np.random.default_rng(0)
    v = rng.standard_normal((300, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    order = diverse_order(v, np.random.default_rng(1), k=20)
    assert len(set(order.tolist())) == 20
    for i in range(1, 20):
        dist = 1 - (v @ v[order[:i]].T).max(axis=1)
        dist[order[:i]] = -1
        assert np.isclose(dist[order[i]], dist.max(), atol=1e-5)
    tokens = rng.integers(1, 50, 300)
    by_budget = diverse_order(v, np.random.default_rng(1), tokens=tokens, token_budget=200)
    assert tokens[by_budget].sum() >= 200 and tokens[by_budget[:-1]].sum() < 200
    assert by_budget.tolist() == order[: len(by_budget)].tolist()


def test_include_and_exclude_sub_filters(table):
    f = {"include": {"style": ["concise", "code"], "cluster": [1, 2, 3]}, "exclude": {"style": "code", "cluster": [3]}}
    s = run(table, [{"name": "f", "filter": f, "repeat": 1}]).samples
    expected = table.filter(pl.col("style").is_in(["concise", "code"]), pl.col("cluster").is_in([1, 2, 3]),
                            ~((pl.col("style") == "code") & (pl.col("cluster") == 3)))
    assert sorted(s["id"]) == sorted(expected["id"]) and expected.height > 0
