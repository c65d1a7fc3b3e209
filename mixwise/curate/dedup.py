"""Deduplication that understands instruction data: exact, near, semantic and instruction-aware kinds.

``find_duplicates(samples, config)`` is the pure core: it compares rows in
passes, strongest first, and joins rows into groups with a union-find; a
member's ``dup_kind`` is the first pass that connected it to its group's
representative:

====================  =========================================================
``exact``             same normalized conversation (case, whitespace,
                      punctuation, Unicode form, wrappers ignored)
``near``              MinHash + LSH on word shingles: pair Jaccard >= threshold
                      and each half (prompt, response) similar too
``semantic``          prompt embeddings with cosine >= threshold (faiss)
``same_prompt``       same normalized prompt, different answer
``short_generic``     the same very short generic prompt ("hi", "continue"),
                      kept apart from ``same_prompt`` so it never merges content
``same_response``     same normalized answer (>= ``min_response_words`` words)
                      under different prompts
====================  =========================================================

Nothing is deleted: the stage writes ``dup_group`` (null when unique),
``dup_of`` (the representative's id; null for representatives and unique
rows), ``dup_kind`` (null for representatives and unique rows) and
``dup_keep`` (the keep policy's suggestion). Mixing decides what to drop.

Run it: ``mixwise dedup --report``; inspect a group: ``mixwise dups show GROUP``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from mixwise.curate.dedup_minhash import components, near_pairs
from mixwise.curate.dedup_text import prepare
from mixwise.errors import MixwiseError, did_you_mean

#: Duplicate kinds in pass order (earlier = stronger evidence).
KINDS: tuple[str, ...] = ("exact", "near", "semantic", "same_prompt", "short_generic", "same_response")
KEEP_POLICIES: tuple[str, ...] = ("longest_response", "source_priority", "quality")
SEMANTIC_MODES: tuple[str, ...] = ("auto", "on", "off")
STAGE = "dedup"
SCHEMA = {"id": pl.String, "dup_group": pl.String, "dup_of": pl.String, "dup_kind": pl.String, "dup_keep": pl.Boolean}


@dataclass(frozen=True)
class DedupConfig:
    """Every setting of the dedup stage; recorded with its output."""

    exact: bool = True
    near: bool = True
    semantic: str = "auto"  # auto: run when prompt embeddings exist (mixwise embed)
    same_prompt: bool = True
    same_response: bool = True
    short_generic: bool = True
    threshold: float = 0.7
    half_threshold: float = 0.3
    shingle: int = 3
    num_perm: int = 128
    semantic_threshold: float = 0.95
    semantic_scope: str = "global"  # or "cluster": compare only within topic clusters
    semantic_field: str = "prompt"
    short_words: int = 3
    min_response_words: int = 5
    strip_wrappers: bool = True
    keep: str = "longest_response"
    source_priority: tuple[str, ...] = ()
    quality_column: str | None = None
    seed: int = 0

    def validate(self) -> "DedupConfig":
        """Raise MixwiseError on an unusable setting; return self."""
        if self.keep not in KEEP_POLICIES:
            raise MixwiseError(f"unknown keep policy {self.keep!r}", did_you_mean(self.keep, KEEP_POLICIES))
        if self.semantic not in SEMANTIC_MODES:
            raise MixwiseError(f"unknown semantic mode {self.semantic!r}", f"use one of: {', '.join(SEMANTIC_MODES)}")
        if self.semantic_scope not in ("global", "cluster"):
            raise MixwiseError(f"unknown semantic scope {self.semantic_scope!r}", "use global or cluster")
        if self.keep == "quality" and not self.quality_column:
            raise MixwiseError("keep policy 'quality' needs a quality column", "pass --quality-column NAME (a column of the scored table)")
        for name, value in (("threshold", self.threshold), ("semantic_threshold", self.semantic_threshold),
                            ("half_threshold", self.half_threshold)):
            if not 0.0 <= value <= 1.0:
                raise MixwiseError(f"{name} must be between 0 and 1, got {value}", f"pass a {name} such as 0.7")
        if self.shingle < 1 or self.num_perm < 2:
            raise MixwiseError(f"bad MinHash settings shingle={self.shingle} num_perm={self.num_perm}", "use shingle >= 1, num_perm >= 2")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["source_priority"] = list(self.source_priority)
        return d


@dataclass
class PassStats:
    """What one pass found: edges that joined rows, and its wall time."""

    kind: str
    edges: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def _key_edges(keys: pl.DataFrame, mask: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Edges from every masked row to the first masked row with the same key columns."""
    cols = keys.columns
    t = keys.with_row_index("i").filter(mask)
    t = t.with_columns(pl.col("i").min().over(cols).alias("h")).filter(pl.col("i") != pl.col("h"))
    return t["i"].to_numpy().astype(np.int64), t["h"].to_numpy().astype(np.int64)


def _representatives(samples: pl.DataFrame, lab: np.ndarray, config: DedupConfig, quality: pl.Series | None) -> np.ndarray:
    """Index of each row's group representative under the keep policy (ties: longest response, then id)."""
    t = pl.DataFrame({"i": np.arange(len(lab)), "g": lab, "id": samples["id"], "len": samples["response_chars"].fill_null(0)})
    keys, desc = ["g"], [False]
    if config.keep == "source_priority":
        rank = {s: k for k, s in enumerate(config.source_priority)}
        t = t.with_columns(samples["source"].replace_strict(rank, default=len(rank), return_dtype=pl.Int64).alias("rank"))
        keys, desc = keys + ["rank"], desc + [False]
    elif config.keep == "quality":
        t = t.with_columns(quality.cast(pl.Float64).alias("q"))
        keys, desc = keys + ["q"], desc + [True]
    t = t.sort(keys + ["len", "id"], descending=desc + [True, False], nulls_last=True)
    first = t.group_by("g", maintain_order=True).agg(pl.col("i").first().alias("rep"))
    rep = np.empty(len(lab), np.int64)
    rep[first["g"].to_numpy()] = first["rep"].to_numpy()
    return rep[lab]


def find_duplicates(
    samples: pl.DataFrame, config: DedupConfig = DedupConfig(), *, vectors: np.ndarray | None = None,
    clusters: np.ndarray | None = None, quality: pl.Series | None = None,
) -> tuple[pl.DataFrame, list[PassStats]]:
    """Duplicate columns for ``samples`` (id, source, prompt, response, messages, response_chars).

    ``vectors`` (aligned to rows, L2-normalised) enables the semantic pass;
    ``clusters`` restricts it to within clusters; ``quality`` feeds the
    ``quality`` keep policy. Returns the stage columns and per-pass stats.
    """
    config.validate()
    n = samples.height
    if n == 0:
        return pl.DataFrame(schema=SCHEMA), []
    prep = prepare(samples, strip=config.strip_wrappers, short_words=config.short_words)
    nonempty = (prep["p"] != "") | (prep["r"] != "")
    # The first row of each exact key stands for it in the (costlier) near and semantic passes.
    exact_u, exact_v = _key_edges(prep.select("p", "r", "tail"), nonempty)
    unit = nonempty.to_numpy().copy()
    if config.exact:
        unit[exact_u] = False
    lab = np.arange(n, dtype=np.int64)
    snapshots: list[tuple[str, np.ndarray]] = []
    stats: list[PassStats] = []

    def run(kind: str, enabled: bool, edges) -> None:
        nonlocal lab
        if not enabled:
            return
        started = time.perf_counter()
        u, v, extra = edges()
        lab = components(n, u, v, lab)
        snapshots.append((kind, lab.copy()))
        stats.append(PassStats(kind, int(len(u)), round(time.perf_counter() - started, 3), extra))

    def near():
        idx = np.flatnonzero(unit)
        res = near_pairs(prep["p"].gather(idx), prep["r"].gather(idx), threshold=config.threshold,
                         half_threshold=config.half_threshold, num_perm=config.num_perm, shingle=config.shingle, seed=config.seed)
        return idx[res.u], idx[res.v], {"bands": res.bands, "rows": res.rows, "candidates": res.candidates, "units": len(idx)}

    def semantic():
        from mixwise.curate.dedup_semantic import semantic_pairs

        idx = np.flatnonzero(unit & ~prep["short_generic"].to_numpy() & (prep["p"] != "").to_numpy())
        groups = clusters[idx] if clusters is not None and config.semantic_scope == "cluster" else None
        u, v, _ = semantic_pairs(vectors[idx], config.semantic_threshold, groups, seed=config.seed)
        return idx[u], idx[v], {"units": len(idx)}

    short = prep["short_generic"]
    long_response = prep["r"].str.count_matches(" ") + 1 >= config.min_response_words
    run("exact", config.exact, lambda: (exact_u, exact_v, {}))
    run("near", config.near, near)
    run("semantic", vectors is not None, semantic)
    run("same_prompt", config.same_prompt, lambda: (*_key_edges(prep.select("p"), ~short & (prep["p"] != "")), {}))
    run("short_generic", config.short_generic, lambda: (*_key_edges(prep.select("p"), short), {}))
    run("same_response", config.same_response, lambda: (*_key_edges(prep.select("r"), long_response & (prep["r"] != "")), {}))

    rep = _representatives(samples, lab, config, quality)
    size = np.bincount(lab, minlength=n)[lab]
    in_group = size > 1
    member = in_group & (rep != np.arange(n))
    code = np.full(n, -1, np.int8)
    for k, (_, snap) in enumerate(snapshots):
        code[member & (code < 0) & (snap == snap[rep])] = k
    names = [name for name, _ in snapshots]
    ids = samples["id"]
    group_id = pl.DataFrame({"g": lab, "id": ids}).select((pl.lit("g") + pl.col("id").min().over("g")).alias("gid"))["gid"]
    cols = pl.DataFrame(
        {
            "id": ids,
            "dup_group": group_id.zip_with(pl.Series(in_group), pl.Series([None] * n, dtype=pl.String)),
            "dup_of": ids.gather(rep).zip_with(pl.Series(member), pl.Series([None] * n, dtype=pl.String)),
            "dup_kind": pl.Series([names[c] if c >= 0 else None for c in code.tolist()], dtype=pl.String),
            "dup_keep": pl.Series(~member),
        },
        schema=SCHEMA,
    )
    return cols, stats
