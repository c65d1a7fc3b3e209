"""Rich view of topic clusters: the cluster table (``mixwise cluster``, ``mixwise clusters``, the demo)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def render_cluster_table(out: Console, rows: list[dict], limit: int | None = None) -> None:
    """The cluster table: id, label, size, share per source, median lengths, a representative prompt."""
    table = Table(title=f"{len(rows)} clusters" + (f" (largest {limit} shown)" if limit and len(rows) > limit else ""))
    for col, just in (("id", "right"), ("label", "left"), ("size", "right"), ("sources", "left"),
                      ("prompt", "right"), ("response", "right"), ("representative prompt", "left")):
        table.add_column(col, justify=just, overflow="fold" if col == "label" else "ellipsis")
    for r in rows[:limit] if limit else rows:
        total = sum(r["sources"].values()) or 1
        shares = " ".join(f"{s} {n / total:.0%}" for s, n in list(r["sources"].items())[:3])
        rep = " ".join(r["representative_prompt"].split())
        table.add_row(str(r["id"]), r["label"], f"{r['size']:,}", shares, f"{r['median_prompt_chars']:,.0f}",
                      f"{r['median_response_chars']:,.0f}", rep[:80])
    out.print(table)
