"""Spec filters against a scored table: validation and compilation to polars expressions.

:func:`check_spec` checks that every name a spec uses exists in the table
(sources, styles, cluster ids/labels, score columns) and that the stages a spec
needs have run; :func:`compile_filter` turns a :class:`Filter` into one
vectorized polars expression. Token counts are an estimate, documented here
once: ``ceil(characters of system + all turns / 4)`` (:data:`TOKEN_ESTIMATE`).
"""

from __future__ import annotations

from functools import lru_cache

import polars as pl

from mixwise.errors import SpecError, did_you_mean
from mixwise.mixing.spec import VALUE_KEYS, Bounds, Filter, Spec
from mixwise.schema import full_messages

TOKEN_ESTIMATE = "chars/4"
TOKENS_COL = "n_tokens_est"

#: Which stage writes a column, and the command that runs it.
STAGE_OF = {"cluster": ("cluster", "mixwise cluster"), "cluster_label": ("cluster", "mixwise cluster"),
            "style": ("style", "mixwise style"), "dup_kind": ("dedup", "mixwise dedup"),
            "dup_keep": ("dedup", "mixwise dedup"), "dup_of": ("dedup", "mixwise dedup")}


def stage_for(column: str) -> tuple[str, str] | None:
    if column in STAGE_OF:
        return STAGE_OF[column]
    if column.startswith("style_score_"):
        return STAGE_OF["style"]
    if column.startswith("dup_"):
        return STAGE_OF["dup_kind"]
    if column.startswith("q_"):
        return ("quality", "mixwise quality")
    return None


def require_column(table: pl.DataFrame, column: str, where: str) -> None:
    """A clear error naming the missing stage when ``column`` is absent."""
    if column in table.columns:
        return
    stage = stage_for(column)
    if stage and not any(stage_for(c) == stage for c in table.columns):  # once the stage has run, a miss is a typo
        raise SpecError(f"{where} needs column {column!r}, written by the {stage[0]!r} stage, which has not run in this workspace",
                        f"run: {stage[1]} (or remove that part of the spec)")
    numeric = [c for c, t in table.schema.items() if t.is_numeric()]
    raise SpecError(f"{where}: no column {column!r} in the scored table", did_you_mean(column, numeric))


@lru_cache(maxsize=4)
def load_tokenizer(name: str):
    """A tokenizer for any name ``mixwise.models.resolve_model_path`` accepts (cached per process)."""
    from transformers import AutoTokenizer

    from mixwise.models import resolve_model_path

    try:
        return AutoTokenizer.from_pretrained(resolve_model_path(name))
    except Exception as e:  # noqa: BLE001 - many loader errors, one message
        raise SpecError(f"tokenizer: cannot load {name!r}: {e}", "give a model alias (gemma3-270m), a folder or a hub id; or omit tokenizer for chars/4") from e


def token_counts(table: pl.DataFrame, tokenizer: str) -> pl.Series:
    """Exact token counts of system + every turn with a real tokenizer (no special tokens, no chat template)."""
    tok = load_tokenizer(tokenizer)
    parts = table.select(pl.int_range(pl.len()).alias("row"), full_messages(table.columns).list.eval(pl.element().struct.field("content")).alias("text"))
    parts = parts.explode("text")
    if "system" in table.columns:
        parts = pl.concat([parts, table.select(pl.int_range(pl.len()).alias("row"), pl.col("system").alias("text"))])
    parts = parts.filter(pl.col("text").is_not_null() & (pl.col("text") != ""))
    lengths = [len(ids) for ids in tok(parts["text"].to_list(), add_special_tokens=False)["input_ids"]] if parts.height else []
    per_row = parts.select("row").with_columns(pl.Series("n", lengths, dtype=pl.Int64)).group_by("row").agg(pl.col("n").sum())
    full = pl.DataFrame({"row": range(table.height)}).join(per_row, on="row", how="left", maintain_order="left")
    return full["n"].fill_null(0).cast(pl.Int32).alias(TOKENS_COL)


def with_tokens(table: pl.DataFrame, tokenizer: str | None = None) -> pl.DataFrame:
    """Add the token count column if missing: chars/4 of system + every turn, or a real tokenizer's count."""
    if TOKENS_COL in table.columns:
        return table
    if tokenizer:
        return table.with_columns(token_counts(table, tokenizer))
    chars = (pl.col("prompt_chars").cast(pl.Int64) + pl.col("response_chars")).fill_null(0)
    if "system" in table.columns:
        chars = chars + pl.col("system").str.len_chars().fill_null(0)
    out = table.with_columns(((chars + 3) // 4).cast(pl.Int32).alias(TOKENS_COL))
    # prompt + response cover single-turn rows; only multi-turn rows need the (slower) sum over messages.
    multi = out.get_column("n_turns").fill_null(1) > 1
    if multi.any():
        sub = out.filter(multi).select(
            pl.col("messages").list.eval(pl.element().struct.field("content").str.len_chars()).list.sum().fill_null(0)
            + (pl.col("system").str.len_chars().fill_null(0) if "system" in table.columns else 0))
        est = out.get_column(TOKENS_COL).scatter(multi.arg_true(), ((sub.to_series() + 3) // 4).cast(pl.Int32))
        out = out.with_columns(est.alias(TOKENS_COL))
    return out


def _distinct(table: pl.DataFrame, column: str) -> list:
    return table.get_column(column).drop_nulls().unique().to_list()


def _check_filter(f: Filter, table: pl.DataFrame, where: str, extra_sources: set[str]) -> None:
    for key, wanted in f.values:
        col = VALUE_KEYS[key]
        require_column(table, col, f"{where}.{key}")
        known = {str(v) for v in _distinct(table, col)}
        if key == "source":
            known |= extra_sources
        for v in wanted:
            if v not in known:
                hint = did_you_mean(v, known)
                if key == "source":
                    hint += f" (or ingest it: mixwise ingest FILE --name {v}, or map it in the spec's sources: block)"
                raise SpecError(f"{where}: unknown {key} {v!r}", hint)
    if f.cluster:
        ids = [c for c in f.cluster if isinstance(c, int)]
        labels = [c for c in f.cluster if isinstance(c, str)]
        if ids:
            require_column(table, "cluster", f"{where}.cluster")
            known_ids = set(_distinct(table, "cluster"))
            for c in ids:
                if c not in known_ids:
                    raise SpecError(f"{where}: unknown cluster id {c}", f"known ids: {min(known_ids, default=0)}..{max(known_ids, default=-1)} (see: mixwise clusters)")
        if labels:
            require_column(table, "cluster_label", f"{where}.cluster")
            known_labels = {str(v) for v in _distinct(table, "cluster_label")}
            for c in labels:
                if c not in known_labels:
                    raise SpecError(f"{where}: unknown cluster label {c!r}", did_you_mean(c, known_labels))
    if f.ids:
        present = set(table.get_column("id").filter(table.get_column("id").is_in(list(f.ids))).to_list())
        missing = [i for i in f.ids if i not in present]
        if missing:
            raise SpecError(f"{where}.ids: {len(missing)} id(s) not in the workspace, e.g. {missing[0]!r}", "take ids from a manifest or mixwise sources of this workspace")
    for col, _ in f.scores:
        require_column(table, col, f"{where}.score")
        if not table.schema[col].is_numeric():
            raise SpecError(f"{where}.score: column {col!r} is not numeric ({table.schema[col]})", "bound a numeric score column")
    for name, sub in (("include", f.include), ("exclude", f.exclude)):
        if sub is not None:
            _check_filter(sub, table, f"{where}.{name}", extra_sources)


def check_spec(spec: Spec, table: pl.DataFrame, *, pending_sources: set[str] = frozenset()) -> None:
    """Raise SpecError if the spec names something absent from ``table`` or needs a stage that has not run.

    ``pending_sources`` are source names the spec's ``sources:`` block will ingest (accepted as known).
    """
    if TOKENS_COL not in table.columns:  # computed at selection time; only its presence matters here
        table = table.with_columns(pl.lit(0, dtype=pl.Int32).alias(TOKENS_COL))
    if set(spec.dedup_drop) - {"exact"}:  # exact alone falls back to content hashes
        require_column(table, "dup_kind", f"dedup.drop {list(spec.dedup_drop)}")
    for c in spec.components:
        where = f"component {c.name!r}"
        _check_filter(c.filter, table, f"{where}.filter", set(pending_sources))
        if c.strategy == "per_cluster":
            require_column(table, "cluster", f"{where}: strategy per_cluster")
        if c.strategy == "top":
            require_column(table, c.by, f"{where}.by")
            if not table.schema[c.by].is_numeric():
                raise SpecError(f"{where}.by: column {c.by!r} is not numeric", "rank by a numeric score column")


def _bound(expr: pl.Expr, b: Bounds) -> pl.Expr:
    out = pl.lit(True)
    if b.min is not None:
        out = out & (expr >= b.min)
    if b.max is not None:
        out = out & (expr <= b.max)
    return out


def compile_filter(f: Filter) -> pl.Expr:
    """The filter as one boolean polars expression (nulls count as 'no match')."""
    expr = pl.lit(True)
    for key, wanted in f.values:
        expr = expr & pl.col(VALUE_KEYS[key]).cast(pl.String).is_in(list(wanted))
    if f.cluster:
        ids = [c for c in f.cluster if isinstance(c, int)]
        labels = [c for c in f.cluster if isinstance(c, str)]
        hit = pl.lit(False)
        if ids:
            hit = hit | pl.col("cluster").is_in(ids).fill_null(False)
        if labels:
            hit = hit | pl.col("cluster_label").is_in(labels).fill_null(False)
        expr = expr & hit
    if f.ids:
        expr = expr & pl.col("id").is_in(list(f.ids))
    for col, b in f.lengths:
        expr = expr & _bound(pl.col(TOKENS_COL if col == "tokens" else col), b)
    for col, b in f.scores:
        expr = expr & _bound(pl.col(col), b)
    expr = expr.fill_null(False)
    if f.include is not None:
        expr = expr & compile_filter(f.include)
    if f.exclude is not None:
        expr = expr & ~compile_filter(f.exclude)
    return expr
