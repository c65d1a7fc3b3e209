"""Attribution: which change in the mixture went with which change in the scores.

Each trained run (``runs/<run>/``) knows its manifest (``run.json``), the manifest
knows its composition (shares by style, source, cluster), and ``eval mc`` leaves
per-item records under ``runs/<run>/eval/mc/<label>/``, and ``eval judge``
under ``runs/<run>/eval/judge/<baseline>__<judge>__<prompts>/`` (scored as the
win rate against that baseline, a task named ``judge:<set>``). ``attribute``
lines these up:

- against the first run (the baseline), every other run's **composition deltas**
  (share points per style / source / cluster) and **score deltas** per task,
  with a paired bootstrap confidence interval over the items both runs scored;
- with three runs or more, for every task and composition feature, the
  least-squares slope of score on share and Pearson's r across runs: the
  LIMIT-style question "does more multiple-choice data go with a higher MMLU
  score?". With few runs this is correlation, not proof, and it is reported as
  such (the number of runs is in every row).

Run it: ``mixwise attribute runs/lima-1k runs/lima-plus-instruct --label gauntlet``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mixwise.errors import InputError

AXES = ("style", "source", "cluster", "quality")


@dataclass
class RunScores:
    """One run: its manifest's composition shares and its per-task scores and per-item results."""

    name: str
    manifest: str
    shares: dict[str, dict[str, float]]  # axis -> key -> share of samples
    scores: dict[str, float]  # task -> score (the task's own metric)
    metric: dict[str, str]
    items: dict[str, dict[Any, float]] = field(default_factory=dict)  # task -> item key (mc idx, judge prompt id) -> item score


def _read_json(path: Path, what: str, fix: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}", fix) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not valid JSON ({e})", "re-create it with the command that wrote it") from None


def _shares(manifest: dict) -> dict[str, dict[str, float]]:
    comp = manifest.get("composition", {})
    out: dict[str, dict[str, float]] = {}
    for axis in AXES:
        groups = comp.get(f"by_{axis}")
        if not groups:
            continue
        total = sum(g["samples"] for g in groups.values()) or 1
        label = (lambda k, g: f"{k} {g['label']}" if g.get("label") else k) if axis == "cluster" else (lambda k, g: k)
        out[axis] = {label(k, g): g["samples"] / total for k, g in groups.items()}
    return out


def load_run(run_dir: str | Path, label: str | None = None) -> RunScores:
    """Read a run's record, its manifest's composition, one ``eval mc`` result set and its ``eval judge`` sets."""
    run_dir = Path(run_dir)
    record = _read_json(run_dir / "run.json", "run record", "pass a folder made by `mixwise train` (runs/<run>)")
    man = record.get("manifest") or {}
    man_path = Path(man.get("path", ""))
    if not (man_path / "manifest.json").is_file():
        from mixwise.mixing.refs import resolve_manifest

        try:
            man_path = resolve_manifest(f"{man.get('name')}@{man.get('version')}")
        except Exception as e:  # noqa: BLE001 - any failure means the same thing here
            raise InputError(f"{run_dir}: its manifest {man.get('name')}@{man.get('version')} cannot be found ({e})",
                             "run from the folder that holds manifests/, or restore the manifest") from None
    manifest = _read_json(man_path / "manifest.json", "manifest", "restore the manifest the run was trained on")
    scores: dict[str, float] = {}
    metric: dict[str, str] = {}
    items: dict[str, dict] = {}
    _read_mc(run_dir, label, scores, metric, items)
    _read_judge(run_dir, scores, metric, items)
    if not scores:
        raise InputError(f"{run_dir} has no eval results",
                         f"run `mixwise eval mc {run_dir} --tasks ...` or `mixwise eval judge {run_dir} --baseline ...` first")
    return RunScores(run_dir.name, f"{man.get('name')}@{man.get('version')}", _shares(manifest), scores, metric, items)


def _read_mc(run_dir: Path, label: str | None, scores: dict, metric: dict, items: dict) -> None:
    """Per-task scores and per-item results of one ``eval mc`` result set (``--label`` picks it when there are several)."""
    results_root = run_dir / "eval" / "mc"
    labels = sorted(p.name for p in results_root.iterdir() if (p / "results.json").is_file()) if results_root.is_dir() else []
    if not labels:
        if label is not None:
            raise InputError(f"{run_dir} has no eval mc results (asked for label {label!r})", f"run `mixwise eval mc {run_dir}` first")
        return
    if label is None:
        if len(labels) > 1:
            raise InputError(f"{run_dir} has several eval result sets: {', '.join(labels)}", "choose one with --label")
        label = labels[0]
    if label not in labels:
        raise InputError(f"{run_dir} has no eval result set {label!r}", f"known: {', '.join(labels)}")
    res = _read_json(results_root / label / "results.json", "eval results", "re-run `mixwise eval mc`")
    for task, agg in res.get("tasks", {}).items():
        if agg.get("score") is None:
            continue
        scores[task], metric[task] = float(agg["score"]), agg.get("metric", "acc")
        path = results_root / label / "items" / f"{task}.jsonl"
        if path.is_file():
            recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            items[task] = {int(r["idx"]): float(r.get(metric[task], r.get("acc", 0.0))) for r in recs}


def _read_judge(run_dir: Path, scores: dict, metric: dict, items: dict) -> None:
    """Every ``eval judge`` set of the run as a task ``judge:<baseline>__<judge>__<prompts>``.

    The score is the win rate against that set's baseline as a fraction (ties
    count half); the per-item values are each prompt's preference for the
    model (0, 0.5 or 1, averaged over both orders and repeats), keyed by
    prompt id, so two runs judged on the same prompts pair up item by item.
    """
    root = run_dir / "eval" / "judge"
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if (p / "summary.json").is_file()):
        summary = _read_json(folder / "summary.json", "judge summary", "re-run `mixwise eval judge`")
        if summary.get("win_rate") is None:
            continue  # nothing was scored (budget spent, judge unreachable)
        task = f"judge:{folder.name}"
        scores[task], metric[task] = float(summary["win_rate"]) / 100, "win_rate"
        path = folder / "items.jsonl"
        if path.is_file():
            recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            items[task] = {str(r["id"]): float(r["pref"]) for r in recs if r.get("pref") is not None}


def paired_delta(a: dict[Any, float], b: dict[Any, float], *, bootstrap: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean of b - a over the items both scored, with a percentile bootstrap 95% interval."""
    common = sorted(set(a) & set(b))
    if not common:
        return {"delta": None, "lo": None, "hi": None, "n": 0}
    d = np.array([b[i] - a[i] for i in common])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(bootstrap, len(d)))].mean(axis=1)
    return {"delta": float(d.mean()), "lo": float(np.quantile(means, 0.025)), "hi": float(np.quantile(means, 0.975)), "n": len(common)}


def share_deltas(base: RunScores, other: RunScores, min_points: float = 0.005) -> dict[str, dict[str, float]]:
    """Share changes (fractions) per axis and key, larger than ``min_points``, biggest first."""
    out: dict[str, dict[str, float]] = {}
    for axis in AXES:
        a, b = base.shares.get(axis, {}), other.shares.get(axis, {})
        deltas = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in sorted(set(a) | set(b))}
        deltas = {k: v for k, v in deltas.items() if abs(v) >= min_points}
        if deltas:
            out[axis] = dict(sorted(deltas.items(), key=lambda kv: -abs(kv[1])))
    return out


def associations(runs: list[RunScores], min_spread: float = 0.01) -> list[dict[str, Any]]:
    """Per task and composition feature that varies across runs: slope of score on share, and Pearson's r."""
    rows = []
    tasks = sorted(set.intersection(*(set(r.scores) for r in runs)))
    for axis in AXES:
        keys = sorted(set().union(*(r.shares.get(axis, {}).keys() for r in runs)))
        for key in keys:
            x = np.array([r.shares.get(axis, {}).get(key, 0.0) for r in runs])
            if x.max() - x.min() < min_spread:
                continue
            for task in tasks:
                y = np.array([r.scores[task] for r in runs])
                slope = float(np.polyfit(x, y, 1)[0])
                r = float(np.corrcoef(x, y)[0, 1]) if y.std() > 0 else 0.0
                rows.append({"task": task, "axis": axis, "feature": key, "slope_per_10pts": slope / 10,
                             "r": r, "runs": len(runs), "share_range": [float(x.min()), float(x.max())]})
    return sorted(rows, key=lambda r: (r["task"], -abs(r["r"])))


def attribute(run_dirs: list[str | Path], *, label: str | None = None, bootstrap: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The attribution report for ``run_dirs`` (the first is the baseline)."""
    if len(run_dirs) < 2:
        raise InputError("attribution needs at least two runs", "pass a baseline run and one or more runs to compare")
    runs = [load_run(d, label) for d in run_dirs]
    base = runs[0]
    comparisons = []
    for other in runs[1:]:
        tasks = sorted(set(base.scores) & set(other.scores))
        if not tasks:
            raise InputError(f"{base.name} and {other.name} share no evaluated task", "evaluate both on the same tasks")
        deltas = {t: {"base": base.scores[t], "score": other.scores[t], "metric": other.metric[t],
                      **paired_delta(base.items.get(t, {}), other.items.get(t, {}), bootstrap=bootstrap, seed=seed)}
                  for t in tasks}
        comparisons.append({"run": other.name, "manifest": other.manifest, "composition": share_deltas(base, other), "scores": deltas})
    report: dict[str, Any] = {"baseline": {"run": base.name, "manifest": base.manifest}, "comparisons": comparisons,
                              "seed": seed, "bootstrap": bootstrap}
    if len(runs) >= 3:
        report["associations"] = associations(runs)
    return report


def demo_step(ctx) -> None:
    """Demo: attribute the score changes of the demo's runs to their mixtures (the first run is the baseline)."""
    from mixwise.evaluate.attribute_view import render_report

    runs = ctx.evaluated_runs()
    if len(runs) < 2:
        ctx.console.print("[yellow]attribute skipped:[/] it needs two evaluated runs (the train and eval mc steps make them)")
        return
    report = attribute(runs, label="demo", bootstrap=2000, seed=ctx.seed)
    render_report(report, ctx.console)
    clear = [t for c in report["comparisons"] for t, s in c["scores"].items() if s["lo"] is not None and (s["lo"] > 0 or s["hi"] < 0)]
    verdict = (f"the interval of {', '.join(clear)} excludes 0" if clear else
               "every interval covers 0: no score moved beyond noise")
    ctx.console.print(f"[dim]{verdict} (3 steps of a random 2-layer model on 24 items: expect noise). "
                      "On real runs: mixwise attribute runs/<baseline> runs/<run> ...[/]")
    ctx.notes["attribute"] = report


__all__ = ["RunScores", "associations", "attribute", "load_run", "paired_delta", "share_deltas"]
