"""Where judge results go, and writing them as records: ``items.jsonl`` and ``summary.json``.

:mod:`mixwise.views.judge` shows a summary on the terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

from mixwise.records import (JUDGE_PREFIX, JudgeItem, JudgeRunInfo, JudgeSummary, is_run_dir, judge_set_dir,
                             write_judge_items)
from mixwise.records.base import build_part
from mixwise.records.eval_judge import JUDGE_ITEMS_FILE, SUMMARY_FILE


def slug(text: str) -> str:
    """A filesystem-safe short name for a model, file or set."""
    name = Path(text).stem if text.endswith((".jsonl", ".json")) else text.rstrip("/")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "_"))[:60] or "model"


def results_dir(model: str, baseline: str | None, judge_id: str, prompts: str, out: str | Path = "results") -> Path:
    """Where a judge run's results go: inside a ``runs/<run>`` model's folder (``eval/judge/<set>``), else under ``out``.

    The set name is ``<baseline>__<judge>__<prompts>``, so runs judged against the
    same baseline, by the same judge, on the same prompts, are comparable by
    ``mixwise attribute``.
    """
    name = f"{slug(baseline or 'none')}__{judge_id}__{slug(prompts)}"
    if is_run_dir(model):
        return judge_set_dir(model, name)
    return Path(out) / "judge" / f"{slug(model)}-vs-{name}"


def summary_record(summary: dict, run: JudgeRunInfo, *, path: str | Path = "(in memory)") -> JudgeSummary:
    """The summary dict of :func:`mixwise.evaluate.judge.run_judge` and what was judged, as a checked record."""
    from mixwise.records.base import dump

    return JudgeSummary.from_dict({"schema_version": JudgeSummary.SCHEMA_VERSION, **summary, "run": dump(run)}, path=path)


def write_results(out: Path, items: list[dict], summary: dict, run: JudgeRunInfo) -> JudgeSummary:
    """``out/items.jsonl`` (one record per prompt, with every judgment) and ``out/summary.json``; returns the summary."""
    items_path, summary_path = out / JUDGE_ITEMS_FILE, out / SUMMARY_FILE
    record = summary_record(summary, run, path=summary_path)
    write_judge_items(items_path, [build_part(JudgeItem, it, source=f"{items_path}:{i + 1}") for i, it in enumerate(items)])
    record.write(summary_path)
    return record


__all__ = ["JUDGE_PREFIX", "results_dir", "slug", "summary_record", "write_results"]
