"""CLI: ``mixwise mix``, ``mixwise manifests``, ``mixwise manifest show`` and ``mixwise diff``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from mixwise.cli._common import console, emit_json, warn, workspace

MANIFESTS_HELP = "Manifests folder (default ./manifests or $MIXWISE_MANIFESTS)."


def mix(
    spec: Path = typer.Argument(..., help="Mixture spec (YAML)."),
    check: bool = typer.Option(False, "--check", help="Validate the spec against the workspace without building."),
    manifests: Optional[str] = typer.Option(None, "--manifests", "-m", envvar="MIXWISE_MANIFESTS", help=MANIFESTS_HELP),
    source: List[str] = typer.Option([], "--source", "-s", help="Point a source of the spec elsewhere: NAME=PATH or NAME=hf:ORG/NAME (repeatable)."),
    allow_short: bool = typer.Option(False, "--allow-shortfall", help="Take what matches when a component cannot be filled, and record the gap."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Build a versioned mixture manifest from a YAML spec.

    Sources named in the spec's sources: block that the workspace lacks are
    ingested first (hf: ids or paths relative to the spec; override with
    --source). The manifest goes to MANIFESTS/NAME/VERSION/ and
    MANIFESTS/NAME/LATEST points at it.

    Example: mixwise mix manifests/limit/lima_1k.yaml --source lima=../shared/data/instruct/lima_train.json
    """
    from mixwise.mixing.manifest import build_manifest, ensure_sources
    from mixwise.mixing.spec import allow_shortfall, load_spec, parse_overrides
    from mixwise.views.diff import manifest_tree

    ws = workspace()
    overrides = parse_overrides(source)
    parsed = load_spec(spec, overrides=overrides)
    if allow_short:
        parsed = allow_shortfall(parsed)
    if check:
        from mixwise.mixing.check import check_against_workspace

        pending, dry = check_against_workspace(parsed, ws)
        extra = f"; would ingest {', '.join(pending)} first" if pending else ""
        console.print(f"[green]ok[/] {spec}: {parsed.name}, {len(parsed.components)} components{extra}")
        for r in dry.components if dry else []:
            short = f", short by {r['shortfall']:,} {r['shortfall_unit']} (allowed)" if r["shortfall"] else ""
            console.print(f"  {r['name']}: would take {r['selected']:,} of {r['available']:,} matching rows{short}")
        return
    for name in ensure_sources(parsed, ws, base_dir=parsed.path.parent if parsed.path else None, explicit=set(overrides)):
        console.print(f"[dim]ingested source {name} for this spec[/]")
    result = build_manifest(parsed, ws, manifests)
    for stage, info in result.manifest.inputs.stages.items():
        if not info.fresh:
            warn(f"the {stage!r} stage ran before the sources last changed: rows ingested since have no {stage} columns; re-run: mixwise {stage}")
    if as_json:
        emit_json({"path": str(result.path), "created": result.created, **result.manifest.to_dict()})
        return
    console.print(manifest_tree(result.manifest))
    state = "written" if result.created else "unchanged (this version already exists)"
    console.print(f"[green]{parsed.name}@{result.manifest.version}[/] {state}: {result.path}")
    parent = result.manifest.parent
    if result.created and parent:
        from mixwise.mixing.diff import diff_manifests

        m = diff_manifests(str(result.path.parent / parent), str(result.path), examples=0)["membership"]
        console.print(f"vs parent {parent}: kept {m['kept']:,}, added {m['added']:,}, removed {m['removed']:,} "
                      f"(details: mixwise diff {parsed.name}@{parent} {parsed.name})")


def manifests(
    manifests: Optional[str] = typer.Option(None, "--manifests", "-m", envvar="MIXWISE_MANIFESTS", help=MANIFESTS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List stored manifests: every version with its parent, size and date.

    Example: mixwise manifests --json
    """
    from mixwise.mixing.manifest import list_manifests
    from mixwise.mixing.refs import manifests_dir

    rows = list_manifests(manifests)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        console.print(f"no manifests in {manifests_dir(manifests)}; build one with: mixwise mix SPEC.yaml")
        return
    table = Table(title=f"manifests in {manifests_dir(manifests)}", caption="* the latest version of its name")
    for col in ("name", "version", "parent", "samples", "tokens", "created (UTC)"):
        # names fold onto a second line rather than lose their end; the other columns keep their width
        table.add_column(col, justify="right" if col in ("samples", "tokens") else "left",
                         overflow="fold" if col == "name" else "ellipsis", no_wrap=col != "name")
    for r in rows:
        # "2026-11-23T17:38:35+00:00" -> "2026-11-23 17:38": the full stamp is in --json
        created = (r["created_at"] or "")[:16].replace("T", " ")
        table.add_row(r["name"], r["version"] + (" *" if r["latest"] else ""), r["parent"] or "-",
                      f"{r['samples']:,}", f"{r['tokens']:,}", created)
    console.print(table)


manifest_app = typer.Typer(help="Inspect one manifest.\n\nExample: mixwise manifest show lima-1k", no_args_is_help=True)


@manifest_app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME (latest), NAME@VERSION or a manifest folder."),
    manifests: Optional[str] = typer.Option(None, "--manifests", "-m", envvar="MIXWISE_MANIFESTS", help=MANIFESTS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print manifest.json."),
) -> None:
    """Show a manifest's composition as a tree with fingerprints.

    Example: mixwise manifest show lima-plus-instruct@3f2a
    """
    from mixwise.mixing.manifest import load_manifest
    from mixwise.views.diff import manifest_tree

    m = load_manifest(ref, manifests)
    if as_json:
        emit_json(m.to_dict())
        return
    console.print(manifest_tree(m))
    console.print(f"[dim]{m.folder}[/]")


def diff(
    a: str = typer.Argument(..., help="Manifest A: NAME, NAME@VERSION or a folder."),
    b: str = typer.Argument(..., help="Manifest B."),
    manifests: Optional[str] = typer.Option(None, "--manifests", "-m", envvar="MIXWISE_MANIFESTS", help=MANIFESTS_HELP),
    examples: int = typer.Option(3, "--examples", "-n", help="How many added and removed prompts to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the diff as JSON."),
    tui: bool = typer.Option(False, "--tui", help="Open the interactive diff: a tab per axis, enter drills into a group's samples."),
) -> None:
    """Compare two mixtures side by side.

    Shows lineage, composition by source, component, style, cluster and quality
    class with bars and deltas (samples and tokens), samples kept/added/removed,
    the length shift, changed dedup decisions and a few added and removed
    prompts. An axis only one manifest recorded (built before its stage ran) is
    named, not compared. --tui opens it as a terminal app (tabs: source,
    component, style, cluster, quality, length; enter lists the samples added,
    removed and kept in a group, / searches them, q quits).

    Example: mixwise diff lima-1k lima-plus-instruct --tui
    """
    if tui:
        from mixwise.mixing.diff import relation
        from mixwise.mixing.diff_groups import diff_groups
        from mixwise.tui.diff_app import DiffApp

        groups = diff_groups(a, b, manifests)
        header = f"A {groups.a.ref}  ·  B {groups.b.ref}  ·  {relation(groups.a, groups.b)}"
        DiffApp(groups, header).run()
        return
    from mixwise.mixing.diff import diff_manifests
    from mixwise.views.diff import render_diff

    d = diff_manifests(a, b, manifests, examples=examples)
    if as_json:
        emit_json(d)
        return
    render_diff(d, console)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Mix")(mix)
    app.command(rich_help_panel="Mix")(manifests)
    app.add_typer(manifest_app, name="manifest", rich_help_panel="Mix")
    app.command(rich_help_panel="Mix")(diff)
