"""Test helper: manifests of hand-written rows, stored as real manifest records (manifest.json + samples.parquet).

The finetune tests need a manifest of given rows, not a selection from a
workspace: :func:`mixwise.mixing.manifest.store_rows` writes one.
"""

from __future__ import annotations

import hashlib
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


def write_manifest(root: Path, name: str, rows: pl.DataFrame) -> Path:
    """``root/<name>/<version>/`` with manifest.json and samples.parquet (rows in training order); LATEST points at it."""
    from mixwise.mixing.manifest import store_rows

    return store_rows(name, rows, root).path


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
