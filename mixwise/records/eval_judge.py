"""The ``eval judge`` result: ``<out>/summary.json`` (aggregates) and ``<out>/items.jsonl`` (one line per prompt).

``<out>`` is ``runs/<run>/eval/judge/<baseline>__<judge>__<prompts>/`` for a
trained run (see :func:`judge_set_dir`), else what ``--out`` says. Written by
``mixwise eval judge`` (:func:`mixwise.evaluate.judge_run.judge_model`); read by
``attribute`` (through :mod:`mixwise.records.scores`). Win rates are
percentages; a statistic that could not be computed is null. Schema 1 adds
``schema_version`` to what release 0.1.0 wrote; files without it are read as
that release's (same fields).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mixwise.records.base import Record, may_be_absent, read_jsonl, write_jsonl

SUMMARY_FILE = "summary.json"
JUDGE_ITEMS_FILE = "items.jsonl"


@dataclass(frozen=True, kw_only=True)
class JudgeInfo:
    """Which judge (a judge folder's config)."""

    id: str
    """Judge id (pairwise, likert, single, or a custom folder's)."""
    version: int
    """Judge version (bumped when its prompt changes)."""
    kind: str
    """pairwise (two answers) or single (one answer graded on a scale)."""
    scale: list[int | float | str]
    """Verdicts (A, B, tie) or the score range."""


@dataclass(frozen=True, kw_only=True)
class ParseStats:
    """What became of every question to the judge."""

    jobs: int
    """Questions asked (pairwise: two per prompt and repeat)."""
    ok: int
    """Answers parsed."""
    unparsable: int
    """Answers that could not be parsed, even after re-asking."""
    budget: int
    """Questions the budget stopped."""
    error: int
    """Calls that failed after every retry."""
    ok_first_try: int
    """Parsed at the first answer."""
    ok_after_reask: int
    """Parsed after re-asking."""
    parse_rate: float | None
    """ok / (ok + unparsable); null when nothing was answered."""


@dataclass(frozen=True, kw_only=True)
class CategoryWinRate:
    """Win rate within one prompt category."""

    n: int
    """Prompts scored in the category."""
    win_rate: float | None
    """Percentage of wins, ties half."""


@dataclass(frozen=True, kw_only=True)
class PositionStats:
    """Pairwise judges: does the verdict survive swapping the answers?"""

    pairs_with_both_orders: int
    """Prompts judged in both orders."""
    position_consistency: float | None
    """Share of those where both orders agree."""
    first_slot_rate: float | None
    """Share of decisive verdicts that picked slot A."""


@dataclass(frozen=True, kw_only=True)
class ScoreStats:
    """Single-answer judges: the mean grade of one side."""

    mean: float
    """Mean score."""
    ci: list[float | None]
    """Bootstrap 95% interval."""
    n: int
    """Answers graded."""


@dataclass(frozen=True, kw_only=True)
class RejudgeStats:
    """Repeated judging (``--repeats``): how much the verdicts move."""

    repeats: int
    """Times each item was judged."""
    win_rate_per_repeat: list[float]
    """Win rate of each repeat."""
    win_rate_sd: float
    """Standard deviation of those."""
    mean_item_sd: float
    """Mean per-item standard deviation."""
    items_changed: int
    """Items whose preference changed between repeats."""


@dataclass(frozen=True, kw_only=True)
class ClientStats:
    """The judge client's accounting."""

    calls: int
    """Answers obtained over HTTP."""
    cache_hits: int
    """Answers from the cache."""
    retries: int
    """Retried requests."""
    failures: int
    """Calls that failed after every retry."""
    prompt_tokens: int
    """Prompt tokens used over HTTP."""
    completion_tokens: int
    """Completion tokens used over HTTP."""
    errors: dict[str, Any]
    """Failures per kind."""
    budget_exhausted: bool
    """Whether the budget stopped the run."""
    judge_model: str
    """The judge model's name."""
    base_url: str | None
    """The endpoint (null: OpenAI)."""


@dataclass(frozen=True, kw_only=True)
class JudgeRunInfo:
    """What was judged."""

    model: str
    """The model (or generations file) judged."""
    baseline: str | None
    """The baseline it was compared with (null for a single-answer judge without one)."""
    prompts: str
    """The prompt set."""
    judge_folder: str
    """The judge folder used."""
    out: str
    """The folder the results went to."""


@dataclass(frozen=True, kw_only=True)
class JudgeSummary(Record):
    """``summary.json``: one judged comparison. The win-rate fields are absent when no prompt was scored."""

    SCHEMA_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "judge summary"
    FIX: ClassVar[str] = "re-run: mixwise eval judge MODEL --baseline OTHER (cached judgments make no new calls)"
    SORT_KEYS: ClassVar[bool] = False

    schema_version: int
    """1 (files of release 0.1.0 have none and are read as 1)."""
    judge: JudgeInfo
    """The judge."""
    n_items: int
    """Prompts."""
    n_scored: int
    """Prompts with a preference (judged in at least one order or repeat)."""
    parse: ParseStats
    """Parse accounting."""
    win_rate: float | None = may_be_absent()
    """Percentage of prompts the model won, ties half."""
    win_rate_ci: list[float | None] | None = may_be_absent()
    """Bootstrap 95% interval of the win rate."""
    lc_win_rate: float | None = may_be_absent()
    """Length-controlled win rate (the fitted win rate at equal answer length)."""
    lc_win_rate_ci: list[float | None] | None = may_be_absent()
    """Its bootstrap interval."""
    length_slope: float | None = may_be_absent()
    """Logit change per unit of tanh(length difference / sd): > 0 means the judge rewards length."""
    wins: int | None = may_be_absent()
    """Prompts won."""
    ties: int | None = may_be_absent()
    """Prompts tied."""
    losses: int | None = may_be_absent()
    """Prompts lost."""
    by_category: dict[str, CategoryWinRate] | None = may_be_absent()
    """Win rate per prompt category."""
    position: PositionStats | None = may_be_absent()
    """Pairwise judges: position consistency."""
    model_score: ScoreStats | None = may_be_absent()
    """Single-answer judges: the model's mean grade."""
    baseline_score: ScoreStats | None = may_be_absent()
    """Single-answer judges: the baseline's mean grade."""
    rejudge: RejudgeStats | None = may_be_absent()
    """With ``--repeats`` > 1: the spread across repeats."""
    client: ClientStats
    """Calls, cache hits, tokens."""
    run: JudgeRunInfo
    """What was judged."""

    @classmethod
    def migrate(cls, data: dict, *, path: str | os.PathLike) -> dict:
        """Release 0.1.0 wrote the same fields without ``schema_version``."""
        if "schema_version" not in data:
            data = {"schema_version": 1, **data}
        return data

    @classmethod
    def read(cls, path: str | os.PathLike) -> JudgeSummary:
        """Read a judge result folder's ``summary.json`` (or the file itself)."""
        path = Path(path)
        return super().read(path / SUMMARY_FILE if path.is_dir() else path)


@dataclass(frozen=True, kw_only=True)
class Judgment:
    """One question to the judge about one prompt."""

    repeat: int
    """Which repeat (from 0)."""
    role: str
    """pairwise: model_first or baseline_first; single: model or baseline."""
    status: str
    """ok, unparsable, budget or error."""
    attempts: int
    """Answers asked for (1 + re-asks)."""
    raw: list[str]
    """The judge's answers, as written."""
    value: str | int | float | None = may_be_absent()
    """ok: the parsed verdict (A, B, tie) or score."""
    error: str | None = may_be_absent()
    """error: what failed."""
    model_pref: float | None = may_be_absent(keep_null=True)
    """pairwise: the model's preference from this verdict (1, 0.5, 0; null when not parsed)."""


@dataclass(frozen=True, kw_only=True)
class JudgeItem:
    """One prompt (a line of ``items.jsonl``) with both answers and every judgment."""

    id: str
    """Prompt id (pairs items across runs)."""
    category: str
    """Prompt category."""
    prompt: str
    """The prompt."""
    model_output: str
    """The model's answer."""
    baseline_output: str | None
    """The baseline's answer (null without a baseline)."""
    len_diff: int
    """len(model answer) - len(baseline answer), in characters."""
    judgments: list[Judgment]
    """Every question asked about this prompt."""
    pref: float | None
    """The model's preference over orders and repeats (1 win, 0.5 tie, 0 loss); null when not judged."""


def judge_set_dir(run_dir: str | os.PathLike, set_name: str) -> Path:
    """Where ``eval judge`` writes judge set ``<baseline>__<judge>__<prompts>`` of the run in ``run_dir``."""
    return Path(run_dir) / "eval" / "judge" / set_name


def judge_sets(run_dir: str | os.PathLike) -> list[str]:
    """The judge sets a run has, sorted."""
    root = Path(run_dir) / "eval" / "judge"
    return sorted(p.name for p in root.iterdir() if (p / SUMMARY_FILE).is_file()) if root.is_dir() else []


def read_judge_items(path: str | os.PathLike) -> list[JudgeItem]:
    """Every line of an ``items.jsonl`` (a folder means its items file), checked."""
    path = Path(path)
    return read_jsonl(path / JUDGE_ITEMS_FILE if path.is_dir() else path, JudgeItem, "judge item", JudgeSummary.FIX)


def write_judge_items(path: str | os.PathLike, items: list[JudgeItem]) -> Path:
    """Write per-prompt records, one JSON object per line."""
    return write_jsonl(path, items)


__all__ = ["CategoryWinRate", "ClientStats", "JUDGE_ITEMS_FILE", "JudgeInfo", "JudgeItem", "JudgeRunInfo", "JudgeSummary",
           "Judgment", "ParseStats", "PositionStats", "RejudgeStats", "SUMMARY_FILE", "ScoreStats", "judge_set_dir",
           "judge_sets", "read_judge_items", "write_judge_items"]
