"""The ``topics`` step of ``mixwise demo``: embed, cluster, print the cluster table, draw the map."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def run(ctx: DemoContext) -> None:
    """Demo: embed the ShareGPT sample, cluster it, write the map, print the cluster table."""
    from pathlib import Path

    from mixwise.curate.cluster import cluster_table, cluster_workspace
    from mixwise.curate.cluster_map import map_workspace
    from mixwise.curate.embed import embed_workspace
    from mixwise.views.cluster import render_cluster_table

    rep = embed_workspace(ctx.ws)
    ctx.console.print(f"embedded {rep.rows:,} prompts ({rep.computed:,} computed, {rep.cached:,} cached, {rep.backend}) in {rep.seconds:.1f}s")
    cl = cluster_workspace(ctx.ws, seed=ctx.seed)
    ctx.console.print(f"clustered into k={cl.k} topics (auto k = round(sqrt(n/2)), max 50) in {cl.seconds:.1f}s")
    render_cluster_table(ctx.console, cluster_table(ctx.ws), limit=15)
    m = map_workspace(ctx.ws, out=Path(ctx.out) / "map.html", seed=ctx.seed)
    ctx.console.print(f"map: {m.html} and {m.png} ({m.rows:,} points, UMAP {m.seconds:.1f}s); open the HTML in a browser")
    ctx.notes.update({"clusters": cl.k, "map_html": str(m.html)})
