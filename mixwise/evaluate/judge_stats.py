"""Aggregates over judged items: win rate, bootstrap CIs, length control, categories, consistency.

Inputs are plain arrays so every function can be checked on hand-made judgments:

* ``prefs`` -- the model's preference per item in [0, 1] (win 1, tie 0.5, loss 0;
  the mean of both orders for pairwise judges);
* ``len_diff`` -- len(model answer) - len(baseline answer), in characters.

The length-controlled win rate follows AlpacaEval 2's idea with a smaller
model: a logistic regression of the preference on ``tanh(len_diff / sd)`` plus
an intercept, fitted on soft labels, then predicted at zero length difference
(``sigmoid(intercept)``). A judge that rewards length shows up as a positive
slope, and the intercept is the win rate that length does not explain.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np


def win_rate(prefs) -> float:
    """Percentage of wins, ties counted as half."""
    prefs = np.asarray(prefs, dtype=float)
    return float(prefs.mean() * 100) if prefs.size else float("nan")


def bootstrap_ci(values, stat: Callable[[np.ndarray], float] = win_rate, *, n: int = 2000, seed: int = 0,
                 alpha: float = 0.05, extra=None) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat`` over items (resampled with replacement, seeded).

    With ``extra`` (an array aligned with ``values``), ``stat(values, extra)`` is used.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(n, values.size))
    if extra is None:
        stats = np.array([stat(values[i]) for i in idx])
    else:
        extra = np.asarray(extra, dtype=float)
        stats = np.array([stat(values[i], extra[i]) for i in idx])
    return float(np.nanpercentile(stats, 100 * alpha / 2)), float(np.nanpercentile(stats, 100 * (1 - alpha / 2)))


def _length_feature(len_diff: np.ndarray) -> np.ndarray:
    sd = float(np.std(len_diff))
    return np.tanh(len_diff / sd) if sd > 0 else np.zeros_like(len_diff)


def fit_length_model(prefs, len_diff, *, l2: float = 1e-3, iters: int = 50) -> tuple[float, float]:
    """(intercept, slope) of logit P(model wins) = a + b * tanh(len_diff / sd), by Newton's method on soft labels."""
    y = np.asarray(prefs, dtype=float)
    x = _length_feature(np.asarray(len_diff, dtype=float))
    X = np.column_stack([np.ones_like(x), x])
    w = np.zeros(2)
    n = max(len(y), 1)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) / n + l2 * w  # small ridge keeps the fit finite when every item is a win
        hess = (X * (p * (1 - p))[:, None]).T @ X / n + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def lc_win_rate(prefs, len_diff) -> float:
    """Length-controlled win rate (percent): the fitted win probability at zero length difference."""
    prefs = np.asarray(prefs, dtype=float)
    if prefs.size == 0:
        return float("nan")
    intercept, _ = fit_length_model(prefs, len_diff)
    return float(100 / (1 + np.exp(-intercept)))


def by_category(prefs, categories) -> dict[str, dict]:
    """Win rate and item count per category, largest first."""
    prefs = np.asarray(prefs, dtype=float)
    cats = np.asarray(categories, dtype=object)
    out = {}
    for c in sorted(set(cats.tolist()), key=lambda c: (-int((cats == c).sum()), str(c))):
        sel = prefs[cats == c]
        out[str(c)] = {"n": int(sel.size), "win_rate": win_rate(sel)}
    return out


def pairwise_pref(verdict: str | None, model_slot: str) -> float | None:
    """The model's preference from one pairwise verdict, given the slot ('A'/'B') holding the model's answer."""
    if verdict is None:
        return None
    if verdict == "tie":
        return 0.5
    return 1.0 if verdict == model_slot else 0.0


def position_stats(order_prefs: list[tuple[float | None, float | None]], verdict_pairs: list[tuple[str | None, str | None]]) -> dict:
    """Position consistency (both orders agree, from the model's side) and the judge's rate of picking slot A."""
    both = [(a, b) for a, b in order_prefs if a is not None and b is not None]
    consistent = sum(1 for a, b in both if a == b)
    decisive = [v for pair in verdict_pairs for v in pair if v in ("A", "B")]
    return {
        "pairs_with_both_orders": len(both),
        "position_consistency": consistent / len(both) if both else float("nan"),
        "first_slot_rate": sum(1 for v in decisive if v == "A") / len(decisive) if decisive else float("nan"),
    }


def repeat_spread(per_repeat_prefs: np.ndarray) -> dict:
    """Spread of re-judging: win rate per repeat (rows = repeats, columns = items, NaN = missing)."""
    arr = np.asarray(per_repeat_prefs, dtype=float)
    rates = [float(np.nanmean(r) * 100) for r in arr if np.isfinite(r).any()]
    with warnings.catch_warnings():  # items never judged are all-NaN columns; they are ignored
        warnings.simplefilter("ignore", RuntimeWarning)
        item_sd = np.nanstd(arr, axis=0) if arr.shape[0] > 1 else np.zeros(arr.shape[1])
        changed = int(np.sum(np.nanmax(arr, axis=0) != np.nanmin(arr, axis=0))) if arr.shape[0] > 1 else 0
    return {
        "repeats": int(arr.shape[0]),
        "win_rate_per_repeat": rates,
        "win_rate_sd": float(np.std(rates)) if len(rates) > 1 else 0.0,
        "mean_item_sd": float(np.nanmean(item_sd)) if item_sd.size else 0.0,
        "items_changed": changed,
    }
