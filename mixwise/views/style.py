"""Rich view of styles: styles per source and the topic x style matrix (``mixwise styles``, the demo)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def render_views(views: dict, out: Console) -> None:
    """Rich tables: styles per source, and the topic x style matrix when clusters exist."""
    styles = views["styles"]
    sources = list(views["by_source"])
    # styles as rows, sources as columns: stays readable in 80 columns for a few sources
    table = Table(title="styles by source")
    table.add_column("style")
    for source in sources:
        table.add_column(source, justify="right")
    totals = {src: sum(c.values()) for src, c in views["by_source"].items()}
    for s in styles:
        table.add_row(s, *[f"{views['by_source'][src].get(s, 0):,} {views['by_source'][src].get(s, 0) / totals[src]:.0%}" for src in sources])
    table.add_row("total", *[f"{totals[src]:,}" for src in sources], style="bold")
    out.print(table)
    matrix = views["matrix"]
    if matrix is None:
        out.print("[dim]no topic x style matrix: run mixwise cluster to add topics[/]")
        return
    m = Table(title="topic x style (rows: clusters)")
    m.add_column("cluster", justify="right")
    m.add_column("label")
    for s in matrix["styles"]:
        m.add_column(s, justify="right")
    m.add_column("total", justify="right")
    for row in matrix["rows"]:
        m.add_row(str(row["cluster"]), row["cluster_label"] or "", *[f"{row['counts'].get(s, 0):,}" for s in matrix["styles"]],
                  f"{row['total']:,}")
    out.print(m)
