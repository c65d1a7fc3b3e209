"""The canonical sample table: the contract every stage reads and extends.

One row per sample. Ingest writes the columns below; later stages add their own
columns (``cluster``, ``dup_group``, ``style`` ...) in separate per-stage tables
keyed by ``id`` and never rewrite these. See DESIGN.md, "Contracts".
"""

from __future__ import annotations

import pyarrow as pa

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])

#: Columns written by ingest, in order, with their Arrow types.
SAMPLE_SCHEMA = pa.schema(
    [
        # Unique row key: hash of (source, content_hash, occurrence); see ids.py.
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
        # Every turn (user/assistant), system prompts excluded (they live in `system`).
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
