"""Rich view of a judge summary: headline with intervals, categories, parse accounting, position and cost."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from mixwise.records import JudgeSummary


def _pct(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.1f}"


def _ci(ci: list[float | None] | None) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]" if ci else "-"


def _times100(x: float | None) -> float | None:
    return None if x is None else x * 100


def render_summary(summary: JudgeSummary, console: Console) -> None:
    """The summary as rich tables: headline, categories, parse accounting, position and cost."""
    j, run = summary.judge, summary.run
    title = f"{run.model} vs {run.baseline or '(no baseline)'}  ·  judge {j.id} v{j.version}"
    head = Table(title=title, show_header=True)
    for col in ("measure", "value", "95% CI"):
        head.add_column(col, justify="left" if col == "measure" else "right")
    if summary.win_rate is not None:
        head.add_row("win rate (ties = half)", _pct(summary.win_rate), _ci(summary.win_rate_ci))
        head.add_row("length-controlled win rate", _pct(summary.lc_win_rate), _ci(summary.lc_win_rate_ci))
        head.add_row("wins / ties / losses", f"{summary.wins} / {summary.ties} / {summary.losses}", "")
        head.add_row("length slope (logit per tanh unit)", f"{summary.length_slope:+.2f}", "")
    for role, s in (("model", summary.model_score), ("baseline", summary.baseline_score)):
        if s is not None:
            head.add_row(f"mean {role} score ({j.scale[0]}-{j.scale[-1]})", f"{s.mean:.2f}", _ci(s.ci))
    if summary.position is not None:
        pos = summary.position
        head.add_row("position consistency (%)", _pct(_times100(pos.position_consistency)), "")
        head.add_row("judge picks first slot (%)", _pct(_times100(pos.first_slot_rate)), "")
    if summary.rejudge is not None:
        rj = summary.rejudge
        head.add_row(f"re-judging spread (k={rj.repeats})", f"sd {rj.win_rate_sd:.2f}", f"{rj.items_changed} items changed")
    head.add_row("items scored", f"{summary.n_scored} of {summary.n_items}", "")
    console.print(head)
    cats = summary.by_category or {}
    if len(cats) > 1:
        t = Table(title="by category")
        t.add_column("category")
        t.add_column("n", justify="right")
        t.add_column("win rate", justify="right")
        for name, c in cats.items():
            t.add_row(name, str(c.n), _pct(c.win_rate))
        console.print(t)
    p, c = summary.parse, summary.client
    rate = _times100(p.parse_rate)
    console.print(
        f"judgments: {p.jobs} asked, {p.ok} parsed ({p.ok_first_try} first try, {p.ok_after_reask} after re-asking), "
        f"[bold]{p.unparsable} unparsable[/], {p.budget} stopped by budget, {p.error} failed; parse rate {_pct(rate)}"
        + ("%" if rate is not None and not math.isnan(rate) else ""),
        highlight=False,
    )
    console.print(
        f"calls: {c.calls} over HTTP, {c.cache_hits} from cache, {c.retries} retries, "
        f"{c.prompt_tokens + c.completion_tokens:,} tokens ({c.judge_model} at {c.base_url or 'OpenAI'})",
        highlight=False,
    )
    if c.budget_exhausted:
        console.print("[yellow]budget reached: the run stopped early; re-run with a larger budget to resume from the cache[/]")


__all__ = ["render_summary"]
