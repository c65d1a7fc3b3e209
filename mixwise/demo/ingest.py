"""The ``ingest`` step of ``mixwise demo``: the first ShareGPT conversations (salvaged), summarized."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from rich.table import Table

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def run(ctx: DemoContext) -> None:
    """Ingest the first ShareGPT conversations and summarize them."""
    from mixwise.curate.embedded import sharegpt_path
    from mixwise.curate.ingest import ingest

    report = ingest(str(sharegpt_path()), ctx.ws, name="sharegpt", salvage=True, limit=ctx.rows)
    rej = ", ".join(f"{k} {v}" for k, v in report.rejected.items()) or "none"
    state = "unchanged, reused" if report.skipped else f"{report.seconds:.1f}s"
    ctx.console.print(f"ingested [bold]sharegpt[/] ({report.format}): {report.rows:,} rows kept, {report.n_rejected} rejected ({rej}) [{state}]")
    df = ctx.ws.samples(columns=["n_turns", "prompt_chars", "response_chars"])
    table = Table(title="ShareGPT sample")
    table.add_column("measure")
    for col in ("median", "p90", "max"):
        table.add_column(col, justify="right")
    for col, label in (("n_turns", "user turns"), ("prompt_chars", "prompt chars"), ("response_chars", "response chars")):
        s = df[col]
        table.add_row(label, f"{s.median():,.0f}", f"{s.quantile(0.9):,.0f}", f"{s.max():,}")
    ctx.console.print(table)
    ctx.console.print(f"multi-turn conversations: {df.filter(pl.col('n_turns') > 1).height:,} of {df.height:,}")
