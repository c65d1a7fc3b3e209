"""Rich view of an ``eval mc`` result: the per-task table, groups and the Gauntlet composite."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mixwise.records import McResults


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.4f}"


def render_mc(result: McResults, console: Console) -> None:
    """The task table (acc, se, acc_norm, score, seconds), MMLU-style groups and the Gauntlet composite."""
    table = Table(title=f"eval mc: {result.model}")
    for col in ("task", "category", "n", "acc", "± se", "acc_norm", "score", "s"):
        table.add_column(col, justify="left" if col in ("task", "category") else "right")
    for name, a in result.tasks.items():
        table.add_row(name, a.category or "", str(a.n), _fmt(a.acc), _fmt(a.acc_stderr), _fmt(a.acc_norm), _fmt(a.score),
                      f"{a.seconds:.1f}")
    for g, a in result.groups.items():
        table.add_row(f"[bold]{g}[/] ({a.members} subjects)", a.category or "", str(a.n), _fmt(a.acc), _fmt(a.acc_stderr), "",
                      _fmt(a.acc), "")
    console.print(table)
    g = result.gauntlet
    if g.categories:
        cats = ", ".join(f"{c} {_fmt(v.score)}" for c, v in g.categories.items())
        console.print(f"Gauntlet composite {_fmt(g.average)} ± {_fmt(g.stderr)} ({cats})")
    console.print(f"[dim]results: {result.results_dir}/results.json, per-item records in items/[/]")
