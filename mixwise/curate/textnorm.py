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


def rows_to_fix(chunk: pa.Array) -> np.ndarray:
    """Rows of a string chunk that ``norm`` could change, given they are already stripped."""
    n = len(chunk)
    mask = np.zeros(n, dtype=bool)
    buf = chunk.buffers()[2] if n else None
    if buf is None:
        return mask
    data = np.frombuffer(buf, dtype=np.uint8)
    hits = np.flatnonzero(data == 13)  # carriage returns
    leads = np.flatnonzero(data >= 0xC0)
    if leads.size:
        hits = np.concatenate([hits, leads[nfc_sensitive()[_code_points_at(data, leads)]]])
    if hits.size:
        rows = np.searchsorted(string_offsets(chunk), hits, side="right") - 1
        mask[rows[(rows >= 0) & (rows < n)]] = True  # bytes outside the chunk's slice map outside [0, n)
    return mask


def _normalize_chunk(chunk: pa.Array) -> pa.Array:
    fix = rows_to_fix(chunk)
    if not fix.any():
        return chunk
    texts = chunk.filter(pa.array(fix)).to_pylist()
    fixed = [t if t is None else norm(t) for t in texts]
    # str methods return the very same object when nothing changes
    changed = np.array([a is not b for a, b in zip(texts, fixed)], dtype=bool)
    if not changed.any():
        return chunk
    fix[np.flatnonzero(fix)[~changed]] = False
    return pc.replace_with_mask(chunk, pa.array(fix), pa.array([t for t, c in zip(fixed, changed) if c], chunk.type))


def normalize_column(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """``norm`` of every (already stripped) string; only changed chunks are copied."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    return pa.chunked_array([_normalize_chunk(c) for c in chunks], type=col.type)


__all__ = ["norm", "normalize_column", "nfc_sensitive", "rows_to_fix"]
