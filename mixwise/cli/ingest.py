"""CLI: ``mixwise ingest`` and ``mixwise sources``."""

from __future__ import annotations

from typing import Optional

import typer
from rich import box
from rich.table import Table

from mixwise.cli._common import console, emit_json, progress_bar, warn, workspace


def ingest(
    source: str = typer.Argument(..., help="File, quoted glob, or hf:ORG/NAME\\[:CONFIG]\\[@SPLIT]."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Source name (default: from the file name)."),
    fmt: Optional[str] = typer.Option(
        None, "--format", "-f", help="Force a format: alpaca, dolly, sharegpt, openai, lima, prompt_response, gsm8k."
    ),
    salvage: bool = typer.Option(False, "--salvage", help="Keep the complete records of a truncated/corrupt file (warns)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Read only the first N records."),
    force: bool = typer.Option(False, "--force", help="Re-ingest even if the source is unchanged."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Load a dataset into the workspace as the canonical sample table.

    Formats are detected from the record keys; rejected rows are counted by
    reason and written to sources/NAME/rejects.jsonl.

    Example: mixwise ingest ../shared/data/instruct/alpaca_5000.json --name alpaca
    """
    from mixwise.curate.ingest import ingest as run_ingest

    ws = workspace()
    with progress_bar(f"ingest {source}", unit="bytes") as update:
        report = run_ingest(source, ws, name=name, fmt=fmt, salvage=salvage, limit=limit, force=force, progress=update)
    if as_json:
        emit_json({"name": report.name, "format": report.format, "rows": report.rows, "rejected": report.rejected,
                   "skipped": report.skipped, "damage": [d.__dict__ for d in report.damage]})
        return
    if report.skipped:
        console.print(f"[dim]{report.name}: unchanged since last ingest ({report.rows} rows); nothing to do (use --force to redo)[/]")
        return
    for d in report.damage:
        warn(f"salvaged: {d.describe()}")
    rej = ", ".join(f"{k} {v}" for k, v in report.rejected.items()) or "none"
    console.print(
        f"[green]ingested[/] [bold]{report.name}[/] ({report.format}): {report.rows:,} rows, "
        f"{report.n_rejected:,} rejected ({rej}) in {report.seconds:.1f}s"
    )
    if report.n_rejected:
        console.print(f"[dim]rejected records: {ws.source_dir(report.name) / 'rejects.jsonl'}[/]")


def sources(as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table.")) -> None:
    """List ingested sources: rows, rejects by reason, format, fingerprint, when.

    Example: mixwise sources --json
    """
    ws = workspace()
    metas = ws.sources()
    if as_json:
        emit_json([{k: m.get(k) for k in ("name", "rows", "rejected", "format", "fingerprint", "ingested_at", "source", "salvaged")}
                   for m in metas])
        return
    if not metas:
        console.print(f"no sources in {ws.root}; add one with: mixwise ingest FILE")
        return
    # Fits 80 columns (piped output, small terminals) without cutting anything: reasons go on extra lines.
    table = Table(title=f"sources in {ws.root}", box=None, padding=(0, 2, 0, 0), title_justify="left",
                  header_style="bold underline")
    table.add_column("name", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("rejected", no_wrap=True)
    table.add_column("format", no_wrap=True)
    table.add_column("finger-\nprint", no_wrap=True)
    table.add_column("UTC")
    for m in metas:
        total = sum(m["rejected"].values())
        reasons = "\n".join(f" {k} {v:,}" for k, v in sorted(m["rejected"].items(), key=lambda kv: -kv[1]))
        rej = f"{total:,}" + (f"\n{reasons}" if reasons else "") + ("\n[yellow]salvaged[/]" if m.get("salvaged") else "")
        when = m["ingested_at"][5:16].replace("T", " ")
        table.add_row(m["name"], f"{m['rows']:,}", rej, m["format"], m["fingerprint"][:8], when)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Curate")(ingest)
    app.command(rich_help_panel="Curate")(sources)
