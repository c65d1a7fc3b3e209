"""Rich rendering of an attribution report (``mixwise attribute`` and the demo's last step).

One thing per row: a score row shows the two runs' means over the items both
scored, their paired difference with its interval, the item count, and how
many items only one side scored. A composition axis one manifest did not
record is said to be missing, not shown as a shift from 0.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def pts(x: float) -> str:
    """A fraction as signed percentage points: 0.123 -> "+12.3 pts"."""
    return f"{round(x * 100, 1) + 0.0:+.1f} pts"  # + 0.0: no "-0.0"


def _score_table(scores: dict[str, dict[str, Any]]) -> Table:
    t = Table(title="scores vs baseline over the n items both runs scored (base, run: their means; delta: run - base, "
                    "with its paired bootstrap 95% CI, in points)", box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("task", "metric", "base", "run", "delta", "95% CI", "n"):
        # long judge set names fold onto more lines rather than lose their end; numbers never wrap
        t.add_column(col, justify="right" if col not in ("task", "metric") else "left",
                     overflow="fold" if col == "task" else "ellipsis", no_wrap=col not in ("task", "metric"))
    for task, s in scores.items():
        if s["delta"] is None:
            t.add_row(task, s["metric"], "-", "-", "no shared items", "-", "0")
            continue
        colour = "green" if s["lo"] > 0 else "red" if s["hi"] < 0 else ""
        delta = pts(s["delta"])
        t.add_row(task, s["metric"], f"{s['base_paired']:.3f}", f"{s['score_paired']:.3f}",
                  f"[{colour}]{delta}[/]" if colour else delta, f"[{pts(s['lo'])[:-4]}, {pts(s['hi'])[:-4]}]", str(s["n"]))
    return t


def _unpaired_lines(scores: dict[str, dict[str, Any]]) -> list[str]:
    """One line per task where some items were scored by one run only (they are not in the comparison)."""
    out = []
    for task, s in scores.items():
        a, b = s["unpaired"]["base"], s["unpaired"]["run"]
        if a or b:
            out.append(f"{task}: {a} items scored only by the baseline, {b} only by this run; left out of the comparison "
                       f"(own scores over all items: baseline {s['base']:.3f}, run {s['score']:.3f})")
    return out


def render_report(report: dict[str, Any], console: Console, *, top: int = 5) -> None:
    """Print the baseline, each comparison's composition and score tables, and the associations if any."""
    base = report["baseline"]
    console.print(f"baseline: [bold]{escape(base['run'])}[/] ({escape(base['manifest'])})")
    for comp in report["comparisons"]:
        console.rule(escape(f"{comp['run']} ({comp['manifest']})"))
        mix = Table(title="composition vs baseline (share of samples)", show_edge=False)
        mix.add_column("axis")
        mix.add_column("change")
        for axis, deltas in comp["composition"].items():
            shown = list(deltas.items())[:top]
            mix.add_row(axis, escape(", ".join(f"{k} {pts(v)}" for k, v in shown) + (" ..." if len(deltas) > top else "")))
        for axis, info in comp["not_recorded"].items():
            mix.add_row(axis, f"[yellow]not recorded in {info['missing_in']}[/] ({escape(info['manifest'])}); {info['hint']}")
        if not comp["composition"] and not comp["not_recorded"]:
            mix.add_row("-", "same composition")
        console.print(mix)
        console.print(_score_table(comp["scores"]))
        for line in _unpaired_lines(comp["scores"]):
            console.print(f"[yellow]unpaired:[/] {escape(line)}")
        for task, side in comp["tasks_only_in"].items():
            console.print(f"[dim]not compared: {escape(task)} (only the {side} has it)[/]")
        for side, tasks in comp["unscored"].items():
            for task, why in tasks.items():
                console.print(f"[dim]not compared: {escape(task)} ({side}: {why})[/]")
    if "associations" in report:
        rows = report["associations"]
        n_runs = len(report["comparisons"]) + 1
        t = Table(title=f"score ~ share across {n_runs} runs (correlation, not proof)", show_edge=False)
        for col in ("task", "axis", "feature", "per +10 pts share", "r"):
            t.add_column(col, justify="right" if col in ("per +10 pts share", "r") else "left")
        for r in rows[: top * 4]:
            t.add_row(r["task"], r["axis"], escape(r["feature"]), pts(r["slope_per_10pts"]), f"{r['r']:+.2f}")
        console.print(t)
        for axis, missing in report["associations_not_recorded"].items():
            console.print(f"[dim]{axis} left out of the associations: not recorded in {', '.join(missing)}[/]")


__all__ = ["pts", "render_report"]
