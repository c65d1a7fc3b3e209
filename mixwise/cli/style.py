"""CLI: ``mixwise style`` (score styles, or retrain on your labels) and ``mixwise styles`` (the views)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mixwise.cli._common import console, emit_json, progress_bar, workspace
from mixwise.views.style import render_views


def style(
    model: Optional[Path] = typer.Option(None, "--model", help="A style model .npz (default: the workspace's trained one, else the shipped one)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Below this top probability a row is 'mixed' (default: the model's, 0.5)."),
    train: Optional[Path] = typer.Option(None, "--train", help="Retrain on a CSV of labels (columns: label + id, content_hash or prompt,response)."),
    with_references: Optional[Path] = typer.Option(None, "--with-references", help="With --train: also use the public references under this data folder."),
    seed: int = typer.Option(0, "--seed", help="Seed for training folds and reference sampling."),
    force: bool = typer.Option(False, "--force", help="Re-score even if the stage is fresh."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Classify each sample's style: long_form, concise, multiple_choice, math_steps, code (or mixed).

    Writes the style stage columns (style, style_score_NAME). With --train,
    trains a model on your labels instead, stores it in the workspace (used by
    later runs) and prints its held-out metrics.

    Example: mixwise style --threshold 0.6
    """
    ws = workspace()
    if train is not None:
        from mixwise.curate.style_user import train_on_labels

        result = train_on_labels(ws, train, references=with_references, seed=seed)
        if as_json:
            emit_json(result)
            return
        h = result["held_out"]
        console.print(f"[green]trained[/] style model on {result['n_train']:,} labelled rows -> {result['model']}")
        console.print(f"held-out macro-F1 {h['macro_f1']:.3f}, accuracy {h['accuracy']:.3f}, ECE {h['ece']:.3f}; "
                      "run mixwise style --force to re-score with it")
        return
    from mixwise.curate.style import classify_workspace

    with progress_bar("style: embedding samples") as update:
        report = classify_workspace(ws, model=model, threshold=threshold, force=force, progress=update)
    if as_json:
        emit_json({"rows": report.rows, "counts": report.counts, "model": str(report.model), "skipped": report.skipped})
        return
    if report.skipped:
        console.print(f"[dim]style: unchanged since the last run ({report.rows:,} rows); use --force to redo[/]")
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(report.counts.items(), key=lambda kv: -kv[1]))
    console.print(f"[green]styled[/] {report.rows:,} rows with {report.model.name}: {counts}")


def styles(as_json: bool = typer.Option(False, "--json", help="Print {styles, by_source, matrix} as JSON.")) -> None:
    """Show the style distribution per source and the topic x style matrix (clusters as rows).

    The matrix needs the cluster stage (mixwise cluster); without it only the
    per-source view is shown (and "matrix" is null in --json).

    Example: mixwise styles --json
    """
    from mixwise.curate.style import style_views

    views = style_views(workspace())
    if as_json:
        emit_json(views)
        return
    render_views(views, console)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Curate")(style)
    app.command(rich_help_panel="Curate")(styles)
