"""What the cluster browsers show: per-cluster breakdowns and a cluster's samples with every stage's flags.

:func:`cluster_overview` adds to each row of :func:`cluster_table` its
keyphrases, most central prompts, and counts by style, duplicate kind and
quality flag -- each ``None`` when that stage has not run (not recorded is not
zero). :func:`cluster_members` lists one cluster's samples nearest the centre
first, with whichever of ``style``, ``dup_kind``, ``q_flags`` exist.

Used by ``mixwise clusters --tui`` (:mod:`mixwise.tui.clusters_app`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mixwise.curate.cluster import STAGE, cluster_table, read_clusters
from mixwise.curate.embed import load_embeddings
from mixwise.workspace import Workspace

#: Stage columns shown next to samples when they exist.
DETAIL_COLUMNS = ("style", "dup_kind", "q_flags", "q_refusal", "q_truncated")


def _scored(ws: Workspace) -> pl.DataFrame:
    table = ws.scored()
    keep = ["id", "source", "prompt", "response", "cluster", "cluster_label", *[c for c in DETAIL_COLUMNS if c in table.columns]]
    return table.select(keep)


def _counts(df: pl.DataFrame, expr: pl.Expr) -> dict[str, int]:
    g = df.select(expr.alias("k")).drop_nulls().group_by("k").len().sort(["len", "k"], descending=[True, False])
    return {str(k): int(n) for k, n in g.iter_rows()}


def cluster_overview(ws: Workspace) -> list[dict]:
    """:func:`cluster_table` rows plus ``keyphrases``, ``central_prompts``, ``styles``, ``duplicates``, ``quality``."""
    rows = cluster_table(ws)
    info = {c["id"]: c for c in read_clusters(ws)}
    scored = _scored(ws)
    for r in rows:
        members = scored.filter(pl.col("cluster") == r["id"])
        c = info[r["id"]]
        r["central_prompts"] = c.get("central_prompts") or c.get("representative_prompts", [])[:3]
        r["styles"] = _counts(members, pl.col("style")) if "style" in scored.columns else None
        r["duplicates"] = _counts(members, pl.col("dup_kind")) if "dup_kind" in scored.columns else None
        if "q_refusal" in scored.columns:
            r["quality"] = {"refusal": int((members["q_refusal"] > 0).sum()), "truncated": int((members["q_truncated"] > 0).sum())}
        else:
            r["quality"] = None
    return rows


def cluster_members(ws: Workspace, cluster_id: int) -> pl.DataFrame:
    """One cluster's samples, nearest the centroid first, with ``closeness`` and the stage columns that exist."""
    field = (ws.stage_meta(STAGE) or {})["config"]["field"]
    ids, vectors = load_embeddings(ws, field=field)
    centroid = np.load(ws.stage_dir(STAGE) / "centroids.npy")[cluster_id]
    closeness = pl.DataFrame({"id": ids, "closeness": vectors @ centroid})
    return (_scored(ws).filter(pl.col("cluster") == cluster_id).join(closeness, on="id")
            .sort(["closeness", "id"], descending=[True, False]))
