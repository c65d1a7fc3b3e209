"""CLI: ``mixwise attribute`` -- score changes of runs next to the mixture changes behind them."""

from __future__ import annotations

from typing import List, Optional

import typer

from mixwise.cli._common import console, emit_json


def attribute(
    runs: List[str] = typer.Argument(..., help="Run folders (runs/<run>); the first is the baseline."),
    label: Optional[str] = typer.Option(None, "--label", "-l", help="Which eval mc result set (needed when a run has several)."),
    bootstrap: int = typer.Option(2000, "--bootstrap", help="Bootstrap resamples for the paired confidence intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    top: int = typer.Option(5, "--top", help="Composition changes shown per axis."),
    axis: Optional[str] = typer.Option(None, "--axis", help="Composition axis of the fit across runs: style, source, cluster, quality (default: style if recorded, else source)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Explain score changes by mixture composition: runs compared with a baseline run.

    For each run: how its manifest's style / source / cluster / quality shares differ from
    the baseline's (an axis one manifest did not record is said to be missing), and
    how each eval mc task score and each eval judge win rate (tasks named
    judge:<baseline>__<judge>__<prompts>) moved: the paired delta over the items
    both runs scored, its bootstrap 95% interval, the item count and the items
    only one side scored, with Benjamini-Hochberg q-values over all comparisons.
    Across runs, the score ~ composition fit of mixwise study fit on --axis (runs of
    one manifest are replicates), refused when the runs have too few distinct
    mixtures for its parameters.

    Example: mixwise attribute runs/lima-1k runs/lima-plus-instruct runs/instruct-5k --label gauntlet
    """
    from mixwise.evaluate.attribute import attribute as run_attribute
    from mixwise.views.attribute import render_report

    report = run_attribute(runs, label=label, bootstrap=bootstrap, seed=seed, axis=axis)
    if as_json:
        emit_json(report)
        return
    render_report(report, console, top=top)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluate")(attribute)
