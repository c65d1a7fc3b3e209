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
    for col in ("task", "metric", "base", "run", "delta", "95% CI", "n", "q"):
        # long judge set names fold onto more lines rather than lose their end; numbers never wrap
        t.add_column(col, justify="right" if col not in ("task", "metric") else "left",
                     overflow="fold" if col == "task" else "ellipsis", no_wrap=col not in ("task", "metric"))
    for task, s in scores.items():
        if s["delta"] is None:
            t.add_row(task, s["metric"], "-", "-", "no shared items", "-", "0", "-")
            continue
        colour = "green" if s["lo"] > 0 else "red" if s["hi"] < 0 else ""
        delta = pts(s["delta"])
        t.add_row(task, s["metric"], f"{s['base_paired']:.3f}", f"{s['score_paired']:.3f}",
                  f"[{colour}]{delta}[/]" if colour else delta, f"[{pts(s['lo'])[:-4]}, {pts(s['hi'])[:-4]}]", str(s["n"]),
                  _q(s.get("q")))
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
    """Print the baseline, each comparison's composition and score tables, and the fit across runs (or its refusal)."""
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
    fit = report.get("fit")
    if fit:
        _render_fit(fit, console, report)


def _render_fit(fit: dict[str, Any], console: Console, report: dict[str, Any]) -> None:
    """Across runs: the mixture regression on one axis, or why it is refused (then the pairwise rows above stand)."""
    tested = report.get("comparisons_tested", 0)
    console.print(f"[dim]q: Benjamini-Hochberg over the {tested} run x task comparisons above[/]")
    if fit.get("refused"):
        console.print(f"[dim]no fit of score ~ {fit['axis']} shares across runs: {escape(fit['refused'])}; pairwise deltas only[/]")
        return
    t = Table(title=f"score ~ {fit['axis']} shares across {len(fit['cells'])} mixtures (Scheffé model chosen by leave-one-out CV; "
                    "coefficient = score of a mixture made only of that group)", show_edge=False, title_justify="left")
    for col in ("task", "model", "coefficients [95% CI]", "CV rho", "q (any mixture != baseline)"):
        t.add_column(col, justify="right" if col in ("CV rho", "q (any mixture != baseline)") else "left", overflow="fold")
    for task, r in fit["tasks"].items():
        if r["model"] is None:
            t.add_row(escape(task), "refused", escape(r["refused"] or ""), "-", _q(r["q_any"]))
            continue
        coefs = "; ".join(f"{escape(n)} {b:.3f} [{lo:.3f}, {hi:.3f}]" for n, b, lo, hi in zip(r["terms"], r["beta"], r["lo"], r["hi"]))
        t.add_row(escape(task), r["model"], coefs, "-" if r["cv_rho"] is None else f"{r['cv_rho']:+.2f}", _q(r["q_any"]))
    console.print(t)
    moved = fit["moved"]
    console.print(f"{len(moved)} of {fit['tested']} tasks moved beyond noise across the mixtures (BH q < 0.05)"
                  + (f": {escape(', '.join(moved))}" if moved else ""))
    if fit.get("note"):
        console.print(f"[yellow]{escape(fit['note'])}[/]")


def _q(q: float | None) -> str:
    return "-" if q is None else f"{q:.2f}" if q >= 0.01 else "<.01"


__all__ = ["pts", "render_report"]
