"""The style stage: classify every sample's format/register and summarize styles by source and topic.

``classify_workspace(ws)`` scores each sample with the style classifier (the
model shipped in the package, a workspace model trained with ``mixwise style
--train``, or a given file) and writes the stage columns ``style`` (the top
style, or ``mixed`` below the confidence threshold) and ``style_score_<name>``
(Float32 probability per style). ``style_views(ws)`` gives the per-source
distribution and, when the cluster stage has run, the topic x style matrix.

Run it: ``mixwise style`` then ``mixwise styles``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from mixwise.curate.style_model import MIXED, SHIPPED_MODEL, StyleModel, classify
from mixwise.errors import MixwiseError
from mixwise.workspace import Workspace

STAGE = "style"


def workspace_model_path(ws: Workspace) -> Path:
    """Where ``mixwise style --train`` stores a workspace's own model."""
    return ws.path("models", "style", "style_model.npz")


def choose_model(ws: Workspace, model: str | Path | None = None) -> Path:
    """An explicit model file, else the workspace's trained model, else the shipped one."""
    if model:
        p = Path(model)
        if not p.is_file():
            raise MixwiseError(f"no style model at {p}", "pass a .npz written by mixwise style --train or style_train")
        return p
    own = workspace_model_path(ws)
    return own if own.is_file() else SHIPPED_MODEL


def _file_hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()


@dataclass
class StyleReport:
    rows: int
    counts: dict[str, int]
    model: Path
    skipped: bool = False


def score_columns(ids: list[str], proba: np.ndarray, decisions: list[str], classes: list[str]) -> pl.DataFrame:
    """The stage table: id, style, style_score_<name> (Float32)."""
    cols = {"id": ids, "style": decisions}
    for j, k in enumerate(classes):
        cols[f"style_score_{k}"] = pl.Series(proba[:, j], dtype=pl.Float32)
    return pl.DataFrame(cols, schema_overrides={"id": pl.String, "style": pl.String})


def classify_workspace(ws: Workspace, *, model: str | Path | None = None, threshold: float | None = None, force: bool = False,
                       progress: Callable[[int, int], None] | None = None) -> StyleReport:
    """Score every sample's style and write the ``style`` stage; a fresh stage is reused unless ``force``."""
    path = choose_model(ws, model)
    m = StyleModel.load(path)
    t = m.threshold if threshold is None else float(threshold)
    if not 0.0 <= t <= 1.0:
        raise MixwiseError(f"confidence threshold {t} is not a probability", "use a value between 0 and 1, e.g. --threshold 0.5")
    config = {"model": _file_hash(path), "threshold": t, "classes": m.classes}
    if not force and ws.stage_is_fresh(STAGE, config):
        cols = ws.read_columns(STAGE)
        return StyleReport(cols.height, dict(cols["style"].value_counts().iter_rows()), path, skipped=True)
    df = ws.samples(columns=["id", "prompt", "response"])
    proba, _ = classify(df["prompt"].to_list(), df["response"].to_list(), m, cache_dir=ws.cache_dir("style_embeddings"), progress=progress)
    decisions = m.decide(proba, t)
    table = score_columns(df["id"].to_list(), proba, decisions, m.classes)
    ws.write_columns(STAGE, table, config, model_path=str(path))
    return StyleReport(table.height, dict(table["style"].value_counts().iter_rows()), path)


def style_order(styles: list[str]) -> list[str]:
    """Styles in taxonomy order, then others, with ``mixed`` last."""
    from mixwise.curate.style_refs import STYLES

    known = [s for s in STYLES if s in styles]
    return known + sorted(s for s in styles if s not in STYLES and s != MIXED) + ([MIXED] if MIXED in styles else [])


def style_views(ws: Workspace) -> dict:
    """``by_source`` (source -> style -> count), ``styles`` (column order) and ``matrix`` (clusters x styles, or None)."""
    if ws.stage_meta(STAGE) is None:
        raise MixwiseError(f"no style scores in workspace {ws.root}", "run: mixwise style")
    table = ws.scored()
    styles = style_order(table["style"].drop_nulls().unique().to_list())
    by_source: dict[str, dict[str, int]] = {}
    for source, style, n in table.group_by(["source", "style"]).len().sort(["source", "style"]).iter_rows():
        by_source.setdefault(source, {})[style or "unscored"] = n
    matrix = None
    if "cluster" in table.columns:
        label = pl.col("cluster_label") if "cluster_label" in table.columns else pl.lit(None, dtype=pl.String)
        grouped = (table.filter(pl.col("cluster").is_not_null()).with_columns(label.alias("cluster_label"))
                   .group_by(["cluster", "cluster_label", "style"]).len().sort(["cluster", "style"]))
        rows: dict[int, dict] = {}
        for cluster, clabel, style, n in grouped.iter_rows():
            row = rows.setdefault(int(cluster), {"cluster": int(cluster), "cluster_label": clabel, "counts": {}, "total": 0})
            row["counts"][style or "unscored"] = n
            row["total"] += n
        matrix = {"styles": styles, "rows": [rows[k] for k in sorted(rows)]}
    return {"styles": styles, "by_source": by_source, "matrix": matrix}
