"""The terminal apps: the group-level diff model, and `diff --tui` / `clusters --tui` driven by Textual's headless pilot.

Keys are pressed as a user would; assertions read the text on the (virtual)
screen. An axis a manifest does not record must read "not recorded" / "n/r",
never zeros (built in the order a user hits it: mix, then `mixwise style`, then mix again).
"""

from __future__ import annotations

import asyncio
import io

import polars as pl
import pytest

from mixwise.mixing.diff_groups import diff_groups
from mixwise.mixing.manifest import build_manifest
from mixwise.mixing.spec import parse_spec

from tests.mix_fixtures import add_dedup_columns, add_stage_columns, build_workspace


def screen_text(app) -> str:
    """What the terminal shows now, as plain text (rendered like Textual's own screenshot export)."""
    from rich.console import Console

    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True, color_system=None,
                      legacy_windows=False, force_terminal=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def spec(name: str, stars: int, drop: list[str]):
    return parse_spec({"name": name, "seed": 2, "dedup": {"drop": drop}, "components": [
        {"name": "code", "filter": {"source": "coder"}, "count": 6},
        {"name": "space", "filter": {"source": "stars"}, "count": stars, "shortfall": "allow"}]})


@pytest.fixture()
def pair(ws, tmp_path):
    """A (no dedup) and B (drops exact + near) over the same sources; both with style, cluster, dedup columns."""
    build_workspace(ws, tmp_path)
    add_stage_columns(ws)
    add_dedup_columns(ws)
    root = tmp_path / "m"
    a = build_manifest(spec("d", 10, []), ws, root)
    b = build_manifest(spec("d", 10, ["exact", "near"]), ws, root)
    return a, b, root


@pytest.fixture()
def style_later(ws, tmp_path):
    """A built before the style stage ran, B after it: style is recorded in B only."""
    build_workspace(ws, tmp_path)
    t = ws.samples(columns=["id", "source"])
    ws.write_columns("cluster", t.select("id", pl.lit(0, dtype=pl.Int32).alias("cluster"), pl.lit("all").alias("cluster_label")),
                     {"fixture": "one"})
    root = tmp_path / "m"
    a = build_manifest(spec("s", 10, []), ws, root)
    add_stage_columns(ws)  # writes style (and rewrites cluster)
    b = build_manifest(spec("s", 8, []), ws, root)
    return a, b, root


def test_groups_count_added_removed_kept_per_axis(pair):
    a, b, root = pair
    g = diff_groups(str(a.path), str(b.path))
    ia = set(pl.read_parquet(a.path / "samples.parquet")["id"])
    ib = set(pl.read_parquet(b.path / "samples.parquet")["id"])
    assert g.counts() == {"kept": len(ia & ib), "added": len(ib - ia), "removed": len(ia - ib)}
    for axis in ("source", "component", "style", "cluster", "length"):
        d = g.axes[axis]
        assert d.recorded_a and d.recorded_b and not d.note
        assert sum(r["removed"] for r in d.rows) == len(ia - ib), axis
        assert sum(r["kept"] for r in d.rows) == len(ia & ib), axis
    stars = {r["key"]: r for r in g.axes["source"].rows}["stars"]
    assert stars["a_samples"] == 10 and stars["b_samples"] == 5 and stars["removed"] == 5 and stars["delta_samples"] == -5
    removed = g.members("source", "stars", "removed")
    assert removed.height == 5 and set(removed["id"]) <= ia - ib
    assert {"prompt", "response", "style", "dup_kind"} <= set(removed.columns)
    assert (removed["dup_kind"] == "near").all()  # B dropped the near-duplicates
    buckets = [r["key"] for r in g.axes["length"].rows]
    assert buckets == sorted(buckets, key=lambda k: int(k.split("-")[0].rstrip("+")))


def test_axis_missing_on_one_side_is_not_recorded_never_zero(style_later):
    a, b, root = style_later
    g = diff_groups(str(a.path), str(b.path))
    style = g.axes["style"]
    assert not style.recorded_a and style.recorded_b
    assert "not recorded in A" in style.note and "mixwise style" in style.note
    assert all(r["a_samples"] is None and r["delta_samples"] is None and r["removed"] is None for r in style.rows)
    assert sum(r["b_samples"] for r in style.rows) == b.manifest.counts.samples
    assert g.members("style", style.rows[0]["key"], "removed") is None
    assert not g.axes["quality"].recorded_a and not g.axes["quality"].rows  # neither side ran the quality stage


def _run(app, steps):
    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            out = []
            for step in steps:
                if isinstance(step, str):
                    await pilot.press(*step.split())
                else:
                    await pilot.press(*step)
                await pilot.pause()
                out.append(screen_text(app))
            return out, app.return_code, app.is_running

    return asyncio.run(go())


@pytest.mark.slow
def test_diff_tui_tabs_drill_down_search_and_quit(pair):
    from mixwise.tui.diff_app import DiffApp

    a, b, root = pair
    app = DiffApp(diff_groups(str(a.path), str(b.path)), "A d@x · B d@y")
    search = ["slash", *["space" if ch == " " else ch for ch in "answer 7"], "enter"]
    screens, _, running = _run(app, [
        [],                      # 0: first tab, source
        "right right",           # 1: style tab
        "1 down up",             # 2: back to source, down and up again to its first row
        "enter",                 # 3: drill into that group
        "r",                     # 4: the removed view
        search,                  # 5: search the removed samples
        "escape",                # 6: back to the tabs
        "q",
    ])
    first, style, _, drill, removed, found, back = screens[:7]
    assert "kept" in first and "added" in first and "removed" in first
    assert "stars" in first and "coder" in first
    assert "long_form" in style and "concise" in style
    assert "source = stars" in drill and "PROMPT" in drill and "RESPONSE" in drill
    assert "removed 5" in removed and "dup:near" in removed
    assert "1 match 'answer 7'" in found and "Answer 7 about astronomy" in found
    assert "source = stars" not in back and "stars" in back
    assert not running


@pytest.mark.slow
def test_diff_tui_says_not_recorded(style_later):
    from mixwise.tui.diff_app import DiffApp

    a, b, root = style_later
    app = DiffApp(diff_groups(str(a.path), str(b.path)))
    screens, _, _ = _run(app, ["3", "enter", "q"])
    style_tab, drill = screens[0], screens[1]
    assert "style not recorded in A" in style_tab and "n/r" in style_tab
    assert "long_form" in style_tab
    assert " 0 " not in style_tab.split("long_form")[1].splitlines()[0].split("n/r")[0]  # A's cell is n/r, not 0
    assert "removed n/r" in drill


def test_tui_is_not_imported_by_stages():
    import subprocess
    import sys

    code = ("import mixwise.curate.cluster, mixwise.mixing.diff_groups, mixwise.curate.cluster_inspect, sys;"
            "print(any(m.startswith(('textual', 'mixwise.tui')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.slow
def test_diff_tui_in_tmux_at_80x24(pair, tmp_path):
    """The real command in a real terminal (tmux, 80 x 24): it draws, the keys work, q quits."""
    import os
    import shutil
    import subprocess
    import sys
    import time

    if not shutil.which("tmux"):
        if os.environ.get("CI"):
            pytest.fail("tmux is required (apt-get install tmux)", pytrace=False)
        pytest.skip("tmux not installed")
    a, b, root = pair
    session = f"mixwise-test-{os.getpid()}"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = (f"cd {repo} && PYTHONPATH={repo} {sys.executable} -m mixwise diff d@{a.manifest.version} d --manifests {root} --tui;"
           f" echo EXITED $? > {tmp_path / 'rc'}; sleep 30")

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    def wait_for(text: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = screen()
            if text in s:
                return s
            time.sleep(0.3)
        raise AssertionError(f"{text!r} never appeared; screen:\n{screen()}")

    def keys(*k: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", session, *k], check=True)

    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd], check=True)
    try:
        first = wait_for("removed")
        lines = first.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        assert "stars" in first and "coder" in first and "source" in first
        keys("Right", "Right")
        style = wait_for("long_form")
        keys("1", "Enter")
        drill = wait_for("source = stars")
        keys("k")
        wait_for("kept: 5 samples")
        keys("r")
        removed = wait_for("removed: 5 samples")
        assert "dup:near" in removed
        keys("q")
        end = time.monotonic() + 30
        while not (tmp_path / "rc").is_file() and time.monotonic() < end:
            time.sleep(0.3)
        assert (tmp_path / "rc").read_text().split() == ["EXITED", "0"]
        print("--- tmux 80x24: first screen\n" + first + "\n--- style tab\n" + style + "\n--- drill-down, removed\n" + removed)
        assert "PROMPT" in drill
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
