"""Retrain the style classifier on a user's own labels (``mixwise style --train LABELS.csv``).

The labels file is a CSV with a ``label`` column and a way to find each row:
``id`` (workspace sample id), ``content_hash``, ``source`` + ``source_id``, or
the texts themselves as ``prompt`` + ``response``. Labels may be any names (the
taxonomy is a default, not a cage). The model and its metrics go to
``<workspace>/models/style/``; ``mixwise style`` then uses it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mixwise.curate.style import workspace_model_path
from mixwise.errors import InputError, MixwiseError
from mixwise.workspace import Workspace, write_json

KEYS = (("id",), ("content_hash",), ("source", "source_id"))


def resolve_labels(ws: Workspace, path: Path) -> pl.DataFrame:
    """Rows (prompt, response, label, group) for a labels CSV, matched against the workspace when needed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such labels file: {path}", "check the path; it must be a CSV with a 'label' column")
    labels = pl.read_csv(path, infer_schema=False)
    if "label" not in labels.columns:
        raise MixwiseError(f"{path} has no 'label' column (columns: {', '.join(labels.columns)})", "add a 'label' column")
    labels = labels.filter(pl.col("label").is_not_null() & (pl.col("label").str.strip_chars() != ""))
    if {"prompt", "response"} <= set(labels.columns):
        group = pl.col("source") if "source" in labels.columns else pl.lit("labels")
        return labels.select("prompt", "response", "label", group.alias("group"))
    for key in KEYS:
        if set(key) <= set(labels.columns):
            samples = ws.samples(columns=list({*key, "source", "prompt", "response"}))
            samples = samples.unique(subset=list(key), keep="first", maintain_order=True)
            joined = labels.select(*key, "label").join(samples, on=list(key), how="left")
            missing = joined.filter(pl.col("prompt").is_null())
            if missing.height:
                example = missing.row(0, named=True)
                raise MixwiseError(f"{missing.height} labelled rows are not in workspace {ws.root} (first: {example})",
                                   "ingest their source first, or give prompt and response columns")
            return joined.select("prompt", "response", "label", pl.col("source").alias("group"))
    raise MixwiseError(f"{path} has no column to find rows by", "add one of: id, content_hash, source+source_id, or prompt+response")


def train_on_labels(ws: Workspace, path: Path, *, references: Path | None = None, seed: int = 0) -> dict:
    """Train a workspace style model on labelled rows (plus the public references if asked); returns its metrics."""
    from mixwise.curate.style_refs import build_references
    from mixwise.curate.style_train import train

    rows = resolve_labels(ws, path)
    prompts, responses = rows["prompt"].to_list(), rows["response"].to_list()
    labels, groups = rows["label"].to_list(), rows["group"].to_list()
    if references is not None:
        refs = build_references(Path(references), seed=seed)
        prompts += [r.prompt for r in refs]
        responses += [r.response for r in refs]
        labels += [r.label for r in refs]
        groups += [f"ref:{r.source}" for r in refs]
    if len(set(labels)) < 2:
        raise MixwiseError(f"{path} has only one label ({labels[0] if labels else 'none'})", "label at least two styles")
    model, report = train(prompts, responses, labels, groups, seed=seed, cache_dir=ws.cache_dir("style_embeddings"))
    out = workspace_model_path(ws)
    model.save(out)
    result = {"model": str(out), "n_train": len(labels), **report}
    write_json(out.with_name("style_metrics.json"), result)
    return result
