"""A synthetic scored table with the canonical columns, for benchmarks and property tests.

Rows look like the real scored table (sample columns + cluster, style and
dedup columns) with controllable size; text is filler whose length follows a
log-normal distribution, so token estimates and length filters behave.
"""

from __future__ import annotations

import numpy as np
import polars as pl

STYLES = ("long_form", "concise", "multiple_choice", "math", "code")
_FILLER = ("lorem ipsum dolor sit amet " * 800)


def synthetic_scored(n: int, *, seed: int = 0, sources: tuple[str, ...] = ("alpha", "beta", "gamma"),
                     clusters: int = 20, dup_rate: float = 0.05) -> pl.DataFrame:
    """``n`` synthetic rows with sample, cluster, style and dedup columns (deterministic for ``seed``)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    resp_len = np.clip(rng.lognormal(5.5, 1.0, n), 1, len(_FILLER)).astype(np.int32)
    prompt_len = np.clip(rng.lognormal(4.0, 0.7, n), 1, 2000).astype(np.int32)
    cluster = rng.integers(0, clusters, n).astype(np.int32)
    is_dup = rng.random(n) < dup_rate
    kinds = np.array(["exact", "near", "semantic"])[rng.integers(0, 3, n)]
    df = pl.DataFrame({
        "i": i, "source": np.array(sources)[rng.integers(0, len(sources), n)], "cluster": cluster,
        "style": np.array(STYLES)[rng.integers(0, len(STYLES), n)], "quality": rng.random(n).astype(np.float32),
        "rl": resp_len, "pl_": prompt_len, "dup": is_dup, "kind": kinds,
    })
    ident = pl.col("i").cast(pl.String).str.zfill(9)
    prompt = pl.format("q{} ", pl.col("i")) + pl.lit(_FILLER).str.slice(0, pl.col("pl_"))
    response = pl.lit(_FILLER).str.slice(0, pl.col("rl"))
    out = df.select(
        ("s" + ident).alias("id"), ("h" + ident).alias("content_hash"), "source", ident.alias("source_id"),
        prompt.alias("prompt"), response.alias("response"), pl.lit(None, dtype=pl.String).alias("system"),
    ).with_columns(
        pl.concat_list(pl.struct(pl.lit("user").alias("role"), pl.col("prompt").alias("content")),
                       pl.struct(pl.lit("assistant").alias("role"), pl.col("response").alias("content"))).alias("messages"),
        pl.lit(1, dtype=pl.Int32).alias("n_turns"),
        pl.col("prompt").str.len_chars().cast(pl.Int32).alias("prompt_chars"),
        pl.col("response").str.len_chars().cast(pl.Int32).alias("response_chars"),
        pl.lit(None, dtype=pl.String).alias("template"), pl.lit(None, dtype=pl.String).alias("category"),
        df["cluster"].alias("cluster"), pl.format("topic {}", df["cluster"]).alias("cluster_label"),
        df["style"].alias("style"), df["quality"].alias("quality"),
    )
    # Every duplicate points at the row before it (a representative that is itself unique).
    dup = df["dup"]
    return out.with_columns(
        pl.when(dup).then(pl.format("g{}", df["i"])).otherwise(None).alias("dup_group"),
        pl.when(dup & (df["i"] > 0)).then("s" + (df["i"] - 1).cast(pl.String).str.zfill(9)).otherwise(None).alias("dup_of"),
        pl.when(dup).then(df["kind"]).otherwise(None).alias("dup_kind"),
        pl.when(dup).then(df["i"] == 0).otherwise(None).alias("dup_keep"),
    )
