"""The dedup stage on a workspace: gather inputs, run :func:`find_duplicates`, store columns and report.

``dedup_workspace(ws, config)`` reads the sample table (plus prompt
embeddings, clusters or a quality column when the config asks for them),
writes the ``dedup`` stage columns with the config and a per-source report in
the stage's meta, and skips the work when the stage is already fresh.
``build_report`` and ``group_view`` are pure helpers used by the CLI.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from mixwise.curate.dedup import KINDS, STAGE, DedupConfig, find_duplicates
from mixwise.errors import MixwiseError, did_you_mean
from mixwise.workspace import Workspace

SAMPLE_COLUMNS = ["id", "source", "prompt", "response", "messages", "response_chars"]


@dataclass
class DedupRun:
    """Outcome of one ``dedup_workspace`` call."""

    report: dict
    stats: list[dict]
    skipped: bool
    seconds: float
    notes: list[str]


def _semantic_input(ws: Workspace, config: DedupConfig, ids: pl.Series) -> tuple[np.ndarray | None, str | None, list[str]]:
    """Prompt vectors aligned to ``ids`` (or None), a fingerprint of them, and notes for the user."""
    if config.semantic == "off":
        return None, None, []
    from mixwise.curate.embed import load_embeddings

    try:
        emb_ids, vectors = load_embeddings(ws, field=config.semantic_field)
    except MixwiseError:
        if config.semantic == "on":
            raise
        return None, None, ["semantic pass skipped: no embeddings (run: mixwise embed)"]
    pos = pl.DataFrame({"id": emb_ids, "row": np.arange(len(emb_ids))})
    aligned = pl.DataFrame({"id": ids}).join(pos, on="id", how="left", maintain_order="left")["row"]
    if aligned.null_count():
        if config.semantic == "on":
            raise MixwiseError(f"embeddings are stale: {aligned.null_count()} samples have none", "re-run: mixwise embed")
        return None, None, [f"semantic pass skipped: embeddings are stale ({aligned.null_count()} samples missing; run: mixwise embed)"]
    from mixwise.curate.embed import default_model, model_identity

    meta_file = ws.path("embeddings", config.semantic_field, model_identity(default_model()), "meta.json")
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    # The embeddings' identity: model, field and when they were computed (a re-embed re-runs dedup).
    fingerprint = f"{meta.get('config_hash')}:{meta.get('created_at')}:{len(emb_ids)}"
    return vectors[aligned.to_numpy()], fingerprint, []


def _clusters(ws: Workspace, ids: pl.Series) -> np.ndarray:
    cols = ws.read_columns("cluster")
    if cols is None:
        raise MixwiseError("semantic scope 'cluster' needs topic clusters", "run: mixwise cluster (or use --semantic-scope global)")
    joined = pl.DataFrame({"id": ids}).join(cols.select("id", "cluster"), on="id", how="left", maintain_order="left")
    return joined["cluster"].fill_null(-1).to_numpy()


def _quality(ws: Workspace, column: str, ids: pl.Series) -> pl.Series:
    scored = ws.scored()
    if column not in scored.columns:
        raise MixwiseError(f"unknown quality column {column!r}", did_you_mean(column, scored.columns))
    return pl.DataFrame({"id": ids}).join(scored.select("id", column), on="id", how="left", maintain_order="left")[column]


def dedup_workspace(ws: Workspace, config: DedupConfig = DedupConfig(), *, force: bool = False) -> DedupRun:
    """Run (or reuse) the dedup stage on the workspace; returns its report."""
    config.validate()
    started = time.perf_counter()
    samples = ws.samples(columns=SAMPLE_COLUMNS)
    vectors, emb_print, notes = _semantic_input(ws, config, samples["id"])
    recorded = {**config.to_dict(), "semantic_input": emb_print,
                "cluster_input": (ws.stage_meta("cluster") or {}).get("created_at") if config.semantic_scope == "cluster" else None}
    if not force and ws.stage_is_fresh(STAGE, recorded):
        meta = ws.stage_meta(STAGE)
        return DedupRun(meta["report"], meta.get("stats", []), True, 0.0, meta.get("notes", []))
    clusters = _clusters(ws, samples["id"]) if vectors is not None and config.semantic_scope == "cluster" else None
    quality = _quality(ws, config.quality_column, samples["id"]) if config.keep == "quality" else None
    cols, stats = find_duplicates(samples, config, vectors=vectors, clusters=clusters, quality=quality)
    report = build_report(samples.select("id", "source"), cols)
    stat_dicts = [asdict(s) for s in stats]
    ws.write_columns(STAGE, cols, recorded, report=report, stats=stat_dicts, notes=notes)
    return DedupRun(report, stat_dicts, False, time.perf_counter() - started, notes)


def build_report(sources: pl.DataFrame, cols: pl.DataFrame) -> dict:
    """Per-source counts: rows, duplicates by kind, within- vs cross-source, survivors; plus totals."""
    t = sources.join(cols, on="id", how="left", maintain_order="left")
    rep_source = t.select(pl.col("id").alias("dup_of"), pl.col("source").alias("rep_source"))
    t = t.join(rep_source, on="dup_of", how="left", maintain_order="left")
    aggs = [pl.len().alias("rows")]
    aggs += [(pl.col("dup_kind") == k).sum().alias(k) for k in KINDS]
    aggs += [
        pl.col("dup_kind").is_not_null().sum().alias("duplicates"),
        (pl.col("dup_kind").is_not_null() & (pl.col("rep_source") == pl.col("source"))).sum().alias("within_source"),
        (pl.col("dup_kind").is_not_null() & (pl.col("rep_source") != pl.col("source"))).sum().alias("cross_source"),
        pl.col("dup_keep").sum().alias("survivors"),
    ]
    per = t.group_by("source").agg(aggs).sort("source")
    total = t.select(aggs).with_columns(pl.lit("total").alias("source")).select(per.columns)
    groups = int(cols["dup_group"].n_unique() - (1 if cols["dup_group"].null_count() else 0))
    return {"sources": per.to_dicts(), "total": total.to_dicts()[0], "groups": groups}


def group_view(ws: Workspace, group: str) -> pl.DataFrame:
    """Members of one duplicate group (a group id or a unique prefix of one), representative first."""
    cols = ws.read_columns(STAGE)
    if cols is None:
        raise MixwiseError("no duplicate groups yet", "run: mixwise dedup")
    matches = cols.filter(pl.col("dup_group").str.starts_with(group))["dup_group"].unique().sort()
    if matches.len() == 0:
        largest = cols.filter(pl.col("dup_group").is_not_null()).group_by("dup_group").len().sort(["len", "dup_group"], descending=[True, False])
        hint = ", ".join(largest["dup_group"].head(5).to_list())
        raise MixwiseError(f"unknown duplicate group {group!r}", f"largest groups: {hint or '(none)'}; list them with: mixwise dups list")
    if matches.len() > 1:
        raise MixwiseError(f"group prefix {group!r} is ambiguous ({matches.len()} groups)", "give more characters of the group id")
    members = cols.filter(pl.col("dup_group") == matches[0])
    table = ws.samples(columns=SAMPLE_COLUMNS).join(members, on="id", how="inner")
    return table.sort([pl.col("dup_of").is_not_null(), "dup_kind", "id"])
