"""Test helper: write a manifest folder in the contract shape (manifest.json + samples.parquet).

The mixing stage writes real manifests; the finetune tests only need the
documented shape, built here from hand-written rows or from ingested ones.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from mixwise.schema import SAMPLE_SCHEMA


def rows_from_pairs(pairs: list[tuple[str, str, str]]) -> pl.DataFrame:
    """Sample-table rows from (source, prompt, response) triples."""
    recs = []
    for i, (source, prompt, response) in enumerate(pairs):
        h = hashlib.sha256(f"{prompt}\x00{response}".encode()).hexdigest()[:16]
        recs.append({"id": f"{source}-{i}-{h}", "content_hash": h, "source": source, "source_id": str(i), "prompt": prompt,
                     "response": response, "system": None,
                     "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}],
                     "n_turns": 1, "prompt_chars": len(prompt), "response_chars": len(response), "template": None,
                     "category": None})
    return pl.DataFrame(recs, schema=pl.from_arrow(SAMPLE_SCHEMA.empty_table()).schema)


def write_manifest(root: Path, name: str, rows: pl.DataFrame, *, version: str | None = None) -> Path:
    """``root/<name>/<version>/`` with manifest.json and samples.parquet; LATEST points at it."""
    rows = rows.with_columns(pl.lit("all").alias("component")) if "component" not in rows.columns else rows
    version = version or hashlib.sha256("".join(rows["id"].to_list()).encode()).hexdigest()[:12]
    folder = Path(root) / name / version
    folder.mkdir(parents=True, exist_ok=True)
    rows.write_parquet(folder / "samples.parquet")
    counts = rows.group_by("source").len().sort("source").to_dicts()
    meta = {"schema_version": 1, "name": name, "version": version, "parent": None, "spec": {"name": name},
            "seed": 0, "counts": {"total": rows.height, "by_source": {c["source"]: c["len"] for c in counts}},
            "composition": {}}
    (folder / "manifest.json").write_text(json.dumps(meta, indent=2))
    (Path(root) / name / "LATEST").write_text(version)
    return folder


def toy_pairs(n: int = 48) -> list[tuple[str, str, str]]:
    """Short, learnable conversations from two sources (a loss that falls in a few steps)."""
    colors = ["red", "green", "blue", "yellow", "white", "black"]
    out = []
    for i in range(n):
        c = colors[i % len(colors)]
        if i % 2:
            out.append(("facts", f"What color is item {i}?", f"Item {i} is {c}. It is {c} because it was painted {c}."))
        else:
            out.append(("chat", f"Say the word {c} three times.", f"{c} {c} {c}. Happy to help with more words!"))
    return out
