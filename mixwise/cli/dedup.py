"""CLI: ``mixwise dedup``, ``mixwise dups list`` and ``mixwise dups show GROUP``."""

from __future__ import annotations

from typing import Optional

import typer

from mixwise.cli._common import console, emit_json, warn, workspace

dups_app = typer.Typer(
    help="Inspect duplicate groups found by mixwise dedup.\n\nExample: mixwise dups show g0a1b2c3", no_args_is_help=True
)


def dedup(
    exact: bool = typer.Option(True, "--exact/--no-exact", help="Exact pass: same normalized conversation."),
    near: bool = typer.Option(True, "--near/--no-near", help="Near pass: MinHash + LSH on word shingles."),
    semantic: str = typer.Option("auto", "--semantic", help="Semantic pass on prompt embeddings: auto (if embedded), on, off."),
    threshold: float = typer.Option(0.7, "--threshold", help="Near pass: Jaccard threshold of prompt+response."),
    half_threshold: float = typer.Option(0.3, "--half-threshold", help="Near pass: Jaccard each of prompt and response must reach."),
    shingle: int = typer.Option(3, "--shingle", help="Near pass: words per shingle."),
    num_perm: int = typer.Option(128, "--num-perm", help="Near pass: MinHash permutations."),
    semantic_threshold: float = typer.Option(0.95, "--semantic-threshold", help="Semantic pass: cosine threshold."),
    semantic_scope: str = typer.Option("global", "--semantic-scope", help="Semantic pass: global, or within topic clusters (cluster)."),
    short_words: int = typer.Option(3, "--short-words", help="Prompts of at most this many generic words are short_generic."),
    strip: bool = typer.Option(True, "--strip/--no-strip", help="Strip templates and system preambles before comparing."),
    keep: str = typer.Option("longest_response", "--keep", help="Keep policy: longest_response, source_priority, quality."),
    source_priority: Optional[str] = typer.Option(None, "--source-priority", help="Comma-separated sources, best first (keep=source_priority)."),
    quality_column: Optional[str] = typer.Option(None, "--quality-column", help="Scored-table column, higher is better (keep=quality)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the MinHash permutations."),
    force: bool = typer.Option(False, "--force", help="Recompute even if the stage is fresh."),
    report: bool = typer.Option(False, "--report", help="Show the per-source report table."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Find exact, near, semantic and instruction-aware duplicates; write dup_* columns, delete nothing.

    Kinds: exact, near, semantic, same_prompt, short_generic, same_response. Each group
    keeps one representative (dup_of is null, dup_keep true) chosen by --keep; mixing
    decides what to drop.

    Example: mixwise dedup --threshold 0.7 --keep source_priority --source-priority lima,alpaca --report
    """
    from mixwise.curate.dedup import DedupConfig
    from mixwise.views.dedup import render_report
    from mixwise.curate.dedup_stage import dedup_workspace

    priority = tuple(s.strip() for s in (source_priority or "").split(",") if s.strip())
    config = DedupConfig(
        exact=exact, near=near, semantic=semantic, threshold=threshold, half_threshold=half_threshold, shingle=shingle,
        num_perm=num_perm, semantic_threshold=semantic_threshold, semantic_scope=semantic_scope, short_words=short_words,
        strip_wrappers=strip, keep=keep, source_priority=priority, quality_column=quality_column, seed=seed,
    )
    run = dedup_workspace(workspace(), config, force=force)
    if as_json:
        emit_json({"skipped": run.skipped, "seconds": round(run.seconds, 2), "notes": run.notes, "stats": run.stats, **run.report})
        return
    for note in run.notes:
        warn(note)
    total = run.report["total"]
    state = "unchanged, reused" if run.skipped else f"{run.seconds:.1f}s"
    console.print(
        f"[green]dedup[/]: {total['rows']:,} rows, {run.report['groups']:,} groups, {total['duplicates']:,} duplicates, "
        f"{total['survivors']:,} survivors ({state})"
    )
    if report:
        console.print(render_report(run.report))
    else:
        console.print("[dim]per-source table: mixwise dedup --report; a group: mixwise dups show GROUP[/]")


@dups_app.command("list")
def dups_list(
    top: int = typer.Option(20, "--top", help="How many groups (largest first)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only groups with members of this kind."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the largest duplicate groups with their kinds and sources.

    Example: mixwise dups list --kind near --top 10
    """
    from rich.table import Table

    from mixwise.curate.dedup_explain import largest_groups

    groups = largest_groups(workspace(), top=top, kind=kind)
    if as_json:
        emit_json(groups.to_dicts())
        return
    table = Table(title="largest duplicate groups")
    for col in ("group", "size", "kinds", "sources", "kept prompt"):
        table.add_column(col, justify="right" if col == "size" else "left", overflow="ellipsis", no_wrap=True)
    for g in groups.iter_rows(named=True):
        table.add_row(g["dup_group"], str(g["size"]), g["kinds"], g["sources"], " ".join((g["kept_prompt"] or "").split())[:60])
    console.print(table)


@dups_app.command("show")
def dups_show(
    group: str = typer.Argument(..., help="A group id (dup_group) or a unique prefix of one."),
    members: int = typer.Option(4, "--members", help="How many members to show side by side."),
    as_json: bool = typer.Option(False, "--json", help="Print every member and its evidence as JSON."),
) -> None:
    """Show a duplicate group's members side by side with what made them duplicates.

    Example: mixwise dups show g3f2a
    """
    from mixwise.curate.dedup_explain import explain_group
    from mixwise.views.dedup import render_group

    ws = workspace()
    rows = explain_group(ws, group)
    if as_json:
        emit_json(rows)
        return
    console.print(render_group(group, rows, max_members=members))


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Curate")(dedup)
    app.add_typer(dups_app, name="dups", rich_help_panel="Curate")
