"""Judge arithmetic on hand-made judgments: parsers, position swapping, bootstrap CI, length control."""

from __future__ import annotations

import numpy as np
import pytest

from mixwise.evaluate import judge_stats as st
from mixwise.evaluate.judge import summarize
from mixwise.evaluate.judges import load_judge, parse_score, parse_verdict


@pytest.mark.parametrize("text,expected", [
    ("Answer B is more complete.\nVerdict: B", "B"),
    ("verdict: **A**", "A"),
    ("Both are fine.\nVerdict: tie", "tie"),
    ("A", "A"),
    ("Verdict: A ... wait, on reflection Verdict: B", "B"),
    ("I like the second one better", None),
    ("", None),
])
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize("text,lo,hi,expected", [
    ("Clear and correct.\nScore: 5", 1, 6, 5.0),
    ("Rating: [[8]]", 1, 10, 8.0),
    ("Score: 9", 1, 6, None),  # outside the scale is not a score
    ("4", 1, 6, 4.0),
    ("It is pretty good", 1, 6, None),
])
def test_parse_score(text, lo, hi, expected):
    assert parse_score(text, lo, hi) == expected


def _pairwise_item(i, v_model_first, v_baseline_first, len_diff=0, category="all"):
    js = []
    for role, v, slot in (("model_first", v_model_first, "A"), ("baseline_first", v_baseline_first, "B")):
        js.append({"repeat": 0, "role": role, "status": "ok" if v else "unparsable", "value": v, "attempts": 1,
                   "model_pref": st.pairwise_pref(v, slot)})
    return {"id": str(i), "category": category, "len_diff": len_diff, "judgments": js}


def test_position_swap_arithmetic():
    judge = load_judge("pairwise")
    items = [
        _pairwise_item(0, "A", "B"),      # model wins in both orders -> 1.0, consistent
        _pairwise_item(1, "A", "A"),      # judge always picks slot A -> 0.5, inconsistent
        _pairwise_item(2, "tie", "B"),    # tie then win -> 0.75, inconsistent
        _pairwise_item(3, "B", "A"),      # baseline wins in both orders -> 0.0, consistent
        _pairwise_item(4, "A", None),     # second order unparsable -> 1.0 from the one parsed order
    ]
    s = summarize(judge, items, bootstrap=200)
    assert [it["pref"] for it in items] == [1.0, 0.5, 0.75, 0.0, 1.0]
    assert s["win_rate"] == pytest.approx(100 * (1 + 0.5 + 0.75 + 0 + 1) / 5)
    assert s["position"]["pairs_with_both_orders"] == 4
    assert s["position"]["position_consistency"] == pytest.approx(2 / 4)
    # decisive verdicts: A,B, A,A, B, B,A, A -> 5 of 8 pick slot A
    assert s["position"]["first_slot_rate"] == pytest.approx(5 / 8)
    assert s["parse"]["unparsable"] == 1 and s["parse"]["ok"] == 9
    assert (s["wins"], s["ties"], s["losses"]) == (3, 1, 1)


def test_single_judge_prefs_from_scores():
    judge = load_judge("likert")
    def item(m, b):
        return {"id": "x", "category": "c", "len_diff": 0, "judgments": [
            {"repeat": 0, "role": "model", "status": "ok", "value": m, "attempts": 1},
            {"repeat": 0, "role": "baseline", "status": "ok", "value": b, "attempts": 1}]}
    s = summarize(judge, [item(5, 3), item(4, 4), item(2, 6)], bootstrap=200)
    assert s["win_rate"] == pytest.approx(50.0)
    assert s["model_score"]["mean"] == pytest.approx(11 / 3)
    assert s["baseline_score"]["mean"] == pytest.approx(13 / 3)


def test_bootstrap_ci_brackets_the_estimate_and_narrows_with_n():
    rng = np.random.default_rng(1)
    small = (rng.random(40) < 0.7).astype(float)
    large = (rng.random(1000) < 0.7).astype(float)
    lo_s, hi_s = st.bootstrap_ci(small, seed=0)
    lo_l, hi_l = st.bootstrap_ci(large, seed=0)
    assert lo_s <= st.win_rate(small) <= hi_s
    assert lo_l <= st.win_rate(large) <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 3
    assert st.bootstrap_ci(small, seed=0) == (lo_s, hi_s)  # seeded: reproducible


def test_bootstrap_ci_coverage():
    rng = np.random.default_rng(7)
    hits = 0
    for rep in range(120):
        sample = (rng.random(150) < 0.6).astype(float)
        lo, hi = st.bootstrap_ci(sample, n=400, seed=rep)
        hits += lo <= 60.0 <= hi
    assert 0.85 <= hits / 120 <= 0.995


def test_length_controlled_win_rate_removes_a_pure_length_preference():
    rng = np.random.default_rng(0)
    n = 400
    # the model is longer on 80% of items; a judge that only rewards length gives it ~80%
    longer = rng.random(n) < 0.8
    len_diff = np.where(longer, rng.integers(50, 800, n), -rng.integers(50, 800, n)).astype(float)
    prefs = np.where(rng.random(n) < np.where(len_diff > 0, 0.9, 0.1), 1.0, 0.0)
    raw, lc = st.win_rate(prefs), st.lc_win_rate(prefs, len_diff)
    assert raw > 70
    assert 35 < lc < 65, (raw, lc)
    assert st.fit_length_model(prefs, len_diff)[1] > 1  # a clear positive length slope


def test_length_controlled_win_rate_keeps_a_length_independent_preference():
    rng = np.random.default_rng(3)
    n = 500
    len_diff = rng.normal(0, 300, n)
    prefs = (rng.random(n) < 0.7).astype(float)
    assert abs(st.lc_win_rate(prefs, len_diff) - st.win_rate(prefs)) < 5
    assert st.lc_win_rate(np.ones(50), rng.normal(0, 100, 50)) > 95  # all wins stays near 100 (finite fit)


def test_ties_count_half_and_categories():
    prefs = [1, 0.5, 0, 1]
    assert st.win_rate(prefs) == pytest.approx(62.5)
    cats = st.by_category(prefs, ["a", "a", "b", "a"])
    assert list(cats) == ["a", "b"] and cats["a"] == {"n": 3, "win_rate": pytest.approx(250 / 3)}


def test_repeat_spread():
    arr = np.array([[1, 0, 1, 0.5], [1, 1, 1, 0.5], [1, 0, 0, 0.5]])
    s = st.repeat_spread(arr)
    assert s["repeats"] == 3 and s["items_changed"] == 2
    assert s["win_rate_per_repeat"] == pytest.approx([62.5, 87.5, 37.5])
    assert s["win_rate_sd"] == pytest.approx(np.std([62.5, 87.5, 37.5]))
