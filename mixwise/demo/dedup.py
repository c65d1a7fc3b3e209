"""The ``dedup`` step of ``mixwise demo``: duplicates in the sample, the report and the largest near-duplicate group."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def run(ctx: DemoContext) -> None:
    """Demo: find duplicates in the ShareGPT sample and show the report and the largest near-duplicate group."""
    from mixwise.curate.dedup import DedupConfig
    from mixwise.curate.dedup_explain import explain_group, largest_groups
    from mixwise.curate.dedup_stage import dedup_workspace
    from mixwise.views.dedup import render_group, render_report

    result = dedup_workspace(ctx.ws, DedupConfig(seed=ctx.seed))
    for note in result.notes:
        ctx.console.print(f"[dim]{note}[/]")
    ctx.console.print(render_report(result.report, title="ShareGPT duplicates"))
    near = largest_groups(ctx.ws, top=1, kind="near")
    if near.height:
        group = near["dup_group"][0]
        ctx.console.print(render_group(group, explain_group(ctx.ws, group), max_members=3, clip=160))
    ctx.notes["dedup"] = {"groups": result.report["groups"], "duplicates": result.report["total"]["duplicates"],
                          "survivors": result.report["total"]["survivors"]}
