"""Shared plumbing for CLI commands: global state, the console, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mixwise.workspace import Workspace


@dataclass
class State:
    """Options given before the command (``mixwise --workspace DIR --debug CMD``)."""

    workspace: str | None = None
    debug: bool = False


state = State()
console = Console()
err_console = Console(stderr=True)


def workspace() -> Workspace:
    """The workspace chosen by --workspace, $MIXWISE_HOME or the default."""
    return Workspace.resolve(state.workspace)


def emit_json(data: Any) -> None:
    """Print JSON for machines to stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


@contextmanager
def progress_bar(description: str, total: int | None = None, unit: str = "items") -> Iterator:
    """A rich progress bar on stderr; yields ``update(done, total)``. Silent when stderr is not a terminal."""
    columns = [TextColumn("{task.description}"), BarColumn()]
    columns.append(DownloadColumn() if unit == "bytes" else MofNCompleteColumn())
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as progress:
        task = progress.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            progress.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update
