"""Rich rendering of an attribution report (``mixwise attribute`` and the demo's last step)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def pts(x: float) -> str:
    """A fraction as signed percentage points: 0.123 -> "+12.3 pts"."""
    return f"{round(x * 100, 1) + 0.0:+.1f} pts"  # + 0.0: no "-0.0"


def render_report(report: dict[str, Any], console: Console, *, top: int = 5) -> None:
    """Print the baseline, each comparison's composition and score tables, and the associations if any."""
    base = report["baseline"]
    console.print(f"baseline: [bold]{base['run']}[/] ({base['manifest']})")
    for comp in report["comparisons"]:
        console.rule(f"{comp['run']} ({comp['manifest']})")
        mix = Table(title="composition vs baseline (share of samples)", show_edge=False)
        mix.add_column("axis")
        mix.add_column("change")
        for axis, deltas in comp["composition"].items():
            shown = list(deltas.items())[:top]
            mix.add_row(axis, ", ".join(f"{k} {pts(v)}" for k, v in shown) + (" ..." if len(deltas) > top else ""))
        if not comp["composition"]:
            mix.add_row("-", "same composition")
        console.print(mix)
        scores = Table(title="scores vs baseline", show_edge=False)
        for col in ("task", "metric", "baseline", "run", "delta", "95% CI (paired)", "items"):
            # long judge set names fold onto more lines rather than lose their end
            scores.add_column(col, justify="right" if col not in ("task", "metric") else "left",
                              overflow="fold" if col == "task" else "ellipsis")
        for task, s in comp["scores"].items():
            ci = f"[{pts(s['lo'])}, {pts(s['hi'])}]" if s["lo"] is not None else "-"
            colour = "green" if s["lo"] is not None and s["lo"] > 0 else "red" if s["hi"] is not None and s["hi"] < 0 else ""
            delta = pts(s["score"] - s["base"])
            scores.add_row(task, s["metric"], f"{s['base']:.3f}", f"{s['score']:.3f}", f"[{colour}]{delta}[/]" if colour else delta,
                           ci, str(s["n"]))
        console.print(scores)
    if "associations" in report:
        rows = report["associations"]
        n_runs = len(report["comparisons"]) + 1
        t = Table(title=f"score ~ share across {n_runs} runs (correlation, not proof)", show_edge=False)
        for col in ("task", "axis", "feature", "per +10 pts share", "r"):
            t.add_column(col, justify="right" if col in ("per +10 pts share", "r") else "left")
        for r in rows[: top * 4]:
            t.add_row(r["task"], r["axis"], r["feature"], pts(r["slope_per_10pts"]), f"{r['r']:+.2f}")
        console.print(t)


__all__ = ["pts", "render_report"]
