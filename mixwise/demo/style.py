"""The ``style`` step of ``mixwise demo``: the style mix of the sample with the shipped model."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def run(ctx: DemoContext) -> None:
    """Demo: the style mix of the ShareGPT sample, with the shipped model."""
    from mixwise.curate.style import classify_workspace, style_views
    from mixwise.views.style import render_views

    report = classify_workspace(ctx.ws)
    state = "unchanged, reused" if report.skipped else "scored"
    ctx.console.print(f"style: {report.rows:,} rows {state} with the shipped model ({report.model.name})")
    views = style_views(ctx.ws)
    render_views(views, ctx.console)
    ctx.notes["style_counts"] = report.counts
