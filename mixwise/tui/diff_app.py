"""``mixwise diff A B --tui``: the diff of two mixtures as a terminal app (Textual).

One tab per axis (source, component, style, cluster, quality, length); each
row is a group with its samples in A and B (count and share), the change, and
the unique samples kept, added and removed. ``enter`` on a row opens those
samples (views: added / removed / kept; ``/`` searches; a preview shows the
whole prompt and response). An axis a manifest does not record shows ``n/r``
(not recorded) and says how to record it -- never zeros.

Keys: ``1``-``6`` or ``←``/``→`` switch tabs, ``↑``/``↓`` move, ``enter``
opens, ``escape`` goes back, ``q`` quits.

Run it: ``mixwise diff lima-1k lima-plus-instruct --tui``; from Python:
``DiffApp(diff_groups(a, b), header).run()``.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static, TabbedContent, TabPane

from mixwise.mixing.diff_groups import AXES, AxisDiff, DiffGroups
from mixwise.tui.widgets import RowTable, SamplesScreen, View, count, one_line, share, signed

GROUP_WIDTH = 22


class DiffApp(App):
    """Tabs of group rows; drill down into a group's added / removed / kept samples."""

    TITLE = "mixwise diff"
    BINDINGS = [Binding("q", "quit", "quit"), Binding("left", "tab(-1)", "prev tab", priority=True),
                Binding("right", "tab(1)", "next tab", priority=True),
                *[Binding(str(i + 1), f"show_tab({i})", axis, show=False) for i, axis in enumerate(AXES)]]
    DEFAULT_CSS = """
    #head { height: auto; padding: 0 1; background: $boost; }
    #tabs, #tabs > ContentSwitcher, TabPane { height: 1fr; }
    TabPane { padding: 0; }
    .note { height: auto; padding: 0 1; color: $warning; }
    RowTable { height: 1fr; }
    """

    def __init__(self, groups: DiffGroups, header: str = ""):
        super().__init__()
        self.groups, self.header = groups, header

    def compose(self) -> ComposeResult:
        c = self.groups.counts()
        head = self.header or f"A {self.groups.a.ref}  ·  B {self.groups.b.ref}"
        yield Static(f"{head}\nkept {c['kept']:,}  [green]added {c['added']:,}[/]  [red]removed {c['removed']:,}[/]"
                     "  [dim](unique samples; enter on a row lists them)[/]", id="head")
        with TabbedContent(id="tabs"):
            for axis in AXES:
                with TabPane(axis, id=f"tab-{axis}"):
                    d = self.groups.axes[axis]
                    if d.note:
                        yield Static(d.note, classes="note")
                    yield RowTable(id=f"table-{axis}")
        yield Footer()

    def on_mount(self) -> None:
        for axis in AXES:
            self._fill(self.query_one(f"#table-{axis}", RowTable), self.groups.axes[axis])
        self._focus_table()

    def _fill(self, table: RowTable, d: AxisDiff) -> None:
        table.add_columns(d.axis, "A", "A%", "B", "B%", "Δ", "kept", "added", "removed")
        for i, r in enumerate(d.rows):
            name = r["key"] + (f" {r['label']}" if r.get("label") else "")
            table.add_row(one_line(name, GROUP_WIDTH), count(r["a_samples"]), share(r["a_share"]), count(r["b_samples"]),
                          share(r["b_share"]), signed(r["delta_samples"]), count(r["kept"]), count(r["added"]),
                          count(r["removed"]), key=str(i))
        if not d.rows:
            table.add_row("(no groups)", *[""] * 8)

    def _active_axis(self) -> str:
        return self.query_one(TabbedContent).active.removeprefix("tab-")

    def _focus_table(self) -> None:
        # Synchronously (widget.focus() is deferred): a key typed right after a tab switch goes to the new tab.
        self.screen.set_focus(self.query_one(f"#table-{self._active_axis()}", RowTable))

    def action_show_tab(self, i: int) -> None:
        self.query_one(TabbedContent).active = f"tab-{AXES[i]}"
        self._focus_table()

    def action_tab(self, step: int) -> None:
        current = AXES.index(self.query_one(TabbedContent).active.removeprefix("tab-"))
        self.action_show_tab((current + step) % len(AXES))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # The arrows switch tabs only on the main screen; elsewhere they belong to the sample browser.
        if action == "tab" and self.screen is not self.screen_stack[0]:
            return False
        return True

    def on_tabbed_content_tab_activated(self, _event: TabbedContent.TabActivated) -> None:
        self._focus_table()

    def on_data_table_row_selected(self, event: RowTable.RowSelected) -> None:
        # Always the visible tab's table (an enter typed during a tab switch may reach the previous one).
        axis = self._active_axis()
        table = self.query_one(f"#table-{axis}", RowTable)
        d = self.groups.axes[axis]
        if not d.rows or not 0 <= table.cursor_row < len(d.rows):
            return
        self.push_screen(group_screen(self.groups, axis, d.rows[table.cursor_row]))


def group_screen(groups: DiffGroups, axis: str, row: dict) -> SamplesScreen:
    """The sample browser for one group: views added / removed / kept."""
    key = row["key"]
    name = key + (f" {row['label']}" if row.get("label") else "")
    d = groups.axes[axis]

    def loader(which: str):
        return lambda: groups.members(axis, key, which)

    views = [View(which, which[0], row[which], loader(which), note=d.note) for which in ("added", "removed", "kept")]
    title = (f"{axis} = {name}:  A {count(row['a_samples'])} → B {count(row['b_samples'])}  "
             f"(kept {count(row['kept'])}, added {count(row['added'])}, removed {count(row['removed'])})")
    return SamplesScreen(title, views)
