"""Content hashes and row ids of samples, computed in bulk.

Two keys identify a sample:

- ``content_hash``: 128-bit XXH3 of the normalized conversation (system
  prompt, then ``\\x1e role \\x1f text`` per turn), as 32 hex characters. Exact
  copies share it.
- ``id``: 64 bits (16 hex characters) mixed from the source name, the content
  hash and the *occurrence* (how many identical rows of the same source came
  before). It is unique per row and does not depend on unrelated rows, so
  appending records to a file keeps the ids of the old ones.

XXH3 is a documented, platform-independent hash (not Python's salted
``hash``), so both keys are the same on every machine and in every run. The id
mixing is a SplitMix64 finalizer over numpy ``uint64`` arrays: one vectorized
pass per block instead of a Python call per row.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import xxhash

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def conversation_key(system: str, messages: Iterable[tuple[str, str]]) -> str:
    """The text a content hash is taken of: system prompt, then ``\\x1e role \\x1f text`` per turn."""
    return system + "".join(f"\x1e{role}\x1f{text}" for role, text in messages)


def digest(key: str | bytes) -> bytes:
    """16-byte XXH3-128 digest of a conversation key."""
    return xxhash.xxh3_128_digest(key.encode() if isinstance(key, str) else key)


def content_hash(system: str, messages: Iterable[tuple[str, str]]) -> str:
    """Hex content hash of already-normalized text (see ``ingest.content_hash`` for raw text)."""
    return digest(conversation_key(system, messages)).hex()


def string_offsets(chunk: pa.Array) -> np.ndarray:
    """The n + 1 offsets of a (large_)string array into its data buffer, zero-copy, honouring a slice."""
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    return np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]


def digests_of(keys: pa.Array | pa.ChunkedArray) -> list[bytes]:
    """XXH3-128 digests of every string in an Arrow string column, without making Python strings."""
    chunks = keys.chunks if isinstance(keys, pa.ChunkedArray) else [keys]
    out: list[bytes] = []
    fn = xxhash.xxh3_128_digest
    for chunk in chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            chunk = chunk.cast(pa.large_string())
        if chunk.null_count:
            raise ValueError("conversation keys must not be null")
        n = len(chunk)
        if n == 0:
            continue
        offsets = string_offsets(chunk).tolist()
        data = memoryview(chunk.buffers()[2] or b"")
        out.extend(fn(data[s:e]) for s, e in zip(offsets, offsets[1:]))
    return out


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: a bijective, well-avalanched 64-bit mix (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _hex(raw: bytes, width: int) -> pa.Array:
    """Consecutive ``width``-byte values -> an Arrow column of 2*width lowercase hex characters each."""
    n = len(raw) // width
    offsets = np.arange(0, n * 2 * width + 1, 2 * width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw.hex().encode("ascii"))])


def hex_digests(digests: list[bytes]) -> pa.Array:
    """Content hashes as an Arrow string column (equal to ``bytes.hex()`` of each digest)."""
    return _hex(b"".join(digests), 16)


def row_ids(source: str, digests: list[bytes], occurrences: np.ndarray) -> pa.Array:
    """Row ids for one source: mix(source, content digest, occurrence) as 16 hex characters."""
    n = len(digests)
    if n == 0:
        return pa.array([], pa.string())
    halves = np.frombuffer(b"".join(digests), dtype=">u8").reshape(n, 2).astype(np.uint64)
    s = np.uint64(xxhash.xxh3_64_intdigest(source.encode()))
    with np.errstate(over="ignore"):
        occ = np.asarray(occurrences, dtype=np.uint64) * _GOLDEN
        v = mix64(halves[:, 1] ^ s)
        v = mix64(halves[:, 0] ^ v ^ occ)
    return _hex(v.astype(">u8").tobytes(), 8)


def row_id(source: str, chash: str, occurrence: int) -> str:
    """The id of one row (the scalar form of :func:`row_ids`)."""
    return row_ids(source, [bytes.fromhex(chash)], np.array([occurrence]))[0].as_py()


class Occurrences:
    """Numbers identical rows of one source 0, 1, 2 ... in the order they come.

    Rows are compared on the first 64 bits of their content digest: the odds of
    any false match among n rows are about n^2 / 2^65 (1 in 37 million at a
    million rows), and one would only change which occurrence number a row gets,
    not the ids' uniqueness.

    Keys seen once live in a few sorted numpy runs, merged like a
    log-structured tree (a run is merged into the one before it once that one
    is no more than twice its size), behind a 16 MiB table of "some key with
    these top 24 bits was seen": most new keys are ruled out by one lookup
    there, and only the rest are searched in the runs. A block with no copies
    costs a few vectorized passes and no Python loop; only keys seen twice or
    more get a dict entry.
    """

    _TOP_BITS = 24

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []  # sorted keys seen at least once, sizes decreasing
        self.maybe = np.zeros(1 << self._TOP_BITS, dtype=bool)  # top bits of every key in runs
        self.repeats: dict[int, int] = {}  # key -> rows so far, for keys seen at least twice

    def _seen(self, keys: np.ndarray) -> np.ndarray:
        """Which of ``keys`` an earlier block had."""
        found = np.zeros(len(keys), dtype=bool)
        candidates = np.flatnonzero(self.maybe[keys >> np.uint64(64 - self._TOP_BITS)])
        if len(candidates):
            some = keys[candidates]
            hit = np.zeros(len(some), dtype=bool)
            for run in self.runs:
                pos = np.minimum(np.searchsorted(run, some), len(run) - 1)
                hit |= run[pos] == some
            found[candidates] = hit
        return found

    def _remember(self, new: np.ndarray) -> None:
        """Add sorted, distinct keys not seen before."""
        self.maybe[new >> np.uint64(64 - self._TOP_BITS)] = True
        self.runs.append(new)
        while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            last = self.runs.pop()
            # Two sorted runs: the stable sort (timsort for uint64) merges them in linear time.
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]), kind="stable")

    def assign(self, digests: list[bytes]) -> np.ndarray:
        """How many identical rows came before each of ``digests`` (in order), counting them too."""
        n = len(digests)
        occ = np.zeros(n, dtype=np.int64)
        if n == 0:
            return occ
        keys = np.frombuffer(b"".join(digests), dtype=">u8")[0::2].astype(np.uint64)
        sk = np.sort(keys)
        repeat_in_block = sk[1:] == sk[:-1]
        found = self._seen(sk)
        if repeat_in_block.any() or found.any():
            # Rare: copies. Walk just the affected rows, in file order.
            was_seen = set(sk[found].tolist())
            dup_keys = np.concatenate([sk[found], sk[1:][repeat_in_block]])
            counts: dict[int, int] = {}
            for i in np.flatnonzero(np.isin(keys, dup_keys)).tolist():
                k = int(keys[i])
                c = counts.get(k)
                if c is None:
                    c = self.repeats.get(k, 1 if k in was_seen else 0)
                occ[i] = c
                counts[k] = c + 1
            for k, c in counts.items():
                if c >= 2:
                    self.repeats[k] = c
            fresh = ~found
            fresh[1:] &= ~repeat_in_block
            sk = sk[fresh]
        if len(sk):
            self._remember(sk)
        return occ


__all__ = ["Occurrences", "content_hash", "conversation_key", "digest", "digests_of", "hex_digests", "mix64", "row_id", "row_ids", "string_offsets"]
