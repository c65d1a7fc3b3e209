"""The 2-D topic map: UMAP of the embeddings -> a PNG and one self-contained HTML file.

UMAP (cosine metric, seeded) is fitted on at most ``fit_max`` rows (a seeded
random sample) and the remaining rows are placed with ``transform``: fitting
is the slow part and grows faster than linearly, so a 20k fit plus a transform
keeps 100k+ rows practical. The HTML (see :mod:`map_html`) needs no network.

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
from mixwise.curate.map_html import write_html
from mixwise.workspace import Workspace, write_json

FIT_MAX = 20_000


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


def write_png(coords: np.ndarray, clusters: np.ndarray, labels: list[str], path: Path, title: str = "") -> Path:
    """A scatter plot coloured by cluster, each cluster's label at its member nearest the cluster mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 9), dpi=110)
    cmap = plt.get_cmap("tab20")
    size = max(1.5, min(20.0, 20000 / max(len(coords), 1)))
    ax.scatter(coords[:, 0], coords[:, 1], c=[cmap(c % 20) for c in clusters], s=size, linewidths=0, alpha=0.8)
    for c, label in enumerate(labels):
        pts = coords[clusters == c]
        if len(pts):
            x, y = pts[np.argmin(((pts - pts.mean(axis=0)) ** 2).sum(axis=1))]  # the member nearest the mean
            ax.annotate(f"{c}: {label}", (x, y), fontsize=7, ha="center",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.7})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
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


def map_workspace(ws: Workspace, *, out: Path, seed: int = 0, fit_max: int = FIT_MAX, png: Path | None = None) -> MapReport:
    """Project the clustered embeddings to 2-D and write ``out`` (HTML) and a PNG beside it."""
    clusters = read_clusters(ws)
    field = (ws.stage_meta(STAGE) or {})["config"]["field"]
    ids, vectors = load_embeddings(ws, field=field)
    started = time.perf_counter()
    coords = project(vectors, seed=seed, fit_max=fit_max)
    seconds = time.perf_counter() - started
    table = (pl.DataFrame({"id": ids, "x": coords[:, 0], "y": coords[:, 1]})
             .join(ws.samples(columns=["id", "source", "prompt"]), on="id", how="left", maintain_order="left")
             .join(ws.read_columns(STAGE), on="id", how="left", maintain_order="left"))
    labels = [c["label"] for c in clusters]
    out = Path(out)
    png = png or out.with_suffix(".png")
    write_html(table, labels, out, title=f"mixwise map: {len(ids):,} samples, {len(labels)} clusters")
    write_png(coords, table["cluster"].to_numpy(), labels, png, title=f"{len(ids):,} samples, {len(labels)} clusters")
    ws.path("map").mkdir(parents=True, exist_ok=True)
    table.select("id", "x", "y").write_parquet(ws.path("map", "coords.parquet"))
    write_json(ws.path("map", "meta.json"), {"seed": seed, "fit_max": fit_max, "rows": len(ids), "seconds": seconds,
                                             "html": str(out.resolve()), "png": str(png.resolve())})
    return MapReport(out, png, len(ids), seconds)
