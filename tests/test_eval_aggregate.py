"""Aggregation arithmetic, checked against hand-computed examples."""

from __future__ import annotations

import math

import pytest

from mixwise.evaluate.aggregate import gauntlet_composite, group_average, mean_stderr, rescale
from mixwise.evaluate.mc import aggregate, normalize_answer, score_choices


def test_mean_stderr_uses_the_sample_standard_deviation():
    # mean 0.75; sample variance ((3 * 0.25^2) + 0.75^2) / 3 = 0.25; se = sqrt(0.25 / 4) = 0.25
    mean, se = mean_stderr([1, 0, 1, 1])
    assert mean == pytest.approx(0.75) and se == pytest.approx(0.25)
    assert math.isnan(mean_stderr([1.0])[1])


def test_rescale_is_the_gauntlet_example():
    # the reference's example: 30% on a 25%-baseline task -> (0.3 - 0.25) / 0.75 = 0.0667
    assert rescale(0.30, 0.25) == pytest.approx(0.0666667, abs=1e-6)
    assert rescale(0.40, 0.0) == pytest.approx(0.40)


def test_gauntlet_composite_by_hand():
    entries = {
        "a": {"score": 0.30, "stderr": 0.02, "category": "world_knowledge", "random_baseline": 0.25},
        "b": {"score": 0.50, "stderr": 0.01, "category": "world_knowledge", "random_baseline": 0.0},
        "c": {"score": 0.75, "stderr": 0.05, "category": "language_understanding", "random_baseline": 0.5},
        "not_gauntlet": {"score": 0.9, "stderr": 0.1, "category": None, "random_baseline": 0.0},
    }
    g = gauntlet_composite(entries)
    wk = g["categories"]["world_knowledge"]
    assert wk["score"] == pytest.approx((0.0666667 + 0.5) / 2, abs=1e-6)  # 0.283333
    assert wk["stderr"] == pytest.approx(math.sqrt((0.02 / 0.75) ** 2 + 0.01**2) / 2)  # 0.014240
    lu = g["categories"]["language_understanding"]
    assert lu["score"] == pytest.approx(0.5) and lu["stderr"] == pytest.approx(0.1)
    assert g["average"] == pytest.approx((0.283333 + 0.5) / 2, abs=1e-6)  # 0.391667
    assert set(g["categories"]) == {"world_knowledge", "language_understanding"}


def test_group_average_is_item_weighted():
    members = {"s1": {"n": 10, "acc": 0.5, "acc_stderr": 0.1}, "s2": {"n": 30, "acc": 0.8, "acc_stderr": 0.05}}
    g = group_average(members)
    assert g["acc"] == pytest.approx((5 + 24) / 40)  # 0.725, not the macro 0.65
    assert g["acc_macro"] == pytest.approx(0.65)
    assert g["acc_stderr"] == pytest.approx(math.sqrt((10 * 0.1) ** 2 + (30 * 0.05) ** 2) / 40)
    assert g["n"] == 40 and g["members"] == 2


def test_mmlu_collapses_to_one_world_knowledge_task():
    mk = lambda acc, n, grp=None, cat="world_knowledge", b=0.25: {  # noqa: E731
        "n": n, "acc": acc, "acc_stderr": 0.0, "acc_norm": acc, "acc_norm_stderr": 0.0, "score": acc, "metric": "acc",
        "group": grp, "category": cat, "random_baseline": b}
    out = aggregate({"mmlu_x": mk(0.5, 10, "mmlu"), "mmlu_y": mk(0.25, 30, "mmlu"), "arc_easy": mk(0.55, 20)})
    assert out["groups"]["mmlu"]["acc"] == pytest.approx((5 + 7.5) / 40)  # 0.3125
    wk = out["gauntlet"]["categories"]["world_knowledge"]["tasks"]
    assert set(wk) == {"mmlu", "arc_easy"}
    assert wk["mmlu"]["rescaled"] == pytest.approx((0.3125 - 0.25) / 0.75)
    assert wk["arc_easy"]["rescaled"] == pytest.approx(0.4)


def test_acc_and_acc_norm_like_lm_eval():
    # acc: argmax of summed log-likelihoods; acc_norm: divided by choice length in characters
    r = score_choices([-10.0, -12.0, -9.0], ["a", "bbbb", "cc"], gold=1)
    assert (r["pred"], r["pred_norm"], r["acc"], r["acc_norm"]) == (2, 1, 0.0, 1.0)  # -10, -3, -4.5
    tie = score_choices([-5.0, -5.0], ["xx", "yy"], gold=0)  # ties go to the first index (np.argmax)
    assert tie["pred"] == 0 and tie["acc"] == 1.0


def test_normalized_exact_match():
    assert normalize_answer("The  Scorpio!") == "scorpio"
    assert normalize_answer("an Apple, a day") == "apple day"
