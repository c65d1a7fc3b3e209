"""Fast path for single-turn formats: whole blocks validated and converted column-wise.

Alpaca, Dolly, GSM8K and prompt/response records have a fixed shape, so a block
parsed by Arrow's C++ JSON reader is checked and converted with Arrow compute
kernels instead of record by record. The result equals the per-record
converters in formats.py (tests compare both paths); a block whose columns are
not plain strings falls back to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mixwise.curate.formats import ID_FIELDS, INVISIBLE, PY_WHITESPACE, is_blank
from mixwise.curate.ids import string_offsets
from mixwise.curate.templates import unwrap


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


def text_schema(fmt: str) -> pa.Schema | None:
    """The text fields of a flat format as strings, for Arrow's JSON reader (None for other formats).

    Declaring them skips type inference (and a copy of every string it
    makes), about 20% of parse time. A block where one of them holds a
    non-string fails to parse and takes the per-record path, which rejects the
    row exactly. A declared field missing from a block reads as nulls, which
    the conversion treats like an absent field.
    """
    shape = SHAPES.get(fmt)
    if shape is None:
        return None
    names = [n for n in (shape.prompt, shape.extra, shape.response, shape.category) if n]
    return pa.schema([(n, pa.string()) for n in names])


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _column(table: pa.Table, name: str | None) -> pa.ChunkedArray:
    """A column as strings; all nulls when the block does not have it."""
    if name and name in table.column_names:
        return table.column(name).cast(pa.string())
    return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])


#: Bytes that may begin or end a string ``str.strip()`` would change: ASCII whitespace, and any non-ASCII byte.
_MAY_STRIP = np.zeros(256, dtype=bool)
_MAY_STRIP[[ord(c) for c in PY_WHITESPACE if ord(c) < 128]] = True
_MAY_STRIP[128:] = True


def _needs_strip(chunk: pa.Array) -> bool:
    """Whether any string of the chunk could change when stripped (looks at first and last bytes only)."""
    if len(chunk) == 0 or chunk.null_count == len(chunk) or chunk.buffers()[2] is None:
        return False
    offsets = string_offsets(chunk)
    start, end = offsets[:-1], offsets[1:]
    filled = end > start
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
    return bool(_MAY_STRIP[data[start[filled]]].any() or _MAY_STRIP[data[end[filled] - 1]].any())


def _strip(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``str.strip()`` of every string; chunks with nothing to strip are kept as they are (no copy)."""
    return pa.chunked_array([pc.utf8_trim(c, characters=PY_WHITESPACE) if _needs_strip(c) else c for c in col.chunks],
                            type=col.type)


#: The UTF-8 encodings of the invisible characters as 24-bit integers (all are 3 bytes long).
_INVISIBLE_CODES = np.array(sorted(int.from_bytes(c.encode(), "big") for c in INVISIBLE), dtype=np.int64)
assert all(len(c.encode()) == 3 for c in INVISIBLE)


def _blank(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``is_blank`` of every (already stripped) string, null where the string is null.

    A stripped string is blank when it is empty or, rarely, made only of
    invisible characters; only strings that begin with one (found from their
    first three bytes with numpy) are checked in Python.
    """
    out = []
    for chunk in col.chunks:
        empty = pc.equal(chunk, "")
        if len(chunk) == 0 or chunk.buffers()[2] is None:
            out.append(empty)
            continue
        offsets = string_offsets(chunk)
        start, length = offsets[:-1], offsets[1:] - offsets[:-1]
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        long_enough = np.flatnonzero(length >= 3)
        s = start[long_enough]
        code = (data[s].astype(np.int64) << 16) | (data[s + 1].astype(np.int64) << 8) | data[s + 2]
        maybe = long_enough[np.isin(code, _INVISIBLE_CODES)]
        if len(maybe):
            flags = np.zeros(len(chunk), dtype=bool)
            flags[maybe] = [is_blank(t) for t in chunk.take(pa.array(maybe)).to_pylist()]
            empty = pc.or_(empty, pa.array(flags))
        out.append(empty)
    return pa.chunked_array(out, type=pa.bool_())


def _first_reason(checks: list[tuple[pa.ChunkedArray, str]], n: int) -> pa.ChunkedArray:
    """Per row, the first reason whose check is true, else null."""
    reason = pa.chunked_array([pa.nulls(n, pa.string())])
    for check, why in reversed(checks):
        reason = pc.if_else(pc.fill_null(check, True), pa.scalar(why), reason)
    return reason


def own_ids(table: pa.Table) -> pa.Array:
    """Each record's own id as a string: the first non-empty of the ``ID_FIELDS`` columns, else null."""
    own_id = pa.nulls(table.num_rows, pa.string())
    for name in reversed([c for c in ID_FIELDS if c in table.column_names]):  # the first non-empty id field wins
        value = table.column(name).cast(pa.string()).combine_chunks()
        own_id = pc.if_else(pc.fill_null(pc.not_equal(value, ""), False), value, own_id)
    return own_id


def convert_block(table: pa.Table, fmt: str, original: Callable[[int], Any]):
    """``(rows, rejects)`` for a block of a flat format, or None when it needs the per-record path.

    ``rows`` is an Arrow table with columns index (the record's position in the
    block), source_id, prompt, response, template, category; ``rejects`` is a
    list of (index, reason, original record); ``original(i)`` gives record i.
    Only Arrow compute kernels run here (they release the GIL), so blocks
    convert in parallel threads.
    """
    shape = SHAPES.get(fmt)
    if shape is None or (fmt == "prompt_response" and "completion" in table.column_names):
        return None  # a record may name its response "completion": which one a row uses is decided per record
    for name in (shape.prompt, shape.extra, shape.response, shape.category):
        if name and name in table.column_names and not _is_text(table.column(name).type):
            return None
    ids = [c for c in ID_FIELDS if c in table.column_names]
    for name in ids:
        t = table.column(name).type
        if not (_is_text(t) or pa.types.is_integer(t)):
            return None
    n = table.num_rows
    raw_p, raw_r = _column(table, shape.prompt), _column(table, shape.response)
    p, r = _strip(raw_p), _strip(raw_r)
    reason = _first_reason([
        (pc.is_null(raw_p), f"missing_{shape.prompt}"),
        (_blank(p), f"empty_{shape.prompt}"),
        (pc.is_null(raw_r), f"missing_{shape.response}"),
        (_blank(r), f"empty_{shape.response}"),
    ], n)
    prompt = p
    if shape.extra and shape.extra in table.column_names:
        x = _strip(_column(table, shape.extra))
        has_x = pc.fill_null(pc.not_equal(x, ""), False)
        if pc.any(has_x).as_py():  # one pass: prompt + ("\n\n" + input, or nothing)
            sep = pc.if_else(has_x, pa.scalar("\n\n"), pa.scalar(""))
            prompt = pc.binary_join_element_wise(p, sep, pc.fill_null(x, ""), "")
    own_id = own_ids(table)
    out = pa.table({
        "index": pa.array(np.arange(n, dtype=np.int64)),
        "source_id": own_id,
        "prompt": prompt,
        "response": r,
        "template": pa.nulls(n, pa.string()),
        "category": _column(table, shape.category),
        "reason": reason,
    })
    if fmt == "prompt_response":
        out = _unwrap_templates(out)
    bad = pc.is_valid(out.column("reason"))
    rejects: list[tuple[int, str, Any]] = []
    if pc.any(bad).as_py():
        rows = out.filter(bad)
        rejects = [(i, why, original(i))
                   for i, why in zip(rows.column("index").to_pylist(), rows.column("reason").to_pylist())]
        out = out.filter(pc.invert(bad))
    return out.drop_columns(["reason"]), rejects


def _unwrap_templates(out: pa.Table) -> pa.Table:
    """Unwrap templated prompts (only rows that contain a template marker go through Python)."""
    marked = pc.and_(pc.is_null(out.column("reason")), pc.fill_null(pc.match_substring(out.column("prompt"), "###"), False))
    if not pc.any(marked).as_py():
        return out
    texts = out.column("prompt").filter(marked).to_pylist()
    pairs = [unwrap(t) for t in texts]
    empty = [None if not is_blank(text) else "empty_prompt" for text, _ in pairs]

    def put(name: str, values: list) -> pa.Table:
        col = pc.replace_with_mask(out.column(name).combine_chunks(), marked.combine_chunks(), pa.array(values, pa.string()))
        return out.set_column(out.column_names.index(name), name, col)

    out = put("prompt", [t for t, _ in pairs])
    out = put("template", [n for _, n in pairs])
    return put("reason", empty)
