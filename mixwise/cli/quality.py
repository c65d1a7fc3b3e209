"""CLI: ``mixwise quality`` -- refusal, truncation, repetition and script signals per row."""

from __future__ import annotations

import typer

from mixwise.cli._common import console, emit_json, workspace


def quality(
    force: bool = typer.Option(False, "--force", help="Recompute even if the stage is fresh."),
    examples: bool = typer.Option(True, "--examples/--no-examples", help="Show one flagged example per signal."),
    as_json: bool = typer.Option(False, "--json", help="Print {by_source, examples, total} as JSON."),
) -> None:
    """Score quality signals: refusals, truncated answers, repeated lines, non-Latin text.

    Writes the quality stage columns q_refusal, q_truncated (0/1), q_repetition,
    q_latin_share (0..1) and q_flags (refusal + truncated), then shows them per
    source. Nothing is dropped: a mixture spec decides, e.g.
    score: {q_flags: {max: 0}} to leave flagged rows out.

    Example: mixwise quality --json
    """
    from mixwise.curate.quality import quality_view, score_workspace
    from mixwise.views.quality import render_quality

    ws = workspace()
    report = score_workspace(ws, force=force)
    view = quality_view(ws)
    if as_json:
        emit_json({**view, "skipped": report.skipped})
        return
    if report.skipped:
        console.print(f"[dim]quality: unchanged since the last run ({report.rows:,} rows); use --force to redo[/]")
    render_quality(view, console, examples=examples)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Curate")(quality)
