"""Fast path for multi-turn formats: ShareGPT and OpenAI-messages blocks converted column-wise.

A JSON-lines block of ``{"conversations": [{"from", "value"}, ...]}`` (or
``{"messages": [{"role", "content"}, ...]}``) records parses with Arrow into a
list-of-structs column. Here the turns are flattened once, checked, stripped,
normalized and re-assembled with Arrow and numpy, giving the same rows, rejects
and reasons as the per-record converter (``formats._role_turns``; tests compare
both paths). Anything unusual (a turn that is not an object, non-string
fields, non-ASCII role names) returns None and the block goes record by record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mixwise.curate.flat import PY_WHITESPACE, _blank, _is_text, _strip, own_ids
from mixwise.curate.formats import ID_FIELDS, ROLE_ALIASES
from mixwise.curate.textnorm import norm, normalize_with_lengths
from mixwise.schema import SAMPLE_SCHEMA

#: format -> (list field, role key, text key)
TURN_SHAPES = {"sharegpt": ("conversations", "from", "value"), "openai": ("messages", "role", "content")}

_ALIASES = pa.array(list(ROLE_ALIASES))
_USER, _ASSISTANT, _SYSTEM = 0, 1, 2
_ROLE_OF_ALIAS = np.array([{"user": _USER, "assistant": _ASSISTANT, "system": _SYSTEM}[r] for r in ROLE_ALIASES.values()], np.int8)
_ROLE_NAMES = pa.array(["user", "assistant"])


def _first_per_row(rows: np.ndarray, n: int) -> np.ndarray:
    """For positions grouped by ascending row, the first position of each row (-1 where a row has none)."""
    out = np.full(n, -1, dtype=np.int64)
    uniq, first = np.unique(rows, return_index=True)
    out[uniq] = first
    return out


def convert_turns_block(table: pa.Table, fmt: str, original: Callable[[int], Any]):
    """``(rows, rejects, keys, prompt_chars, response_chars)`` for a multi-turn block, or None for the per-record path.

    ``rows`` has columns index (record position in the block), source_id,
    prompt, response, system, messages (null for a plain single exchange),
    n_turns, template, category; ``rejects`` is a list of (index, reason,
    original record); ``keys`` holds each row's conversation key (what the
    content hash is taken of); the lengths are numpy arrays in characters.
    """
    field, role_key, text_key = TURN_SHAPES[fmt]
    if field not in table.column_names:
        return None
    col = table.column(field).combine_chunks()
    if pa.types.is_large_list(col.type) and pa.types.is_struct(col.type.value_type):
        col = col.cast(pa.list_(col.type.value_field))  # e.g. from Parquet or a dataset: one batch fits 32-bit offsets
    if not pa.types.is_list(col.type) or not pa.types.is_struct(col.type.value_type):
        return None
    names = [col.type.value_type.field(i).name for i in range(col.type.value_type.num_fields)]
    for key in (role_key, text_key):
        if key in names and not _is_text(col.type.value_type.field(key).type):
            return None
    for name in ID_FIELDS:
        if name in table.column_names and not (_is_text(table.column(name).type) or pa.types.is_integer(table.column(name).type)):
            return None
    n = len(col)
    turns = col.flatten()
    if turns.null_count:
        return None  # a turn that is not an object
    parent = np.asarray(pc.list_parent_indices(col), dtype=np.int64)
    m = len(turns)

    def member(key: str) -> pa.Array:
        return turns.field(key).cast(pa.string()) if key in names else pa.nulls(m, pa.string())

    who, raw_text = member(role_key), member(text_key)
    if m and not pc.all(pc.fill_null(pc.string_is_ascii(who), True)).as_py():
        return None  # Python's lower() and Arrow's differ beyond ASCII: leave those to the record path
    alias = pc.index_in(pc.ascii_lower(pc.utf8_trim(who, characters=PY_WHITESPACE)), value_set=_ALIASES)
    known = np.asarray(pc.is_valid(alias))
    role = np.full(m, -1, dtype=np.int8)
    role[known] = _ROLE_OF_ALIAS[np.asarray(alias.drop_null())]
    text = _strip(pa.chunked_array([raw_text])).combine_chunks()

    # The first failing turn decides a row's reason, checked in the record converter's order.
    codes = np.zeros(m, dtype=np.int8)
    checks = [(np.asarray(pc.is_null(who)), 1), (~known, 2), (np.asarray(pc.is_null(raw_text)), 3),
              (np.asarray(pc.fill_null(_blank(pa.chunked_array([text])), False)), 4)]
    for failed, code in reversed(checks):
        codes[failed] = code
    turn_reasons = [None, f"missing_{role_key}", "unknown_role", f"missing_{text_key}", "empty_turn"]
    lengths = np.asarray(col.value_lengths().fill_null(0), dtype=np.int64)
    reason: list[str | None] = [None] * n
    list_null = np.asarray(col.is_null())
    bad_turn = np.flatnonzero(codes)
    first_bad = _first_per_row(parent[bad_turn], n)
    kept_turn = role != _SYSTEM
    users = np.bincount(parent[kept_turn & (role == _USER)], minlength=n)
    assistants = np.bincount(parent[kept_turn & (role == _ASSISTANT)], minlength=n)
    kept_count = np.bincount(parent[kept_turn], minlength=n)
    for i in np.flatnonzero(list_null | (lengths == 0) | (first_bad >= 0) | (users == 0) | (assistants == 0)).tolist():
        if list_null[i]:
            reason[i] = f"missing_{field}"
        elif lengths[i] == 0:
            reason[i] = "empty_conversation"
        elif first_bad[i] >= 0:
            reason[i] = turn_reasons[codes[bad_turn[first_bad[i]]]]
        elif kept_count[i] == 0:
            reason[i] = "empty_conversation"
        elif users[i] == 0:
            reason[i] = "no_user_turn"
        else:
            reason[i] = "no_assistant_turn"
    valid = np.ones(n, dtype=bool)
    valid[[i for i, why in enumerate(reason) if why is not None]] = False
    rejects = [(i, why, original(i)) for i, why in enumerate(reason) if why is not None]

    # Rows that pass: their user/assistant turns, normalized, in order.
    rows = np.flatnonzero(valid)
    keep = np.flatnonzero(kept_turn & valid[parent]) if m else np.zeros(0, np.int64)
    k_parent, k_role = parent[keep], role[keep]
    k_text, k_chars = normalize_with_lengths(text.take(pa.array(keep)))
    k_text = k_text.combine_chunks()
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[rows] = np.arange(len(rows))
    r = row_of[k_parent]  # output row of each kept turn
    nr = len(rows)
    offsets = np.zeros(nr + 1, dtype=np.int32)
    np.cumsum(np.bincount(r, minlength=nr), out=offsets[1:])
    pos = np.arange(len(keep))
    first_user = _first_per_row(r[k_role == _USER], nr)
    first_user = pos[k_role == _USER][first_user] if nr else first_user
    after = (k_role == _ASSISTANT) & (pos > first_user[r]) if nr else np.zeros(0, bool)
    first_answer = _first_per_row(r[after], nr)
    has_answer = first_answer >= 0
    answer_pos = np.where(has_answer, pos[after][np.maximum(first_answer, 0)] if after.any() else 0, 0)
    prompt = k_text.take(pa.array(first_user))
    response = pc.if_else(pa.array(has_answer), k_text.take(pa.array(answer_pos)), pa.scalar("")) if nr else pa.array([], pa.string())
    response_chars = np.where(has_answer, k_chars[answer_pos] if len(k_chars) else 0, 0).astype(np.int32)
    count = np.diff(offsets)
    first_role = k_role[np.minimum(offsets[:-1], max(len(keep) - 1, 0))] if len(keep) else np.zeros(nr, np.int8)
    second_role = k_role[np.minimum(offsets[:-1] + 1, max(len(keep) - 1, 0))] if len(keep) else np.zeros(nr, np.int8)
    single = (count == 2) & (first_role == _USER) & (second_role == _ASSISTANT)
    role_names = _ROLE_NAMES.take(pa.array(k_role.astype(np.int64)))
    turns_out = pa.StructArray.from_arrays([role_names, k_text], names=["role", "content"])
    messages = pa.ListArray.from_arrays(pa.array(offsets), turns_out, mask=pa.array(single)).cast(SAMPLE_SCHEMA.field("messages").type)

    # System prompts are rare: joined and normalized in Python, exactly as the record path does.
    system_turn = np.flatnonzero((role == _SYSTEM) & valid[parent]) if m else np.zeros(0, np.int64)
    system: list[str | None] = [None] * nr
    if len(system_turn):
        parts: dict[int, list[str]] = {}
        for p, t in zip(parent[system_turn].tolist(), text.take(pa.array(system_turn)).to_pylist()):
            parts.setdefault(p, []).append(t)
        for p, texts in parts.items():
            system[row_of[p]] = norm("\n\n".join(texts))
    system_col = pa.array(system, pa.string())
    pieces = pc.binary_join_element_wise("\x1e", role_names, "\x1f", k_text, "")
    convo = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), pieces), "")
    keys = pc.binary_join_element_wise(pc.fill_null(system_col, ""), convo, "")
    out = pa.table({
        "index": pa.array(rows, pa.int64()),
        "source_id": own_ids(table).take(pa.array(rows)),
        "prompt": prompt,
        "response": response,
        "system": system_col,
        "messages": messages,
        "n_turns": pa.array(users[rows], pa.int32()),
        "template": pa.nulls(nr, pa.string()),
        "category": pa.nulls(nr, pa.string()),
    })
    return out, rejects, keys, k_chars[first_user] if nr else np.zeros(0, np.int32), response_chars


__all__ = ["TURN_SHAPES", "convert_turns_block"]
