"""The ``quality`` step of ``mixwise demo``: refusal, truncation, repetition and script signals per source."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def run(ctx: DemoContext) -> None:
    """Demo: score quality signals and print the per-source table."""
    from mixwise.curate.quality import quality_view, score_workspace
    from mixwise.views.quality import render_quality

    rep = score_workspace(ctx.ws)
    render_quality(quality_view(ctx.ws), ctx.console)
    ctx.notes["quality"] = rep.flagged
