"""The canonical sample table: the contract every stage reads and extends.

One row per sample. Ingest writes the columns below; later stages add their own
columns (``cluster``, ``dup_group``, ``style`` ...) in separate per-stage tables
keyed by ``id`` and never rewrite these. See DESIGN.md, "Contracts".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import polars as pl

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])

#: Columns written by ingest, in order, with their Arrow types.
SAMPLE_SCHEMA = pa.schema(
    [
        # Unique row key: hash of (source, content_hash, occurrence); see curate/ids.py.
        ("id", pa.string()),
        # Hash of the normalized conversation alone: equal for identical content.
        ("content_hash", pa.string()),
        ("source", pa.string()),
        # The record's own id field when it has one, else its position in the source.
        ("source_id", pa.string()),
        # First user turn and the first assistant reply to it.
        ("prompt", pa.string()),
        ("response", pa.string()),
        ("system", pa.string()),
        # Every turn (user/assistant), system prompts excluded (they live in `system`), for conversations that
        # prompt + response do not already hold; null for a plain single exchange. Use full_messages().
        ("messages", pa.list_(MESSAGE_TYPE)),
        # Number of user turns.
        ("n_turns", pa.int32()),
        ("prompt_chars", pa.int32()),
        ("response_chars", pa.int32()),
        # Name of a prompt template that was unwrapped (e.g. "alpaca"), else null.
        ("template", pa.string()),
        # Free-form category when the source has one (Dolly's `category`).
        ("category", pa.string()),
    ]
)

SAMPLE_COLUMNS = tuple(SAMPLE_SCHEMA.names)

#: Roles allowed in ``messages``.
ROLES = ("user", "assistant")


def full_messages(table_columns: list[str] | None = None) -> pl.Expr:
    """Every row's turns: ``messages`` when set, else the single exchange prompt -> response.

    Pass the table's columns when ``messages`` may be missing altogether.
    """
    import polars as pl

    exchange = pl.concat_list(
        pl.struct(pl.lit("user").alias("role"), pl.col("prompt").alias("content")),
        pl.struct(pl.lit("assistant").alias("role"), pl.col("response").alias("content")),
    )
    if table_columns is not None and "messages" not in table_columns:
        return exchange.alias("messages")
    return pl.coalesce(pl.col("messages"), exchange).alias("messages")
