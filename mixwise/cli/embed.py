"""CLI: ``mixwise embed``."""

from __future__ import annotations

from typing import Optional

import typer

from mixwise.cli._common import console, emit_json, progress_bar, workspace


def embed(
    field: str = typer.Option("prompt", "--field", help="What to embed: prompt, or prompt_response (prompt + response)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="sentence-transformers name or folder (default all-MiniLM-L6-v2)."),
    backend: str = typer.Option("auto", "--backend", help="auto (bf16 where the hardware has it), bf16, or exact (fp32)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Texts per forward pass."),
    force: bool = typer.Option(False, "--force", help="Rebuild the aligned table even if it is up to date (the cache is still used)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Embed every sample (cached by model and text hash: re-runs embed only new rows).

    Vectors are L2-normalised and stored as float16, aligned to sample ids.

    Example: mixwise embed --field prompt_response
    """
    from mixwise.curate.embed import embed_workspace

    ws = workspace()
    with progress_bar(f"embed {field}") as update:
        rep = embed_workspace(ws, field=field, model=model, backend=backend, batch_size=batch_size, progress=update, force=force)
    if as_json:
        emit_json({"model": rep.model, "field": rep.field, "rows": rep.rows, "computed": rep.computed, "cached": rep.cached,
                   "backend": rep.backend, "seconds": round(rep.seconds, 3), "skipped": rep.skipped, "path": str(rep.path)})
        return
    if rep.skipped:
        console.print(f"[dim]{rep.field} embeddings are up to date ({rep.rows:,} rows); nothing to do[/]")
        return
    rate = f", {rep.computed / rep.seconds:,.0f} texts/s" if rep.computed and rep.seconds else ""
    console.print(f"[green]embedded[/] {rep.rows:,} rows ({rep.field}): {rep.computed:,} computed, {rep.cached:,} from cache, "
                  f"backend {rep.backend}, {rep.seconds:.1f}s{rate}")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Curate")(embed)
