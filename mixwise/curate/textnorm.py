"""Text normalization of stored samples: CRLF -> LF, Unicode NFC, stripped.

``norm`` is the rule, one string at a time. ``normalize_column`` applies the
same rule to an Arrow column and sends only the rows it could change through
Python: rows holding a carriage return, and rows holding a code point that NFC
can touch (a combining mark, a character that composes with the one before it,
or one NFC replaces). Those code points are derived from Python's own
``unicodedata`` the first time they are needed, so the column path agrees with
``norm`` exactly; plain non-ASCII text (accented letters, curly quotes, CJK,
emoji) never leaves Arrow.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mixwise.curate.ids import string_offsets


def norm(text: str) -> str:
    """CRLF -> LF, NFC, stripped (Python's ``str.strip`` whitespace)."""
    if text.isascii():  # ASCII is already NFC; skip the costlier normalize call
        return text.replace("\r\n", "\n").strip()
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()


@lru_cache(maxsize=1)
def nfc_sensitive() -> np.ndarray:
    """Boolean table over all code points: True where NFC may change a string holding it.

    That is: a nonzero combining class (marks can be reordered or composed), a
    canonical decomposition NFC does not keep (singletons, exclusions), or the
    second half of a composition (it may merge with the character before it),
    plus the Hangul vowel and trailing jamo, which compose algorithmically.
    Every other code point passes NFC's quick check, so a string made only of
    them is returned unchanged. Beyond U+2FFFF nothing decomposes or combines.
    """
    table = np.zeros(0x110000, dtype=bool)
    combining, decomposition, normalize = unicodedata.combining, unicodedata.decomposition, unicodedata.normalize
    for cp in range(0x80, 0x30000):
        c = chr(cp)
        if combining(c):
            table[cp] = True
            continue
        d = decomposition(c)
        if d and d[0] != "<":
            if normalize("NFC", c) != c:
                table[cp] = True
            else:
                parts = d.split()
                if len(parts) == 2:
                    table[int(parts[1], 16)] = True
    table[0x1161:0x1176] = True  # Hangul V jamo
    table[0x11A8:0x11C3] = True  # Hangul T jamo
    return table


def _code_points_at(data: np.ndarray, leads: np.ndarray) -> np.ndarray:
    """Decode the UTF-8 sequences starting at ``leads`` (positions of lead bytes >= 0xC0)."""
    last = len(data) - 1

    def cont(k: int) -> np.ndarray:
        return data[np.minimum(leads + k, last)].astype(np.int64) & 0x3F

    b0 = data[leads].astype(np.int64)
    two = ((b0 & 0x1F) << 6) | cont(1)
    three = ((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2)
    four = ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3)
    cp = np.where(b0 < 0xE0, two, np.where(b0 < 0xF0, three, four))
    return np.minimum(cp, 0x10FFFF)


def _marked_bytes(data: np.ndarray) -> np.ndarray:
    """Positions of carriage returns and UTF-8 lead bytes of multi-byte characters, ascending."""
    mask = data >= 0xC0
    np.logical_or(mask, data == 13, out=mask)
    return np.flatnonzero(mask)


def scan(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(rows_to_fix, chars)`` of a (valid UTF-8) string chunk whose strings are already stripped.

    ``rows_to_fix``: rows ``norm`` could change (a carriage return, or a code
    point NFC may touch). ``chars``: each row's length in characters (Python's
    ``len``), from its byte length less the continuation bytes of each
    multi-byte character, found in the same pass. Null rows count 0.
    """
    n = len(chunk)
    mask = np.zeros(n, dtype=bool)
    buf = chunk.buffers()[2] if n else None
    if buf is None:
        return mask, np.zeros(n, dtype=np.int32)
    offsets = string_offsets(chunk)
    chars = np.diff(offsets).astype(np.int32)
    data = np.frombuffer(buf, dtype=np.uint8)
    marked = _marked_bytes(data)
    if marked.size:
        rows = np.searchsorted(offsets, marked, side="right") - 1
        inside = (rows >= 0) & (rows < n)  # bytes outside the chunk's slice map outside [0, n)
        marked, rows = marked[inside], rows[inside]
        b0 = data[marked]
        lead = b0 >= 0xC0
        leads, lead_rows = marked[lead], rows[lead]
        # a lead byte begins 1, 2 or 3 continuation bytes
        extra = 1 + (b0[lead] >= 0xE0).astype(np.int32) + (b0[lead] >= 0xF0)
        chars -= np.bincount(lead_rows, weights=extra, minlength=n).astype(np.int32)
        mask[rows[~lead]] = True  # carriage returns
        mask[lead_rows[nfc_sensitive()[_code_points_at(data, leads)]]] = True
    if chunk.null_count:
        chars[np.asarray(chunk.is_null())] = 0
    return mask, chars


def rows_to_fix(chunk: pa.Array) -> np.ndarray:
    """Rows of a string chunk that ``norm`` could change, given they are already stripped."""
    return scan(chunk)[0]


def _normalize_chunk(chunk: pa.Array) -> tuple[pa.Array, np.ndarray]:
    fix, chars = scan(chunk)
    if not fix.any():
        return chunk, chars
    texts = chunk.filter(pa.array(fix)).to_pylist()
    fixed = [t if t is None else norm(t) for t in texts]
    # str methods return the very same object when nothing changes
    changed = np.array([a is not b for a, b in zip(texts, fixed)], dtype=bool)
    if not changed.any():
        return chunk, chars
    fix[np.flatnonzero(fix)[~changed]] = False
    new = [t for t, c in zip(fixed, changed) if c]
    chars[fix] = [len(t) for t in new]
    return pc.replace_with_mask(chunk, pa.array(fix), pa.array(new, chunk.type)), chars


def normalize_with_lengths(col: pa.ChunkedArray | pa.Array) -> tuple[pa.ChunkedArray, np.ndarray]:
    """``norm`` of every (already stripped) string, and each result's length in characters.

    Only chunks with something to change are copied.
    """
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    done = [_normalize_chunk(c) for c in chunks]
    lengths = np.concatenate([n for _, n in done]) if done else np.zeros(0, dtype=np.int32)
    return pa.chunked_array([c for c, _ in done], type=col.type), lengths


def normalize_column(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """``norm`` of every (already stripped) string; only changed chunks are copied."""
    return normalize_with_lengths(col)[0]


__all__ = ["nfc_sensitive", "norm", "normalize_column", "normalize_with_lengths", "rows_to_fix", "scan"]
