"""A study's per-item scores, gathered from its runs: the input of ``study show`` and ``study fit``.

For every cell and replicate whose evaluations are done, each evaluation's
records are read through :mod:`mixwise.records` (``eval mc``: one task per
task name; ``eval judge``: the task ``<eval name>``, valued by the model's
preference; the judge-free proxies register their own readers) and lined up
as :class:`~mixwise.evaluate.mixture_fit.TaskObs`: one row per replicate, one
column per item key, NaN where a replicate did not score an item. Cells with no
finished replicate are listed in ``missing`` with the reason (failed step and
its error, or not run yet), never dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mixwise.evaluate.mixture_fit import TaskObs
from mixwise.records import JudgeSummary, McResults, TaskScores
from mixwise.records.scores import judge_task_scores, mc_task_scores
from mixwise.records.study import Cell, StudyRecord
from mixwise.study.spec import EvalSpec


@dataclass(frozen=True)
class TaskMeta:
    """What a task is, for fitting and labelling: its metric, chance baseline, and whether it is a proxy."""

    metric: str
    baseline: float | None
    proxy: bool
    eval: str
    label: str = ""  # how reports name it (proxies say so)


#: evaluation kind -> reader(results folder, eval spec) -> {task: (scores, meta)}
Reader = Callable[[Path, EvalSpec], dict[str, tuple[TaskScores, TaskMeta]]]
EVAL_READERS: dict[str, Reader] = {}


def eval_reader(kind: str):
    """Register how a study reads an evaluation kind's per-item records."""
    def deco(fn: Reader) -> Reader:
        EVAL_READERS[kind] = fn
        return fn
    return deco


@eval_reader("mc")
def _read_mc(folder: Path, ev: EvalSpec) -> dict[str, tuple[TaskScores, TaskMeta]]:
    results = McResults.read(folder)
    out = {}
    for task, agg in results.tasks.items():
        scores = mc_task_scores(folder, results, task)
        if scores is not None:
            out[task] = (scores, TaskMeta(agg.metric, agg.random_baseline, False, ev.name, task))
    return out


@eval_reader("judge")
def _read_judge(folder: Path, ev: EvalSpec) -> dict[str, tuple[TaskScores, TaskMeta]]:
    scores = judge_task_scores(folder, JudgeSummary.read(folder))
    if scores is None:
        return {}
    return {ev.name: (scores, TaskMeta("win_rate", None, False, ev.name, f"{ev.name} (judge win rate)"))}


@dataclass
class StudyScores:
    """Per-item scores of every finished cell, ready for the fit."""

    cells: list[Cell]
    missing: dict[str, str]
    tasks: list[TaskObs]
    meta: dict[str, TaskMeta]
    replicates: dict[str, list[int]] = field(default_factory=dict)  # cell -> replicates with results


def _cell_status(record: StudyRecord, cell: Cell) -> str:
    steps = [s for s in record.steps if s.cell == cell.id]
    failed = [s for s in steps if s.status == "failed"]
    if failed:
        return f"failed: {failed[0].id}: {failed[0].error}"
    if any(s.status == "running" for s in steps):
        return "running"
    return "not run yet"


def gather(folder: Path, record: StudyRecord, evals: list[EvalSpec], *, include: Callable[[Cell], bool] = lambda c: True) -> StudyScores:
    """Read every done evaluation of the record's cells (those ``include`` accepts)."""
    per_cell: dict[str, dict[int, dict[str, TaskScores]]] = {}
    meta: dict[str, TaskMeta] = {}
    for cell in record.cells:
        if not include(cell):
            continue
        for k in range(record.replicates):
            steps = [record.step(f"eval:{cell.id}:r{k}:{e.name}") for e in evals]
            if not steps or not all(s.done for s in steps):
                continue
            got: dict[str, TaskScores] = {}
            for ev, st in zip(evals, steps):
                reader = EVAL_READERS.get(ev.kind)
                if reader is None:
                    continue
                for task, (scores, m) in reader(folder / st.output, ev).items():
                    key = task if task not in got else f"{ev.name}/{task}"
                    got[key] = scores
                    meta.setdefault(key, m)
            per_cell.setdefault(cell.id, {})[k] = got
    cells = [c for c in record.cells if include(c) and per_cell.get(c.id)]
    missing = {c.id: _cell_status(record, c) for c in record.cells if include(c) and not per_cell.get(c.id)}
    index = {c.id: i for i, c in enumerate(cells)}
    tasks = []
    for task in meta:
        rows, cell_idx, keys = [], [], set()
        for c in cells:
            for k, got in sorted(per_cell[c.id].items()):
                if task in got:
                    rows.append(got[task].items)
                    cell_idx.append(index[c.id])
                    keys |= set(got[task].items)
        if sorted(set(cell_idx)) != list(range(len(cells))):
            continue  # some cell never scored this task: it cannot be compared across cells
        order = sorted(keys, key=lambda x: (isinstance(x, str), x))
        y = np.array([[r.get(key, np.nan) for key in order] for r in rows], dtype=float)
        m = meta[task]
        tasks.append(TaskObs(task, y, np.array(cell_idx), m.metric, m.baseline, m.proxy))
    reps = {c.id: sorted(per_cell[c.id]) for c in cells}
    return StudyScores(cells, missing, tasks, meta, reps)


__all__ = ["EVAL_READERS", "StudyScores", "TaskMeta", "eval_reader", "gather"]
