"""Write the interactive topic map: one HTML file with its data and script inline.

The page (``assets/map.html``) draws the points on a canvas -- each cluster
in its own colour-blind-safe colour and marker shape (:mod:`map_colours`),
or coloured by source or style -- opens on the dense region of the map
(1st-99th percentile box; ``all`` shows the outliers, and wheel/drag reach
them), and labels clusters with boxes that never overlap: placed largest
cluster first, a label that would overlap one already placed waits until a
zoom makes room. A search box highlights the samples whose prompt or response
preview contains the text; clicking a point or a label lists that cluster's
samples in the side panel (prompt and response preview, source, style,
duplicate and quality flags), most central first; checkboxes filter points by
source, style, quality class and duplicate kind ("not recorded" when that
stage has not run). It loads nothing from the network, so it works offline
and can be mailed around as a single file.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

import polars as pl

#: Characters of each prompt and response kept in the page (hover, search, side panel).
PROMPT_CHARS = 180
RESPONSE_CHARS = 140


def _head(texts: list[str | None], n: int) -> list[str]:
    return [" ".join((t or "")[: n * 2].split())[:n] for t in texts]


def _codes(table: pl.DataFrame, col: str) -> tuple[list[str] | None, list[int] | None]:
    """Category names and per-row codes (-1 for null), or ``(None, None)`` when the column is absent (stage not run)."""
    if col not in table.columns:
        return None, None
    names = sorted(v for v in table[col].unique().to_list() if v is not None)
    index = {v: i for i, v in enumerate(names)}
    return names, [index.get(v, -1) for v in table[col].to_list()]


def map_payload(table: pl.DataFrame, clusters: list[dict], title: str, *, note: str = "",
                bounds: tuple[float, float, float, float] | None = None) -> dict:
    """Columnar data for the page.

    ``table``: one row per point with ``x, y, cluster, source, prompt`` and, when
    present, ``response, rank`` (closeness rank within the cluster), ``style``,
    ``dup_kind``, ``q_refusal``/``q_truncated``. ``clusters``: per cluster
    ``label`` and optionally ``size, keywords, central_prompts, sources, colour,
    shape, anchor``.
    """
    sources = sorted(table["source"].unique().to_list())
    sindex = {s: i for i, s in enumerate(sources)}
    styles, st = _codes(table, "style")
    dup_kinds, d = _codes(table, "dup_kind")
    q = None
    if "q_refusal" in table.columns and "q_truncated" in table.columns:
        q = table.select(((pl.col("q_refusal").fill_null(0) > 0).cast(pl.Int8)
                          + 2 * (pl.col("q_truncated").fill_null(0) > 0).cast(pl.Int8)).alias("q"))["q"].to_list()
    xs, ys = table["x"].to_list(), table["y"].to_list()
    if bounds is None:
        bounds = (min(xs, default=0.0), max(xs, default=1.0), min(ys, default=0.0), max(ys, default=1.0))
    cl = table["cluster"].to_list()
    out_clusters = []
    for c, info in enumerate(clusters):
        pts = [(x, y) for x, y, k in zip(xs, ys, cl) if k == c]
        anchor = info.get("anchor") or (pts[0] if pts else (0.0, 0.0))
        out_clusters.append({
            "label": info["label"], "size": int(info.get("size", len(pts))), "keywords": list(info.get("keywords", [])),
            "central": list(info.get("central_prompts", [])), "sources": dict(info.get("sources", {})),
            "colour": info.get("colour", "#777777"), "shape": info.get("shape", "circle"),
            "ax": round(float(anchor[0]), 4), "ay": round(float(anchor[1]), 4)})
    return {
        "title": title, "note": note, "clusters": out_clusters, "sources": sources, "styles": styles, "dupKinds": dup_kinds,
        "bounds": [round(float(b), 4) for b in bounds],
        "x": [round(v, 4) for v in xs], "y": [round(v, 4) for v in ys], "c": cl,
        "s": [sindex[s] for s in table["source"].to_list()], "st": st, "d": d, "q": q,
        "k": table["rank"].to_list() if "rank" in table.columns else list(range(table.height)),
        "p": _head(table["prompt"].to_list(), PROMPT_CHARS),
        "r": _head(table["response"].to_list(), RESPONSE_CHARS) if "response" in table.columns else [""] * table.height,
    }


def render_html(payload: dict) -> str:
    """The page with ``payload`` inlined as JSON (``<`` escaped so no text can close the script)."""
    template = resources.files("mixwise.curate").joinpath("assets/map.html").read_text(encoding="utf-8")
    data = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")
    return template.replace("__TITLE__", html.escape(payload["title"])).replace("__DATA__", data)


def write_html(table: pl.DataFrame, clusters: list[dict] | list[str], path: Path, title: str, *, note: str = "",
               bounds: tuple[float, float, float, float] | None = None) -> Path:
    """Write the self-contained map for ``table`` (see :func:`map_payload`) to ``path``; ``clusters`` may be plain labels."""
    clusters = [{"label": c} if isinstance(c, str) else c for c in clusters]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(map_payload(table, clusters, title, note=note, bounds=bounds)), encoding="utf-8")
    return path
