"""The 2-D topic map: UMAP of the embeddings -> a PNG and one self-contained HTML file.

UMAP (cosine metric, seeded) is fitted on at most ``fit_max`` rows (a seeded
random sample) and the remaining rows are placed with ``transform``: fitting
is the slow part and grows faster than linearly, so a 20k fit plus a transform
keeps 100k+ rows practical. The HTML (see :mod:`map_html`) needs no network;
it holds at most ``max_points`` points (default 20,000, a seeded random
sample, said on the page) so it stays a few MB and smooth in a browser. The
PNG draws every point. Both open on the dense region (1st-99th percentile
box), colour clusters with :mod:`map_colours` and never overlap two labels.

Run it: ``mixwise map --out map.html`` (after ``mixwise cluster``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from mixwise.curate.cluster import STAGE, read_clusters
from mixwise.curate.embed import load_embeddings
from mixwise.curate.map_colours import SHAPE_MARKERS, anchors, assign_styles, robust_bounds
from mixwise.curate.map_html import write_html
from mixwise.workspace import Workspace, write_json

FIT_MAX = 20_000
#: Points in the HTML page at most (a seeded random sample beyond that).
MAX_POINTS = 20_000
#: Stage columns the page shows and filters on, when those stages have run.
PAGE_COLUMNS = ("style", "dup_kind", "q_refusal", "q_truncated")


def project(vectors: np.ndarray, *, seed: int = 0, fit_max: int = FIT_MAX, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """UMAP 2-D coordinates (float32) for every row; fits on a seeded sample of ``fit_max`` when n is larger."""
    import umap

    n = len(vectors)
    if n < 4:
        return np.zeros((n, 2), dtype=np.float32) + np.arange(n, dtype=np.float32)[:, None]
    reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, n - 1)), min_dist=min_dist, metric="cosine",
                        random_state=seed, init="spectral" if n > 50 else "random", n_jobs=1)
    if n <= fit_max:
        return reducer.fit_transform(vectors).astype(np.float32)
    fit = np.sort(np.random.default_rng(seed).choice(n, fit_max, replace=False))
    coords = np.zeros((n, 2), dtype=np.float32)
    coords[fit] = reducer.fit_transform(vectors[fit])
    rest = np.setdiff1d(np.arange(n), fit)
    coords[rest] = reducer.transform(vectors[rest])
    return coords


def _overlaps(a, b, pad: float = 2.0) -> bool:
    return a.x0 < b.x1 + pad and b.x0 < a.x1 + pad and a.y0 < b.y1 + pad and b.y0 < a.y1 + pad


def write_png(coords: np.ndarray, clusters: np.ndarray, labels: list[str], path: Path, title: str = "",
              styles: list[dict] | None = None, anchor: np.ndarray | None = None) -> Path:
    """A scatter plot by cluster (colour + shape), framed on the dense region, labels placed largest first without overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(labels)
    styles = styles or assign_styles(coords, clusters, k)
    anchor = anchors(coords, clusters, k) if anchor is None else anchor
    fig, ax = plt.subplots(figsize=(11, 9), dpi=110)
    size = max(2.5, min(20.0, 40000 / max(len(coords), 1)))
    for c in range(k):
        pts = coords[clusters == c]
        ax.scatter(pts[:, 0], pts[:, 1], c=styles[c]["colour"], marker=SHAPE_MARKERS[styles[c]["shape"]], s=size,
                   linewidths=0, alpha=0.8)
    x0, x1, y0, y1 = robust_bounds(coords)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = []
    sizes = np.bincount(clusters, minlength=k)
    for c in sorted(range(k), key=lambda c: (-sizes[c], c)):  # largest first; a label that overlaps is left out
        if not sizes[c] or not (x0 <= anchor[c, 0] <= x1 and y0 <= anchor[c, 1] <= y1):
            continue
        text = f"{c}: {labels[c][:38] + ('…' if len(labels[c]) > 38 else '')}"
        t = ax.annotate(text, (anchor[c, 0], anchor[c, 1]), fontsize=7, ha="center", va="center", annotation_clip=True,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": styles[c]["colour"], "lw": 1.2, "alpha": 0.9})
        box = t.get_window_extent(renderer).expanded(1.0, 1.15)
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        if not inside or any(_overlaps(box, p) for p in placed):
            t.remove()
            continue
        placed.append(box)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


@dataclass
class MapReport:
    """Where the map went and how long the projection took."""

    html: Path
    png: Path
    rows: int
    seconds: float
    points_in_html: int = 0


def _closeness_rank(vectors: np.ndarray, assign: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each row's rank by closeness to its own centroid within its cluster (0 = most central)."""
    sim = np.einsum("ij,ij->i", vectors, centroids[assign])
    order = np.lexsort((-sim, assign))
    rank = np.empty(len(assign), dtype=np.int64)
    starts = np.searchsorted(assign[order], assign[order], side="left")
    rank[order] = np.arange(len(order)) - starts
    return rank


def map_workspace(ws: Workspace, *, out: Path, seed: int = 0, fit_max: int = FIT_MAX, max_points: int = MAX_POINTS,
                  png: Path | None = None) -> MapReport:
    """Project the clustered embeddings to 2-D and write ``out`` (HTML) and a PNG beside it."""
    clusters = read_clusters(ws)
    field = (ws.stage_meta(STAGE) or {})["config"]["field"]
    ids, vectors = load_embeddings(ws, field=field)
    started = time.perf_counter()
    coords = project(vectors, seed=seed, fit_max=fit_max)
    seconds = time.perf_counter() - started
    scored = ws.scored()
    keep = ["id", "source", "prompt", "response", "cluster", "cluster_label", *[c for c in PAGE_COLUMNS if c in scored.columns]]
    table = (pl.DataFrame({"id": ids, "x": coords[:, 0], "y": coords[:, 1]})
             .join(scored.select(keep), on="id", how="left", maintain_order="left"))
    assign = table["cluster"].to_numpy().astype(np.int64)
    k = len(clusters)
    table = table.with_columns(pl.Series("rank", _closeness_rank(vectors, assign, np.load(ws.stage_dir(STAGE) / "centroids.npy"))))
    styles = assign_styles(coords, assign, k, seed=seed)
    anchor = anchors(coords, assign, k)
    bounds = robust_bounds(coords)
    by_source = table.group_by("cluster", "source").len().sort(["cluster", "len", "source"], descending=[False, True, False])
    info = []
    for c, cl in enumerate(clusters):
        src = by_source.filter(pl.col("cluster") == c)
        info.append({**styles[c], "label": cl["label"], "size": cl["size"], "keywords": cl.get("keywords", []),
                     "central_prompts": cl.get("central_prompts") or cl.get("representative_prompts", [])[:3],
                     "sources": dict(zip(src["source"].to_list(), src["len"].to_list())), "anchor": anchor[c].tolist()})
    page = table
    note = f"{len(ids):,} samples, all shown."
    if len(ids) > max_points:
        pick = np.sort(np.random.default_rng(seed).choice(len(ids), max_points, replace=False))
        page = table[pick]
        note = (f"Showing {max_points:,} of {len(ids):,} samples: a seeded random sample (seed {seed}) keeps this page light; "
                f"cluster sizes count every sample, and map.png draws them all.")
    out = Path(out)
    png = png or out.with_suffix(".png")
    write_html(page, info, out, title=f"mixwise map: {len(ids):,} samples, {k} clusters", note=note, bounds=bounds)
    write_png(coords, assign, [c["label"] for c in clusters], png, title=f"{len(ids):,} samples, {k} clusters",
              styles=styles, anchor=anchor)
    ws.path("map").mkdir(parents=True, exist_ok=True)
    table.select("id", "x", "y").write_parquet(ws.path("map", "coords.parquet"))
    write_json(ws.path("map", "meta.json"), {"seed": seed, "fit_max": fit_max, "max_points": max_points, "rows": len(ids),
                                             "seconds": seconds, "html": str(out.resolve()), "png": str(png.resolve())})
    return MapReport(out, png, len(ids), seconds, page.height)
