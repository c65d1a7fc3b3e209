"""The ``eval mc`` result: ``<results>/results.json`` (aggregates) and ``<results>/items/<task>.jsonl`` (per item).

``<results>`` is ``runs/<run>/eval/mc/<label>/`` for a trained run (see
:func:`mc_results_dir`), else ``<out>/<model>/mc/<label>/``. Written by
``mixwise eval mc`` (:func:`mixwise.evaluate.mc.evaluate`); read by
``attribute`` (through :mod:`mixwise.records.scores`). Schema 1 adds
``schema_version`` to what release 0.1.0 wrote; files without it are read as
that release's (same fields). Statistics that could not be computed (a
standard error of one item) are null.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mixwise.records.base import Record, may_be_absent, read_jsonl, write_jsonl

RESULTS_FILE = "results.json"
ITEMS_DIR = "items"


@dataclass(frozen=True, kw_only=True)
class McTaskResult:
    """One task's aggregate."""

    n: int
    """Items scored."""
    version: int
    """The task file's version (bumped on any behaviour change)."""
    type: str
    """multiple_choice, schema, language_modeling or generation."""
    metric: str
    """The task's own metric, which ``score`` reports (acc or acc_norm)."""
    category: str | None
    """Gauntlet category, or null for tasks outside the Gauntlet."""
    random_baseline: float
    """Score of random guessing."""
    group: str | None
    """The group the task belongs to (mmlu for its subjects), or null."""
    acc: float | None = may_be_absent()
    """Mean accuracy (absent when no item was scored)."""
    acc_stderr: float | None = may_be_absent()
    """Its standard error (null for a single item)."""
    acc_norm: float | None = may_be_absent()
    """Mean length-normalized accuracy (choice tasks only)."""
    acc_norm_stderr: float | None = may_be_absent()
    """Its standard error."""
    score: float | None
    """The ``metric``'s value (acc when the items lack that metric); null when nothing was scored."""
    seconds: float
    """Wall time of the task."""


@dataclass(frozen=True, kw_only=True)
class McGroupResult:
    """A group of tasks collapsed to one (MMLU's subjects): item-weighted mean accuracy."""

    n: int
    """Items over all members."""
    acc: float | None
    """Item-weighted mean accuracy."""
    acc_stderr: float | None
    """Its standard error."""
    acc_macro: float | None
    """Unweighted mean over members."""
    members: int
    """Tasks in the group."""
    category: str | None
    """Gauntlet category of the group."""
    random_baseline: float
    """Score of random guessing."""


@dataclass(frozen=True, kw_only=True)
class GauntletTask:
    """One task inside a Gauntlet category."""

    score: float | None
    """The task's score."""
    baseline: float
    """Its random baseline."""
    rescaled: float | None
    """(score - baseline) / (1 - baseline)."""
    stderr: float | None
    """Standard error of ``rescaled``."""


@dataclass(frozen=True, kw_only=True)
class GauntletCategory:
    """One Gauntlet category: the mean of its tasks' rescaled scores."""

    score: float | None
    """Mean rescaled score."""
    stderr: float | None
    """Its standard error."""
    tasks: dict[str, GauntletTask]
    """Per task."""


@dataclass(frozen=True, kw_only=True)
class Gauntlet:
    """The Eval Gauntlet composite: the mean over categories (null without categories)."""

    average: float | None
    """Mean category score."""
    stderr: float | None
    """Its standard error."""
    categories: dict[str, GauntletCategory]
    """Per category."""


@dataclass(frozen=True, kw_only=True)
class McResults(Record):
    """``results.json``: one ``eval mc`` of one model on a set of tasks (the per-item records are beside it)."""

    SCHEMA_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "eval mc result"
    FIX: ClassVar[str] = "re-run: mixwise eval mc MODEL --tasks ... (it rewrites the result folder)"
    SORT_KEYS: ClassVar[bool] = False

    schema_version: int
    """1 (files of release 0.1.0 have none and are read as 1)."""
    model: str
    """The model as given."""
    model_path: str
    """What it resolved to."""
    created: str
    """When the evaluation finished (UTC, ISO 8601)."""
    label: str
    """The result set's name (suite, task or custom)."""
    limit: int | None
    """``--limit``: only the first N items of each task were scored (null: all)."""
    data_dir: list[str]
    """Data folders read."""
    tasks: dict[str, McTaskResult]
    """Per task."""
    groups: dict[str, McGroupResult]
    """Per group (mmlu)."""
    gauntlet: Gauntlet
    """The Gauntlet composite of the tasks with a category."""
    results_dir: str
    """The folder this file was written to."""

    @classmethod
    def migrate(cls, data: dict, *, path: str | os.PathLike) -> dict:
        """Release 0.1.0 wrote the same fields without ``schema_version``."""
        if "schema_version" not in data:
            data = {"schema_version": 1, **data}
        return data

    @classmethod
    def read(cls, path: str | os.PathLike) -> McResults:
        """Read a result folder's ``results.json`` (or the file itself)."""
        path = Path(path)
        return super().read(path / RESULTS_FILE if path.is_dir() else path)


@dataclass(frozen=True, kw_only=True)
class McItem:
    """One scored item (a line of ``items/<task>.jsonl``): what a parity check or an attribution needs."""

    idx: int
    """The item's index in the task's data (pairs items across runs)."""
    prompt: str
    """The full prompt of the gold (or only) request."""
    acc: float
    """1.0 when correct, else 0.0."""
    choices: list[str] | None = may_be_absent()
    """Choice tasks: the continuations scored."""
    gold: int | None = may_be_absent()
    """Choice tasks: index of the right choice."""
    loglik: list[float] | None = may_be_absent()
    """Choice tasks: summed log-likelihood of each choice."""
    is_greedy: list[bool] | None = may_be_absent()
    """Choice tasks: whether each choice is the greedy continuation."""
    pred: int | None = may_be_absent()
    """Choice tasks: the argmax choice."""
    pred_norm: int | None = may_be_absent()
    """Choice tasks: the argmax after dividing by each choice's length."""
    acc_norm: float | None = may_be_absent()
    """Choice tasks: 1.0 when ``pred_norm`` is gold."""
    generation: str | None = may_be_absent()
    """Generation tasks: the model's output."""
    extracted: str | None = may_be_absent()
    """Generation tasks: the answer taken from it."""
    answers: list[str] | None = may_be_absent()
    """Generation tasks: the accepted answers."""

    def value(self, metric: str) -> float | None:
        """This item's ``metric`` (acc or acc_norm), or None when the item does not have it."""
        return {"acc": self.acc, "acc_norm": self.acc_norm}.get(metric)


def mc_results_dir(run_dir: str | os.PathLike, label: str) -> Path:
    """Where ``eval mc`` writes result set ``label`` of the run in ``run_dir``."""
    return Path(run_dir) / "eval" / "mc" / label


def mc_labels(run_dir: str | os.PathLike) -> list[str]:
    """The ``eval mc`` result sets a run has, sorted."""
    root = Path(run_dir) / "eval" / "mc"
    return sorted(p.name for p in root.iterdir() if (p / RESULTS_FILE).is_file()) if root.is_dir() else []


def items_path(results_dir: str | os.PathLike, task: str) -> Path:
    """The per-item records of ``task`` in a result folder."""
    return Path(results_dir) / ITEMS_DIR / f"{task}.jsonl"


def read_mc_items(path: str | os.PathLike) -> list[McItem]:
    """Every item of an ``items/<task>.jsonl`` file, checked (errors name the line and field)."""
    return read_jsonl(path, McItem, "eval mc item", McResults.FIX)


def write_mc_items(path: str | os.PathLike, items: list[McItem]) -> Path:
    """Write per-item records, one JSON object per line."""
    return write_jsonl(path, items)


__all__ = ["Gauntlet", "GauntletCategory", "GauntletTask", "ITEMS_DIR", "McGroupResult", "McItem", "McResults",
           "McTaskResult", "RESULTS_FILE", "items_path", "mc_labels", "mc_results_dir", "read_mc_items", "write_mc_items"]
