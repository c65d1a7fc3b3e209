"""CLI: ``mixwise cluster``, ``mixwise clusters`` (+ ``show ID``) and ``mixwise map``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from mixwise.cli._common import console, emit_json, workspace
from mixwise.views.cluster import render_cluster_table


def cluster(
    k: Optional[int] = typer.Option(None, "--k", "-k", help="Number of clusters (default: round(sqrt(n/2)), at most 50)."),
    seed: int = typer.Option(0, "--seed", help="Seed of k-means (same seed, same clusters)."),
    field: str = typer.Option("prompt", "--field", help="Which embeddings to cluster: prompt or prompt_response."),
    llm_name: bool = typer.Option(False, "--llm-name", help="Also ask an LLM for a short name per cluster (cached)."),
    llm_model: str = typer.Option("gpt-4o-mini", "--llm-model", help="Model for --llm-name."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", help="OpenAI-compatible base URL for --llm-name (key: $OPENAI_API_KEY)."),
    force: bool = typer.Option(False, "--force", help="Re-cluster even if nothing changed."),
) -> None:
    """Group samples into topics: seeded spherical k-means with keyphrase labels.

    Needs embeddings (mixwise embed). Writes the columns cluster and cluster_label.

    Example: mixwise cluster --k 20 --seed 0
    """
    from mixwise.curate.cluster import cluster_table, cluster_workspace

    ws = workspace()
    llm = {"model": llm_model, "base_url": llm_url} if llm_name else None
    rep = cluster_workspace(ws, k=k, seed=seed, field=field, llm=llm, force=force)
    state = "unchanged, reused" if rep.skipped else f"{rep.seconds:.1f}s"
    console.print(f"[green]clustered[/] {rep.rows:,} rows into {rep.k} clusters [{state}]")
    render_cluster_table(console, cluster_table(ws), limit=20)


clusters_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


@clusters_app.callback()
def clusters(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list (id, label, size, sources, ...)."),
    tui: bool = typer.Option(False, "--tui", help="Browse clusters, their samples and styles in a terminal app."),
) -> None:
    """List the clusters: label, size, share per source, median lengths, a representative prompt.

    --tui opens a browser: the cluster table with keyphrases, central prompts
    and breakdowns by source, style, duplicate and quality flag; enter lists a
    cluster's samples (a view per style, / searches), q quits.

    Example: mixwise clusters --json
    """
    if ctx.invoked_subcommand is not None:
        return
    if tui:
        from mixwise.tui.clusters_app import ClustersApp

        ClustersApp(workspace()).run()
        return
    from mixwise.curate.cluster import cluster_table

    rows = cluster_table(workspace())
    if as_json:
        emit_json(rows)
        return
    render_cluster_table(console, rows)


@clusters_app.command("show")
def show(
    cluster_id: int = typer.Argument(..., help="Cluster id (from mixwise clusters)."),
    page: int = typer.Option(1, "--page", "-p", min=1, help="Page number."),
    per_page: int = typer.Option(10, "--per-page", min=1, help="Samples per page."),
    chars: int = typer.Option(300, "--chars", help="Characters of each prompt and response shown."),
) -> None:
    """Page through one cluster's samples, nearest to the cluster centre first.

    Example: mixwise clusters show 3 --page 2
    """
    from mixwise.curate.cluster import cluster_samples

    info, rows = cluster_samples(workspace(), cluster_id, offset=(page - 1) * per_page, limit=per_page)
    pages = max(1, -(-info["size"] // per_page))
    console.rule(f"cluster {cluster_id}: {info['label']}  ({info['size']:,} samples, page {page}/{pages})")
    console.print(f"[dim]keywords: {', '.join(info['keywords'])}[/]")
    for i, r in enumerate(rows.iter_rows(named=True), start=(page - 1) * per_page + 1):
        console.print(f"\n[bold]{i}.[/] [cyan]{r['source']}[/] id {r['id']}  closeness {r['closeness']:.3f}", highlight=False)
        console.print(Text.assemble(("prompt: ", "bold"), _clip(r["prompt"], chars)))
        console.print(Text.assemble(("response: ", "bold"), _clip(r["response"], chars)))
    if page < pages:
        console.print(f"\n[dim]next: mixwise clusters show {cluster_id} --page {page + 1}[/]")


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def map_(
    out: Path = typer.Option(Path("mixwise-map.html"), "--out", "-o", help="HTML file to write (a PNG is written beside it)."),
    seed: int = typer.Option(0, "--seed", help="UMAP seed."),
    fit_max: int = typer.Option(20_000, "--fit-max", help="Fit UMAP on at most this many rows; transform the rest."),
    max_points: int = typer.Option(20_000, "--max-points", min=1, help="Points in the HTML page at most (a seeded sample beyond; the PNG has all)."),
) -> None:
    """Draw the topic map: UMAP 2-D projection as a PNG and an offline, interactive HTML file.

    The page opens on the dense region; clusters have distinct colour + shape
    pairs and labels that never overlap (more appear as you zoom); search
    highlights samples, clicking a cluster lists its samples, and checkboxes
    filter by source, style, quality and duplicate kind.

    Example: mixwise map --out map.html
    """
    from mixwise.curate.cluster_map import map_workspace

    rep = map_workspace(workspace(), out=out, seed=seed, fit_max=fit_max, max_points=max_points)
    sampled = f" ({rep.points_in_html:,} in the page, a seeded sample)" if rep.points_in_html < rep.rows else ""
    console.print(f"[green]map[/] of {rep.rows:,} points{sampled} (UMAP {rep.seconds:.1f}s): {rep.html} and {rep.png}")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Curate")(cluster)
    app.add_typer(clusters_app, name="clusters", rich_help_panel="Curate")
    app.command("map", rich_help_panel="Curate")(map_)
