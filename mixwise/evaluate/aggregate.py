"""Aggregates of per-item scores: task means with standard errors, groups (MMLU), the Gauntlet composite.

The Gauntlet composite (llm-foundry's Eval Gauntlet): each task's score has its
random-guess baseline subtracted and is rescaled so that 1 stays 1,
``(score - baseline) / (1 - baseline)``; tasks are averaged within their
category, and the categories are averaged. A group (MMLU's 57 subjects) first
collapses to one task: the item-weighted mean, as lm-evaluation-harness reports
``mmlu``. Standard errors assume independent items and tasks.

Example: ``gauntlet_composite({"arc_easy": {"score": .3, "stderr": .01, "category": "world_knowledge", "random_baseline": .25}})``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    """(mean, standard error of the mean) with the sample standard deviation, as lm-eval computes it."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def group_average(members: Mapping[str, Mapping[str, Any]], metric: str = "acc") -> dict[str, Any]:
    """Item-weighted mean of the members' ``metric`` (and the unweighted mean over members)."""
    total = sum(m["n"] for m in members.values())
    if not total:
        return {"n": 0, metric: float("nan"), f"{metric}_stderr": float("nan"), f"{metric}_macro": float("nan"), "members": 0}
    mean = sum(m[metric] * m["n"] for m in members.values()) / total
    var = sum((m["n"] * _nz(m.get(f"{metric}_stderr"))) ** 2 for m in members.values()) / total**2
    macro = sum(m[metric] for m in members.values()) / len(members)
    return {"n": total, metric: mean, f"{metric}_stderr": math.sqrt(var), f"{metric}_macro": macro, "members": len(members)}


def rescale(score: float, baseline: float) -> float:
    """Accuracy above chance, rescaled so the maximum stays 1."""
    return (score - baseline) / (1.0 - baseline)


def gauntlet_composite(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per-category and average composite from ``{task: {score, stderr, category, random_baseline}}``.

    Entries without a category are ignored (they are not part of the Gauntlet).
    """
    cats: dict[str, dict[str, dict[str, float]]] = {}
    for name, e in entries.items():
        if not e["category"]:
            continue
        b = float(e["random_baseline"])
        cats.setdefault(e["category"], {})[name] = {
            "score": e["score"], "baseline": b,
            "rescaled": rescale(e["score"], b), "stderr": _nz(e["stderr"]) / (1.0 - b),
        }
    categories = {}
    for cat, tasks in sorted(cats.items()):
        k = len(tasks)
        categories[cat] = {
            "score": sum(t["rescaled"] for t in tasks.values()) / k,
            "stderr": math.sqrt(sum(t["stderr"] ** 2 for t in tasks.values())) / k,
            "tasks": tasks,
        }
    if not categories:
        return {"average": float("nan"), "stderr": float("nan"), "categories": {}}
    k = len(categories)
    return {
        "average": sum(c["score"] for c in categories.values()) / k,
        "stderr": math.sqrt(sum(c["stderr"] ** 2 for c in categories.values())) / k,
        "categories": categories,
    }


def _nz(x: float | None) -> float:
    """A missing or NaN standard error counts as 0 in sums (one-item tasks have none)."""
    return 0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
