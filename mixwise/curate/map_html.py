"""Write the interactive topic map: one HTML file with its data and script inline.

The page (``assets/map.html``) draws the points on a canvas, colours them by
cluster or by source (a toggle), labels each cluster at its centre, shows the
prompt head, cluster label and source of the point under the mouse, and
zooms (wheel) and pans (drag). It loads nothing from the network, so it works
offline and can be mailed around as a single file.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

import polars as pl

#: Characters of each prompt shown on hover.
HEAD_CHARS = 160


def map_payload(table: pl.DataFrame, labels: list[str], title: str) -> dict:
    """Columnar data for the page: coordinates, cluster and source per point, prompt heads, names."""
    sources = sorted(table["source"].unique().to_list())
    index = {s: i for i, s in enumerate(sources)}
    heads = [" ".join(p[:HEAD_CHARS * 2].split())[:HEAD_CHARS] for p in table["prompt"].to_list()]
    return {
        "title": title,
        "labels": labels,
        "sources": sources,
        "x": [round(v, 4) for v in table["x"].to_list()],
        "y": [round(v, 4) for v in table["y"].to_list()],
        "c": table["cluster"].to_list(),
        "s": [index[s] for s in table["source"].to_list()],
        "p": heads,
    }


def render_html(payload: dict) -> str:
    """The page with ``payload`` inlined as JSON (``<`` escaped so no text can close the script)."""
    template = resources.files("mixwise.curate").joinpath("assets/map.html").read_text(encoding="utf-8")
    data = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")
    return template.replace("__TITLE__", html.escape(payload["title"])).replace("__DATA__", data)


def write_html(table: pl.DataFrame, labels: list[str], path: Path, title: str) -> Path:
    """Write the self-contained map for ``table`` (columns x, y, cluster, source, prompt) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(map_payload(table, labels, title)), encoding="utf-8")
    return path
