"""CLI: ``mixwise attribute`` -- score changes of runs next to the mixture changes behind them."""

from __future__ import annotations

from typing import List, Optional

import typer

from mixwise.cli._common import console, emit_json


def _pts(x: float) -> str:
    return f"{round(x * 100, 1) + 0.0:+.1f} pts"  # + 0.0: no "-0.0"


def attribute(
    runs: List[str] = typer.Argument(..., help="Run folders (runs/<run>); the first is the baseline."),
    label: Optional[str] = typer.Option(None, "--label", "-l", help="Which eval mc result set (needed when a run has several)."),
    bootstrap: int = typer.Option(2000, "--bootstrap", help="Bootstrap resamples for the paired confidence intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    top: int = typer.Option(5, "--top", help="Composition changes shown per axis."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Explain score changes by mixture composition: runs compared with a baseline run.

    For each run: how its manifest's style / source / cluster shares differ from
    the baseline's, and how each eval mc task score and each eval judge win rate
    (tasks named judge:<baseline>__<judge>__<prompts>) moved, with a paired
    bootstrap 95% interval over the items both runs scored. With three runs or
    more, the slope and correlation of each score with each share across runs.

    Example: mixwise attribute runs/lima-1k runs/lima-plus-instruct runs/instruct-5k --label gauntlet
    """
    from rich.table import Table

    from mixwise.evaluate.attribute import attribute as run_attribute

    report = run_attribute(runs, label=label, bootstrap=bootstrap, seed=seed)
    if as_json:
        emit_json(report)
        return
    base = report["baseline"]
    console.print(f"baseline: [bold]{base['run']}[/] ({base['manifest']})")
    for comp in report["comparisons"]:
        console.rule(f"{comp['run']} ({comp['manifest']})")
        mix = Table(title="composition vs baseline (share of samples)", show_edge=False)
        mix.add_column("axis")
        mix.add_column("change")
        for axis, deltas in comp["composition"].items():
            shown = list(deltas.items())[:top]
            mix.add_row(axis, ", ".join(f"{k} {_pts(v)}" for k, v in shown) + (" ..." if len(deltas) > top else ""))
        if not comp["composition"]:
            mix.add_row("-", "same composition")
        console.print(mix)
        scores = Table(title="scores vs baseline", show_edge=False)
        for col in ("task", "metric", "baseline", "run", "delta", "95% CI (paired)", "items"):
            # long judge set names fold onto more lines rather than lose their end
            scores.add_column(col, justify="right" if col not in ("task", "metric") else "left",
                              overflow="fold" if col == "task" else "ellipsis")
        for task, s in comp["scores"].items():
            ci = f"[{_pts(s['lo'])}, {_pts(s['hi'])}]" if s["lo"] is not None else "-"
            colour = "green" if s["lo"] is not None and s["lo"] > 0 else "red" if s["hi"] is not None and s["hi"] < 0 else ""
            delta = _pts(s["score"] - s["base"])
            scores.add_row(task, s["metric"], f"{s['base']:.3f}", f"{s['score']:.3f}", f"[{colour}]{delta}[/]" if colour else delta,
                           ci, str(s["n"]))
        console.print(scores)
    if "associations" in report:
        rows = report["associations"]
        t = Table(title=f"score ~ share across {len(runs)} runs (correlation, not proof)", show_edge=False)
        for col in ("task", "axis", "feature", "per +10 pts share", "r"):
            t.add_column(col, justify="right" if col in ("per +10 pts share", "r") else "left")
        for r in rows[: top * 4]:
            t.add_row(r["task"], r["axis"], r["feature"], _pts(r["slope_per_10pts"]), f"{r['r']:+.2f}")
        console.print(t)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluate")(attribute)
