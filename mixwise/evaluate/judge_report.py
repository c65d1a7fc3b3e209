"""Writing and showing judge results: per-item JSONL, summary JSON and a rich terminal summary."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table


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
    p = Path(model)
    if (p / "run.json").is_file():
        return p / "eval" / "judge" / name
    return Path(out) / "judge" / f"{slug(model)}-vs-{name}"


def write_results(out: Path, items: list[dict], summary: dict) -> tuple[Path, Path]:
    """``out/items.jsonl`` (one JSON record per prompt, with every judgment) and ``out/summary.json``."""
    out.mkdir(parents=True, exist_ok=True)
    items_path, summary_path = out / "items.jsonl", out / "summary.json"
    items_path.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
    summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return items_path, summary_path


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def _ci(ci) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]" if ci else "-"


def render_summary(summary: dict, console: Console) -> None:
    """The summary as rich tables: headline, categories, parse accounting, position and cost."""
    j, run = summary["judge"], summary.get("run", {})
    title = f"{run.get('model', 'model')} vs {run.get('baseline') or '(no baseline)'}  ·  judge {j['id']} v{j['version']}"
    head = Table(title=title, show_header=True)
    for col in ("measure", "value", "95% CI"):
        head.add_column(col, justify="left" if col == "measure" else "right")
    if "win_rate" in summary:
        head.add_row("win rate (ties = half)", _pct(summary["win_rate"]), _ci(summary["win_rate_ci"]))
        head.add_row("length-controlled win rate", _pct(summary["lc_win_rate"]), _ci(summary["lc_win_rate_ci"]))
        head.add_row("wins / ties / losses", f"{summary['wins']} / {summary['ties']} / {summary['losses']}", "")
        head.add_row("length slope (logit per tanh unit)", f"{summary['length_slope']:+.2f}", "")
    for role in ("model", "baseline"):
        if f"{role}_score" in summary:
            s = summary[f"{role}_score"]
            head.add_row(f"mean {role} score ({j['scale'][0]}-{j['scale'][-1]})", f"{s['mean']:.2f}", _ci(s["ci"]))
    if "position" in summary:
        pos = summary["position"]
        head.add_row("position consistency (%)", _pct(pos["position_consistency"] * 100), "")
        head.add_row("judge picks first slot (%)", _pct(pos["first_slot_rate"] * 100), "")
    if "rejudge" in summary:
        rj = summary["rejudge"]
        head.add_row(f"re-judging spread (k={rj['repeats']})", f"sd {rj['win_rate_sd']:.2f}", f"{rj['items_changed']} items changed")
    head.add_row("items scored", f"{summary['n_scored']} of {summary['n_items']}", "")
    console.print(head)
    cats = summary.get("by_category") or {}
    if len(cats) > 1:
        t = Table(title="by category")
        t.add_column("category")
        t.add_column("n", justify="right")
        t.add_column("win rate", justify="right")
        for name, c in cats.items():
            t.add_row(name, str(c["n"]), _pct(c["win_rate"]))
        console.print(t)
    p, c = summary["parse"], summary.get("client", {})
    console.print(
        f"judgments: {p['jobs']} asked, {p['ok']} parsed ({p['ok_first_try']} first try, {p['ok_after_reask']} after re-asking), "
        f"[bold]{p['unparsable']} unparsable[/], {p['budget']} stopped by budget, {p['error']} failed; parse rate {_pct(p['parse_rate'] * 100)}" + ('%' if p['parse_rate'] == p['parse_rate'] else ''),
        highlight=False,
    )
    if c:
        console.print(
            f"calls: {c['calls']} over HTTP, {c['cache_hits']} from cache, {c['retries']} retries, "
            f"{c['prompt_tokens'] + c['completion_tokens']:,} tokens ({c['judge_model']} at {c['base_url'] or 'OpenAI'})",
            highlight=False,
        )
        if c.get("budget_exhausted"):
            console.print("[yellow]budget reached: the run stopped early; re-run with a larger budget to resume from the cache[/]")
