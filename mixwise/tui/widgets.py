"""Pieces shared by the terminal apps: a row table without sideways keys, and the sample browser screen.

:class:`SamplesScreen` lists samples (one table row each: source, style,
duplicate kind, quality flags, prompt head) above a preview of the highlighted
one (its whole prompt and response). Several *views* (added / removed / kept,
or one per style) switch with the left and right arrows or their letter; ``/``
searches prompts and responses (case-insensitive, literal); ``escape`` goes
back; ``q`` quits the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

#: Rows put in a table at once (a search narrows the rest down).
MAX_ROWS = 1000
PREVIEW_CHARS = 6000
NOT_RECORDED = "n/r"


class RowTable(DataTable, inherit_bindings=False):
    """A row-cursor table whose left/right keys are left to the screen (to switch tabs or views)."""

    BINDINGS = [Binding("enter", "select_cursor", "open", show=True), Binding("up", "cursor_up", show=False),
                Binding("down", "cursor_down", show=False), Binding("pageup", "page_up", show=False),
                Binding("pagedown", "page_down", show=False), Binding("home", "scroll_top", show=False),
                Binding("end", "scroll_bottom", show=False)]

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)


def one_line(text: str | None, n: int) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis."""
    t = " ".join((text or "").split())
    return t if len(t) <= n else t[: max(n - 1, 0)] + "…"


def count(v: int | None) -> str:
    """A count with thousands separators, or ``n/r`` (not recorded) for None."""
    return NOT_RECORDED if v is None else f"{v:,}"


def share(v: float | None) -> str:
    return NOT_RECORDED if v is None else f"{v:.0%}"


def signed(v: int | None) -> str:
    return NOT_RECORDED if v is None else ("·" if v == 0 else f"{v:+,}")


def flags(row: dict) -> str:
    """Short tags for a sample's duplicate kind and quality flags (empty when clean or not recorded)."""
    tags = []
    if row.get("dup_kind"):
        tags.append(f"dup:{row['dup_kind']}")
    if row.get("q_flags"):
        tags.append(f"q:{row['q_flags']}")
    return " ".join(tags)


@dataclass
class View:
    """One list the sample browser can show: a name, its key, its size (None: not recorded) and how to load it."""

    name: str
    key: str
    size: int | None
    load: Callable[[], pl.DataFrame | None]
    note: str = ""


class SamplesScreen(Screen):
    """Browse samples of one group: a list, a preview, views, search."""

    BINDINGS = [Binding("escape", "back", "back"), Binding("slash", "search", "search"),
                Binding("left", "view(-1)", "prev view"), Binding("right", "view(1)", "next view"),
                Binding("q", "app.quit", "quit")]
    DEFAULT_CSS = """
    SamplesScreen #title { height: auto; padding: 0 1; background: $boost; text-style: bold; }
    SamplesScreen #views { height: 1; padding: 0 1; }
    SamplesScreen #search { height: 3; display: none; }
    SamplesScreen #search.shown { display: block; }
    SamplesScreen #status { height: 1; padding: 0 1; color: $text-muted; }
    SamplesScreen RowTable { height: 1fr; }
    SamplesScreen #preview-box { height: 1fr; border-top: solid $primary; }
    SamplesScreen #preview { padding: 0 1; }
    """

    def __init__(self, title: str, views: list[View]):
        super().__init__()
        self.title_text, self.views, self.current = title, views, 0
        self.query_text = ""
        self._frames: dict[int, pl.DataFrame | None] = {}
        self._shown: pl.DataFrame | None = None
        # Start on the first view that has samples.
        self.current = next((i for i, v in enumerate(views) if v.size), 0)

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="title")
        yield Static(id="views")
        yield Input(placeholder="search prompts and responses (enter: apply, escape: back to the list)", id="search")
        yield Static(id="status")
        yield RowTable(id="samples")
        with VerticalScroll(id="preview-box"):
            yield Static(id="preview")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(RowTable)
        table.add_columns("#", "source", "style", "flags", "prompt")
        self.refresh_view()
        table.focus()

    # -- data -------------------------------------------------------------------------------
    def frame(self) -> pl.DataFrame | None:
        if self.current not in self._frames:
            self._frames[self.current] = self.views[self.current].load()
        return self._frames[self.current]

    def refresh_view(self) -> None:
        labels = []
        for i, v in enumerate(self.views):
            text = f"{v.name} {count(v.size)}"
            labels.append(f"[reverse] {text} [/]" if i == self.current else f" {text} ")
        keys = "  ".join(f"{v.key}" for v in self.views if v.key)
        self.query_one("#views", Static).update("  ".join(labels) + (f"   [dim]←/→ or {keys}[/]" if keys else "   [dim]←/→[/]"))
        table = self.query_one(RowTable)
        table.clear()
        df = self.frame()
        view = self.views[self.current]
        status = self.query_one("#status", Static)
        preview = self.query_one("#preview", Static)
        if df is None:
            self._shown = None
            status.update(f"{view.name}: not recorded. {view.note}")
            preview.update("")
            return
        if self.query_text:
            q = self.query_text.lower()
            df = df.filter(pl.col("prompt").str.to_lowercase().str.contains(q, literal=True)
                           | pl.col("response").str.to_lowercase().str.contains(q, literal=True))
        self._shown = df.head(MAX_ROWS)
        for i, r in enumerate(self._shown.iter_rows(named=True)):
            table.add_row(str(i + 1), one_line(r.get("source"), 14), one_line(r.get("style") or "", 12), flags(r),
                          one_line(r.get("prompt"), 200), key=str(i))
        found = f"{df.height:,} match '{self.query_text}'" if self.query_text else f"{df.height:,} samples"
        more = f" (first {MAX_ROWS:,} listed; search to narrow)" if df.height > MAX_ROWS else ""
        status.update(f"{view.name}: {found}{more}")
        if df.height:
            self.show_preview(0)
        else:
            preview.update("(nothing to show)")

    def show_preview(self, i: int) -> None:
        if self._shown is None or not 0 <= i < self._shown.height:
            return
        r = self._shown.row(i, named=True)
        meta = [f"id {r['id']}", f"source {r.get('source')}"]
        for col, name in (("style", "style"), ("cluster_label", "cluster"), ("component", "component"), ("dup_kind", "duplicate")):
            if r.get(col) is not None:
                meta.append(f"{name} {r[col]}")
        if r.get("q_flags") is not None:
            bad = [n for n in ("refusal", "truncated") if r.get(f"q_{n}")]
            meta.append("quality " + (" + ".join(bad) if bad else ("clean" if not r["q_flags"] else f"{r['q_flags']} flags")))
        from rich.text import Text

        text = Text()
        text.append("  ·  ".join(meta) + "\n\n", style="dim")
        text.append("PROMPT\n", style="bold")
        text.append((r.get("prompt") or "")[:PREVIEW_CHARS] + "\n\n")
        text.append("RESPONSE\n", style="bold")
        text.append((r.get("response") or "")[:PREVIEW_CHARS])
        self.query_one("#preview", Static).update(text)

    # -- events -----------------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_preview(event.cursor_row)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.refresh_view()
        self.query_one(RowTable).focus()

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("shown")
        box.focus()

    def action_back(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_focus:
            if not box.value:
                box.remove_class("shown")
            self.query_one(RowTable).focus()
            return
        self.app.pop_screen()

    def action_view(self, step: int) -> None:
        self.current = (self.current + step) % len(self.views)
        self.refresh_view()

    def on_key(self, event) -> None:
        """A view's letter switches to it (unless typing into the search box)."""
        if self.query_one("#search", Input).has_focus:
            return
        for i, v in enumerate(self.views):
            if v.key and event.key == v.key:
                self.current = i
                self.refresh_view()
                event.stop()
                return
