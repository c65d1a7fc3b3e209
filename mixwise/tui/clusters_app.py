"""``mixwise clusters --tui``: browse topic clusters, their samples and their styles (Textual).

The main screen lists clusters (id, label, size, main source, main style);
below it, the highlighted cluster's keyphrases, most central prompts and its
breakdown by source, style, duplicate kind and quality flag ("not recorded"
when that stage has not run). ``enter`` opens the cluster's samples, nearest
the centre first, with one view per style (``←``/``→``), ``/`` to search and a
preview of the whole prompt and response. ``escape`` goes back, ``q`` quits.

Run it: ``mixwise clusters --tui``; from Python: ``ClustersApp(ws).run()``.
"""

from __future__ import annotations

import polars as pl
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from mixwise.curate.cluster_inspect import cluster_members, cluster_overview
from mixwise.tui.widgets import RowTable, SamplesScreen, View, one_line
from mixwise.workspace import Workspace


def _top(d: dict | None, n: int = 1) -> str:
    if d is None:
        return "n/r"
    total = sum(d.values()) or 1
    return ", ".join(f"{k} {v / total:.0%}" for k, v in list(d.items())[:n]) or "-"


def _breakdown(name: str, d: dict | None, stage: str, size: int) -> str:
    if d is None:
        return f"{name}: not recorded (run: mixwise {stage})"
    if not d:
        return f"{name}: none of {size:,}"
    return f"{name}: " + ", ".join(f"{k} {v:,}" for k, v in d.items()) + f"  (of {size:,})"


class ClustersApp(App):
    """A cluster table with a detail pane; enter drills into a cluster's samples."""

    TITLE = "mixwise clusters"
    BINDINGS = [Binding("q", "quit", "quit")]
    DEFAULT_CSS = """
    #table { height: 1fr; }
    #detail-box { height: 1fr; border-top: solid $primary; }
    #detail { padding: 0 1; }
    """

    def __init__(self, ws: Workspace):
        super().__init__()
        self.ws = ws
        self.rows = cluster_overview(ws)

    def compose(self) -> ComposeResult:
        yield Static(f" {len(self.rows)} clusters · {sum(r['size'] for r in self.rows):,} samples · enter: samples · q: quit",
                     id="head")
        yield RowTable(id="table")
        with VerticalScroll(id="detail-box"):
            yield Static(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one(RowTable)
        t.add_columns("id", "label", "size", "source", "style")
        for r in self.rows:
            t.add_row(str(r["id"]), one_line(r["label"], 34), f"{r['size']:,}", _top(r["sources"]), _top(r["styles"]), key=str(r["id"]))
        t.focus()
        if self.rows:
            self.show_detail(0)

    def show_detail(self, i: int) -> None:
        r = self.rows[i]
        text = Text()
        text.append(f"cluster {r['id']}: {r['label']}  ({r['size']:,} samples)\n", style="bold")
        text.append("keyphrases: " + ", ".join(r.get("keywords") or []) + "\n")
        for name, key, stage in (("sources", "sources", "ingest"), ("styles", "styles", "style"),
                                 ("duplicates", "duplicates", "dedup"), ("quality flags", "quality", "quality")):
            text.append(_breakdown(name, r[key], stage, r["size"]) + "\n")
        text.append("most central prompts:\n", style="bold")
        for p in r["central_prompts"]:
            text.append(f"  · {one_line(p, 300)}\n")
        self.query_one("#detail", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "table":
            self.show_detail(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "table" or event.row_key.value is None:
            return
        cid = int(event.row_key.value)
        r = next(x for x in self.rows if x["id"] == cid)
        self.push_screen(cluster_screen(self.ws, r))


def cluster_screen(ws: Workspace, row: dict) -> SamplesScreen:
    """The sample browser for one cluster: all samples, then one view per style."""
    cache: dict[str, pl.DataFrame] = {}

    def members() -> pl.DataFrame:
        if "all" not in cache:
            cache["all"] = cluster_members(ws, row["id"])
        return cache["all"]

    views = [View("all", "", row["size"], members)]
    for style, n in (row["styles"] or {}).items():
        views.append(View(style, "", n, lambda s=style: members().filter(pl.col("style") == s)))
    title = f"cluster {row['id']}: {row['label']}  ({row['size']:,} samples, nearest the centre first)"
    if row["styles"] is None:
        title += "  · styles not recorded (run: mixwise style)"
    return SamplesScreen(title, views)
