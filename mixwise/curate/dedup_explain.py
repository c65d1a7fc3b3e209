"""Explain duplicates to a person: the evidence tying a group's members together, and the largest groups.

``explain_group`` recomputes, for each member of a group, the evidence that
ties it to the representative: normalized prompt/response equality, the exact
shingle Jaccard of the pair and of each half, and the prompt cosine when
embeddings exist. :mod:`mixwise.views.dedup` shows them.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mixwise.curate.dedup import STAGE
from mixwise.curate.dedup_minhash import MinHasher
from mixwise.curate.dedup_stage import group_view
from mixwise.curate.dedup_text import prepare
from mixwise.workspace import Workspace


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = set(a.tolist()), set(b.tolist())
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def explain_group(ws: Workspace, group: str) -> list[dict]:
    """Members of a group (representative first) with the evidence linking each to the representative."""
    members = group_view(ws, group)
    config = (ws.stage_meta(STAGE) or {}).get("config", {})
    prep = prepare(members, strip=config.get("strip_wrappers", True), short_words=config.get("short_words", 3))
    hasher = MinHasher(shingle=config.get("shingle", 3))
    sh = {}
    for half in ("p", "r"):
        hashes, docs = hasher.shingles(prep[half])
        sh[half] = [hashes[docs == i] for i in range(members.height)]
    cosine = _cosines(ws, members["id"].to_list(), config.get("semantic_field", "prompt"))
    out = []
    for i, row in enumerate(members.iter_rows(named=True)):
        pair_i = np.concatenate([sh["p"][i], sh["r"][i]])
        pair_0 = np.concatenate([sh["p"][0], sh["r"][0]])
        out.append({
            "id": row["id"], "source": row["source"], "role": "kept" if row["dup_of"] is None else "duplicate",
            "dup_kind": row["dup_kind"], "dup_of": row["dup_of"], "dup_keep": row["dup_keep"],
            "same_prompt": prep["p"][i] == prep["p"][0], "same_response": prep["r"][i] == prep["r"][0],
            "same_later_turns": prep["tail"][i] == prep["tail"][0],
            "jaccard": round(_jaccard(pair_i, pair_0), 3), "jaccard_prompt": round(_jaccard(sh["p"][i], sh["p"][0]), 3),
            "jaccard_response": round(_jaccard(sh["r"][i], sh["r"][0]), 3),
            "cosine": None if cosine is None else round(float(cosine[i]), 3),
            "prompt": row["prompt"], "response": row["response"], "response_chars": row["response_chars"],
        })
    return out


def _cosines(ws: Workspace, ids: list[str], field: str) -> np.ndarray | None:
    """Cosine of each member's prompt embedding to the first member's, when embeddings exist."""
    from mixwise.curate.embed import load_embeddings
    from mixwise.errors import MixwiseError

    try:
        emb_ids, vectors = load_embeddings(ws, field=field)
    except MixwiseError:
        return None
    pos = {k: i for i, k in enumerate(emb_ids)}
    if any(k not in pos for k in ids):
        return None
    v = vectors[[pos[k] for k in ids]]
    return v @ v[0]


def largest_groups(ws: Workspace, top: int = 20, kind: str | None = None) -> pl.DataFrame:
    """The biggest duplicate groups: id, size, kinds present, sources, a prompt excerpt of the kept row."""
    cols = ws.read_columns(STAGE)
    if cols is None:
        from mixwise.errors import MixwiseError

        raise MixwiseError("no duplicate groups yet", "run: mixwise dedup")
    t = ws.samples(columns=["id", "source", "prompt"]).join(cols, on="id").filter(pl.col("dup_group").is_not_null())
    if kind:
        keep = t.filter(pl.col("dup_kind") == kind)["dup_group"].unique()
        t = t.filter(pl.col("dup_group").is_in(keep.implode()))
    return (
        t.group_by("dup_group")
        .agg(
            pl.len().alias("size"),
            pl.col("dup_kind").drop_nulls().unique().sort().str.join(",").alias("kinds"),
            pl.col("source").unique().sort().str.join(",").alias("sources"),
            pl.col("prompt").filter(pl.col("dup_of").is_null()).first().alias("kept_prompt"),
        )
        .sort(["size", "dup_group"], descending=[True, False])
        .head(top)
    )
