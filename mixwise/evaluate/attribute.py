"""Attribution: which change in the mixture went with which change in the scores.

Each trained run (``runs/<run>/``) knows its manifest (its run record), the
manifest knows its composition (shares by style, source, cluster, quality
class), and its evaluations leave per-item records: ``eval mc`` under
``runs/<run>/eval/mc/<label>/``, ``eval judge`` under
``runs/<run>/eval/judge/<baseline>__<judge>__<prompts>/`` (scored as the win
rate against that baseline, a task named ``judge:<set>``). Every read goes
through :mod:`mixwise.records`. ``attribute`` lines these up:

- against the first run (the baseline), every other run's **composition deltas**
  (share points per style / source / cluster / quality class) and **score
  deltas** per task: the paired delta (mean of run - baseline over the items
  both runs scored) with a paired bootstrap confidence interval and the item
  count, and how many items only one side scored;
- a composition axis that one manifest did not record (style before ``mixwise
  style`` ran, ...) is reported as not recorded, never as a shift from 0;
- Benjamini-Hochberg q-values over all those run x task comparisons;
- across runs, the same mixture regression as ``mixwise study fit``
  (:mod:`mixwise.evaluate.mixture_fit`) of each task's score on one axis's
  shares (runs of one manifest are replicates of one mixture): the LIMIT-style
  question "does more multiple-choice data go with a higher MMLU score?". It is
  refused, with the number of mixtures it would need, when there are no more
  distinct mixtures than parameters; then only the pairwise deltas stand. For a
  designed comparison with replicates, use ``mixwise ablate``.

Run it: ``mixwise attribute runs/lima-1k runs/lima-plus-instruct --label gauntlet``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mixwise.errors import InputError, MixwiseError
from mixwise.records import Manifest, RunRecord, not_recorded_hint, read_run_scores

AXES = ("style", "source", "cluster", "quality")


@dataclass
class RunScores:
    """One run: its manifest's composition shares and its per-task scores and per-item results."""

    name: str
    manifest: str
    shares: dict[str, dict[str, float]]  # axis -> key -> share of samples; an axis the manifest did not record is absent
    scores: dict[str, float]  # task -> score (the task's own metric)
    metric: dict[str, str]
    items: dict[str, dict[Any, float]] = field(default_factory=dict)  # task -> item key (mc idx, judge prompt id) -> item score
    unscored: dict[str, str] = field(default_factory=dict)  # task -> why it has no score


def _shares(manifest: Manifest) -> dict[str, dict[str, float]]:
    """Shares per recorded axis (an empty axis counts as not recorded: there is nothing to compare)."""
    out: dict[str, dict[str, float]] = {}
    for axis in AXES:
        shares = manifest.composition.shares(axis)
        if shares:
            out[axis] = shares
    return out


def run_manifest(run_dir: Path, record: RunRecord) -> Manifest:
    """The manifest a run was trained on: where the record says, else ``NAME@VERSION`` in the manifests folder."""
    path = Path(record.manifest.path)
    if (path / "manifest.json").is_file():
        return Manifest.read(path)
    from mixwise.mixing.refs import resolve_manifest

    try:
        return Manifest.read(resolve_manifest(record.manifest.ref))
    except MixwiseError as e:
        raise InputError(f"{run_dir}: its manifest {record.manifest.ref} cannot be found ({e.problem})",
                         "run from the folder that holds manifests/ (or set MIXWISE_MANIFESTS), or restore the manifest") from None


def load_run(run_dir: str | Path, label: str | None = None) -> RunScores:
    """Read a run's record, its manifest's composition, one ``eval mc`` result set and its ``eval judge`` sets."""
    run_dir = Path(run_dir)
    record = RunRecord.read(run_dir)
    manifest = run_manifest(run_dir, record)
    evals = read_run_scores(run_dir, mc_label=label)
    if not evals.tasks:
        raise InputError(f"{run_dir} has no eval results",
                         f"run `mixwise eval mc {run_dir} --tasks ...` or `mixwise eval judge {run_dir} --baseline ...` first")
    tasks = evals.tasks
    return RunScores(run_dir.name, record.manifest.ref, _shares(manifest), {t: s.score for t, s in tasks.items()},
                     {t: s.metric for t, s in tasks.items()}, {t: s.items for t, s in tasks.items()}, dict(evals.unscored))


def paired_delta(a: dict[Any, float], b: dict[Any, float], *, bootstrap: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean of b - a over the items both scored, with a percentile bootstrap 95% interval.

    Also the two sides' means over those items (``a_mean``, ``b_mean``: their
    difference is ``delta``) and how many items only one side scored.
    """
    common = sorted(set(a) & set(b))
    unpaired = {"a": len(set(a) - set(b)), "b": len(set(b) - set(a))}
    if not common:
        return {"delta": None, "lo": None, "hi": None, "p": None, "n": 0, "a_mean": None, "b_mean": None, "unpaired": unpaired}
    d = np.array([b[i] - a[i] for i in common])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(bootstrap, len(d)))].mean(axis=1)
    p = float((1 + (np.abs(means - d.mean()) >= abs(d.mean())).sum()) / (bootstrap + 1))  # centred bootstrap, two-sided
    return {"delta": float(d.mean()), "lo": float(np.quantile(means, 0.025)), "hi": float(np.quantile(means, 0.975)),
            "p": p, "n": len(common), "a_mean": float(np.mean([a[i] for i in common])),
            "b_mean": float(np.mean([b[i] for i in common])), "unpaired": unpaired}


def not_recorded(base: RunScores, other: RunScores) -> dict[str, dict[str, str]]:
    """Axes only one of the two manifests recorded: which side lacks it and what to run."""
    out = {}
    for axis in AXES:
        in_a, in_b = axis in base.shares, axis in other.shares
        if in_a != in_b:
            missing = base if not in_a else other
            out[axis] = {"missing_in": "baseline" if not in_a else "run", "manifest": missing.manifest,
                         "hint": not_recorded_hint(axis)}
    return out


def share_deltas(base: RunScores, other: RunScores, min_points: float = 0.005) -> dict[str, dict[str, float]]:
    """Share changes (fractions) per axis both manifests recorded and key, larger than ``min_points``, biggest first.

    Within a recorded axis a key one side lacks had a share of 0 there; an axis
    only one side recorded is left out (see :func:`not_recorded`).
    """
    out: dict[str, dict[str, float]] = {}
    for axis in AXES:
        if axis not in base.shares or axis not in other.shares:
            continue
        a, b = base.shares[axis], other.shares[axis]
        deltas = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in sorted(set(a) | set(b))}
        deltas = {k: v for k, v in deltas.items() if abs(v) >= min_points}
        if deltas:
            out[axis] = dict(sorted(deltas.items(), key=lambda kv: -abs(kv[1])))
    return out


def composition_fit(runs: list[RunScores], axis: str, *, draws: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Score ~ composition across the runs on one axis, by the study engine (:mod:`mixwise.evaluate.mixture_fit`).

    Runs trained on the same manifest are replicates of one cell (their spread is the
    seed noise); each distinct manifest is a cell. Only tasks every run scored, on the
    items every run scored, take part. With no more distinct cells than the model has
    parameters the fit is refused and only the pairwise deltas stand.
    """
    from mixwise.evaluate.mixture_fit import TaskObs, fit_study

    if any(axis not in r.shares for r in runs):
        missing = [r.name for r in runs if axis not in r.shares]
        return {"axis": axis, "refused": f"the {axis} axis is not recorded for {', '.join(missing)}; {not_recorded_hint(axis)}"}
    cells: list[str] = []
    for r in runs:
        if r.manifest not in cells:
            cells.append(r.manifest)
    keys = sorted(set().union(*(r.shares[axis] for r in runs)))
    first = {c: next(r for r in runs if r.manifest == c) for c in cells}
    x = np.array([[first[c].shares[axis].get(k, 0.0) for k in keys] for c in cells])
    tasks = sorted(set.intersection(*(set(r.items) for r in runs)))
    obs = []
    for t in tasks:
        common = sorted(set.intersection(*(set(r.items[t]) for r in runs)), key=lambda v: (isinstance(v, str), v))
        if not common:
            continue
        y = np.array([[r.items[t][i] for i in common] for r in runs])
        obs.append(TaskObs(t, y, np.array([cells.index(r.manifest) for r in runs]), metric=runs[0].metric[t]))
    if not obs:
        return {"axis": axis, "refused": "no task was scored on the same items by every run"}
    fit = fit_study(x, keys, obs, base=0, draws=draws, seed=seed)
    out: dict[str, Any] = {"axis": axis, "cells": cells, "variables": fit.variables.names, "tested": fit.tested,
                           "moved": fit.moved(0.05), "draws": draws, "tasks": {}}
    for name, tf in fit.tasks.items():
        row: dict[str, Any] = {"n_items": tf.n_items, "replicate_sd": tf.noise["replicate_sd"], "q_any": tf.q_any,
                               "refused": tf.refused, "model": tf.model}
        if tf.model is not None:
            cv = tf.cv.get(tf.model, {})
            row.update(terms=tf.terms, beta=tf.beta.tolist(), lo=tf.beta_lo.tolist(), hi=tf.beta_hi.tolist(),
                       cv_rho=cv.get("rho"), cv_rmse=cv.get("rmse"))
        out["tasks"][name] = row
    if all(r.manifest != runs[0].manifest for r in runs[1:]) and len(cells) == len(runs):
        out["note"] = "each mixture was trained once: training-seed noise is not in these intervals (train replicates with mixwise ablate)"
    return out


def attribute(run_dirs: list[str | Path], *, label: str | None = None, bootstrap: int = 2000, seed: int = 0,
              axis: str | None = None) -> dict[str, Any]:
    """The attribution report for ``run_dirs`` (the first is the baseline).

    Pairwise: every run against the baseline, per task (paired over shared items), with
    Benjamini-Hochberg q-values over all those comparisons. Across runs (three or more
    distinct mixtures): the mixture regression of :func:`composition_fit` on ``axis``
    (default: style when every manifest recorded it, else source), or why it is refused.
    """
    if len(run_dirs) < 2:
        raise InputError("attribution needs at least two runs", "pass a baseline run and one or more runs to compare")
    runs = [load_run(d, label) for d in run_dirs]
    base = runs[0]
    comparisons = []
    for other in runs[1:]:
        tasks = sorted(set(base.scores) & set(other.scores))
        if not tasks:
            raise InputError(f"{base.name} and {other.name} share no evaluated task", "evaluate both on the same tasks")
        deltas = {}
        for t in tasks:
            p = paired_delta(base.items[t], other.items[t], bootstrap=bootstrap, seed=seed)
            deltas[t] = {"metric": other.metric[t], "base": base.scores[t], "score": other.scores[t],
                         "base_paired": p["a_mean"], "score_paired": p["b_mean"], "delta": p["delta"], "lo": p["lo"],
                         "hi": p["hi"], "p": p["p"], "n": p["n"], "unpaired": {"base": p["unpaired"]["a"], "run": p["unpaired"]["b"]}}
        only = {t: "baseline" for t in set(base.scores) - set(other.scores)} | {t: "run" for t in set(other.scores) - set(base.scores)}
        comparisons.append({"run": other.name, "manifest": other.manifest, "composition": share_deltas(base, other),
                            "not_recorded": not_recorded(base, other), "scores": deltas,
                            "tasks_only_in": dict(sorted(only.items())),
                            "unscored": {"baseline": base.unscored, "run": other.unscored}})
    from mixwise.evaluate.mixture_fit import bh

    rows = [s for c in comparisons for s in c["scores"].values()]
    for s, q in zip(rows, bh([np.nan if s["p"] is None else s["p"] for s in rows])):
        s["q"] = None if np.isnan(q) else float(q)
    report: dict[str, Any] = {"baseline": {"run": base.name, "manifest": base.manifest}, "comparisons": comparisons,
                              "seed": seed, "bootstrap": bootstrap, "comparisons_tested": sum(s["p"] is not None for s in rows)}
    if axis is None:
        axis = "style" if all("style" in r.shares for r in runs) else "source"
    if axis not in AXES:
        from mixwise.errors import did_you_mean

        raise InputError(f"unknown composition axis {axis!r}", did_you_mean(axis, AXES))
    report["fit"] = composition_fit(runs, axis, draws=bootstrap, seed=seed)
    return report


__all__ = ["RunScores", "attribute", "composition_fit", "load_run", "not_recorded", "paired_delta", "run_manifest", "share_deltas"]
