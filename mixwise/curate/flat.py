"""Fast path for single-turn formats: whole blocks validated and converted column-wise.

Alpaca, Dolly, GSM8K and prompt/response records have a fixed shape, so a block
parsed by Arrow's C++ JSON reader is checked and converted with polars
expressions instead of record by record. The result equals the per-record
converters in formats.py (tests compare both paths); a block whose columns are
not plain strings falls back to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from mixwise.curate.formats import ID_FIELDS
from mixwise.curate.templates import unwrap

#: Exactly the characters Python's ``str.strip()`` removes, so both paths strip alike.
PY_WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


@dataclass(frozen=True)
class FlatShape:
    """Which columns hold the prompt, its optional second part, the response and a category."""

    prompt: str
    extra: str | None
    response: str
    category: str | None = None


SHAPES = {
    "alpaca": FlatShape("instruction", "input", "output"),
    "dolly": FlatShape("instruction", "context", "response", "category"),
    "gsm8k": FlatShape("question", None, "answer"),
    "prompt_response": FlatShape("prompt", None, "response"),
}


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _col(df: pl.DataFrame, name: str | None) -> pl.Expr:
    return pl.col(name).cast(pl.String) if name and name in df.columns else pl.lit(None, dtype=pl.String)


def convert_block(table: pa.Table, fmt: str, first_index: int, original: Callable[[int], Any]):
    """``(rows, rejects)`` for a block of a flat format, or None when it needs the per-record path.

    ``rows`` has columns index, source_id, prompt, response, template, category;
    ``rejects`` is a list of (index, reason, original record).
    """
    shape = SHAPES.get(fmt)
    if shape is None or (fmt == "prompt_response" and "completion" in table.column_names and "response" not in table.column_names):
        return None
    for name in (shape.prompt, shape.extra, shape.response, shape.category):
        if name and name in table.column_names and not _is_text(table.column(name).type):
            return None
    ids = [c for c in ID_FIELDS if c in table.column_names]
    for name in ids:
        t = table.column(name).type
        if not (_is_text(t) or pa.types.is_integer(t)):
            return None
    df = pl.from_arrow(table)
    if not isinstance(df, pl.DataFrame):
        return None
    p, x, r = (_col(df, n).str.strip_chars(PY_WHITESPACE) for n in (shape.prompt, shape.extra, shape.response))
    raw_p, raw_r = _col(df, shape.prompt), _col(df, shape.response)
    reason = (
        pl.when(raw_p.is_null()).then(pl.lit(f"missing_{shape.prompt}"))
        .when(p == "").then(pl.lit(f"empty_{shape.prompt}"))
        .when(raw_r.is_null()).then(pl.lit(f"missing_{shape.response}"))
        .when(r == "").then(pl.lit(f"empty_{shape.response}"))
    )
    position = pl.int_range(pl.len(), dtype=pl.Int64) + first_index
    own_id = pl.coalesce([pl.col(c).cast(pl.String).replace("", None) for c in ids]) if ids else pl.lit(None, dtype=pl.String)
    out = df.select(
        index=position,
        source_id=own_id,
        prompt=pl.when(x.is_not_null() & (x != "")).then(pl.concat_str([p, pl.lit("\n\n"), x])).otherwise(p),
        response=r,
        template=pl.lit(None, dtype=pl.String),
        category=_col(df, shape.category),
        reason=reason,
    )
    if fmt == "prompt_response":
        out = _unwrap_templates(out)
    bad = out.filter(pl.col("reason").is_not_null())
    rejects = [(i, why, original(i - first_index)) for i, why in zip(bad["index"].to_list(), bad["reason"].to_list())]
    return out.filter(pl.col("reason").is_null()).drop("reason"), rejects


def _unwrap_templates(out: pl.DataFrame) -> pl.DataFrame:
    """Unwrap templated prompts (only rows that contain a template marker go through Python)."""
    marked = out.filter(pl.col("reason").is_null() & pl.col("prompt").str.contains("###", literal=True))
    if marked.height == 0:
        return out
    pairs = [unwrap(t) for t in marked["prompt"].to_list()]
    fixed = marked.with_columns(
        prompt=pl.Series([t for t, _ in pairs], dtype=pl.String),
        template=pl.Series([n for _, n in pairs], dtype=pl.String),
    ).with_columns(reason=pl.when(pl.col("prompt").str.strip_chars(PY_WHITESPACE) == "").then(pl.lit("empty_prompt")))
    return out.update(fixed, on="index")
