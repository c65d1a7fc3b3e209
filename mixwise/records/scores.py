"""One view of a run's scores for every task, ``eval mc`` and ``eval judge`` alike: :class:`TaskScores`.

A consumer that compares runs (``attribute``, studies) reads
:func:`read_run_scores` and pairs the ``items`` of two runs by key, whatever
the task's kind: an ``eval mc`` task is keyed by item index and valued by the
task's metric (acc or acc_norm); a judge set is the task
``judge:<baseline>__<judge>__<prompts>``, keyed by prompt id and valued by the
model's preference (1 win, 0.5 tie, 0 loss), its score the win rate as a
fraction. An item record without the metric is an error naming the file, line
and field, never a 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mixwise.errors import InputError
from mixwise.records.eval_judge import JudgeSummary, judge_set_dir, judge_sets, read_judge_items
from mixwise.records.eval_mc import McResults, items_path, mc_labels, mc_results_dir, read_mc_items

JUDGE_PREFIX = "judge:"


@dataclass(frozen=True)
class TaskScores:
    """One task's scores of one run: its aggregate and the per-item values behind it."""

    task: str
    """``eval mc`` task name, or ``judge:<set>`` for a judge set."""
    metric: str
    """acc / acc_norm (mc) or win_rate (judge)."""
    score: float
    """The run's own aggregate over all its items (a fraction; judge: win rate / 100)."""
    n: int
    """Items scored (the size of ``items``)."""
    items: dict[int | str, float]
    """Item key (mc: index; judge: prompt id) -> value (mc: the metric; judge: the model's preference)."""
    source: Path
    """The file the items came from."""
    unscored: int = 0
    """Items in that file without a value (judge prompts never judged); not in ``items``."""


@dataclass(frozen=True)
class EvalScores:
    """Every scored task of one run, and the tasks that have nothing to compare (with the reason)."""

    tasks: dict[str, TaskScores]
    """Task name -> scores."""
    unscored: dict[str, str] = field(default_factory=dict)
    """Task name -> why it has no score."""


def mc_task_scores(results_dir: str | os.PathLike, results: McResults, task: str) -> TaskScores | None:
    """The scores of one task of an ``eval mc`` result set; None when the task has no score."""
    agg = results.tasks[task]
    if agg.score is None:
        return None
    path = items_path(results_dir, task)
    items: dict[int | str, float] = {}
    for line, item in enumerate(read_mc_items(path), start=1):
        value = item.value(agg.metric)
        if value is None:
            raise InputError(f"{path}:{line}: eval mc item field {agg.metric!r} is missing (the task's metric)",
                             McResults.FIX)
        items[item.idx] = float(value)
    if len(items) != agg.n:
        raise InputError(f"{path} holds {len(items)} distinct items but results.json says n={agg.n}", McResults.FIX)
    return TaskScores(task, agg.metric, float(agg.score), agg.n, items, path)


def judge_task_scores(folder: str | os.PathLike, summary: JudgeSummary) -> TaskScores | None:
    """A judge set as one task; None when no prompt was scored (budget spent, judge unreachable)."""
    folder = Path(folder)
    if summary.win_rate is None:
        return None
    judged = read_judge_items(folder)
    items: dict[int | str, float] = {it.id: float(it.pref) for it in judged if it.pref is not None}
    if len(items) != summary.n_scored:
        raise InputError(f"{folder / 'items.jsonl'} holds {len(items)} judged prompts but summary.json says "
                         f"n_scored={summary.n_scored}", JudgeSummary.FIX)
    return TaskScores(f"{JUDGE_PREFIX}{folder.name}", "win_rate", float(summary.win_rate) / 100, len(items), items,
                      folder / "items.jsonl", unscored=len(judged) - len(items))


def read_run_scores(run_dir: str | os.PathLike, *, mc_label: str | None = None) -> EvalScores:
    """Every task of a run: one ``eval mc`` result set (``mc_label`` picks it when there are several) and all judge sets.

    Raises when ``mc_label`` names a set the run lacks, or when the run has
    several mc result sets and none was chosen.
    """
    run_dir = Path(run_dir)
    tasks: dict[str, TaskScores] = {}
    unscored: dict[str, str] = {}
    labels = mc_labels(run_dir)
    if not labels and mc_label is not None:
        raise InputError(f"{run_dir} has no eval mc results (asked for label {mc_label!r})", f"run `mixwise eval mc {run_dir}` first")
    if labels:
        if mc_label is None and len(labels) > 1:
            raise InputError(f"{run_dir} has several eval result sets: {', '.join(labels)}", "choose one with --label")
        label = mc_label or labels[0]
        if label not in labels:
            raise InputError(f"{run_dir} has no eval result set {label!r}", f"known: {', '.join(labels)}")
        folder = mc_results_dir(run_dir, label)
        results = McResults.read(folder)
        for task in results.tasks:
            scores = mc_task_scores(folder, results, task)
            if scores is None:
                unscored[task] = "no item was scored"
            else:
                tasks[task] = scores
    for name in judge_sets(run_dir):
        folder = judge_set_dir(run_dir, name)
        scores = judge_task_scores(folder, JudgeSummary.read(folder))
        if scores is None:
            unscored[f"{JUDGE_PREFIX}{name}"] = "no prompt was judged (budget spent or judge unreachable)"
        else:
            tasks[scores.task] = scores
    return EvalScores(tasks, unscored)


__all__ = ["JUDGE_PREFIX", "EvalScores", "TaskScores", "judge_task_scores", "mc_task_scores", "read_run_scores"]
