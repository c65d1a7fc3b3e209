"""The embedding cache: vectors keyed by (model key, text hash), stored as npy shards.

One folder per model key (model identity + precision) under
``<workspace>/cache/embeddings/``. Every batch of newly computed vectors becomes
one shard: ``shard-00007.npy`` (float16, rows x dim) and ``shard-00007.keys.npy``
(uint64 text hashes, same order). The keys file is written last, so a shard
without keys is an interrupted write and is ignored. Nothing is ever rewritten:
adding rows appends a shard, so a crash mid-run keeps the finished shards and a
re-run resumes from them.

Why npy shards rather than one Parquet table of lists: loading N x 384 floats
from Parquet list columns goes through Python lists (seconds per 100k rows);
an npy shard is one ``np.load`` (or a memory map) and a fancy-index gather.

Why float16: it halves disk and I/O; for unit vectors the rounding changes a
cosine by well under 1e-3, far below any clustering or dedup threshold.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

STORE_DTYPE = np.float16


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """64-bit blake2b hash of each text (uint64), the cache key of its embedding."""
    digests = b"".join(hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).digest() for t in texts)
    return np.frombuffer(digests, dtype="<u8").copy() if texts else np.zeros(0, dtype=np.uint64)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)


class EmbeddingCache:
    """Append-only store of embeddings for one model key."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def shards(self) -> list[Path]:
        """Vector files of completed shards, in write order."""
        if not self.root.is_dir():
            return []
        return sorted(p.with_name(p.name.replace(".keys.npy", ".npy")) for p in self.root.glob("shard-*.keys.npy"))

    def _load_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sorted keys, shard number, row in shard) over all completed shards."""
        if self._index is None:
            keys, shard, row = [], [], []
            for i, path in enumerate(self.shards()):
                k = np.load(path.with_name(path.name.replace(".npy", ".keys.npy")))
                keys.append(k)
                shard.append(np.full(len(k), i, dtype=np.int32))
                row.append(np.arange(len(k), dtype=np.int64))
            if keys:
                k, s, r = np.concatenate(keys), np.concatenate(shard), np.concatenate(row)
                order = np.argsort(k, kind="stable")
                self._index = (k[order], s[order], r[order])
            else:
                self._index = (np.zeros(0, np.uint64), np.zeros(0, np.int32), np.zeros(0, np.int64))
        return self._index

    def __len__(self) -> int:
        return len(self._load_index()[0])

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Boolean mask: which keys have a cached vector."""
        known = self._load_index()[0]
        if not len(known):
            return np.zeros(len(keys), dtype=bool)
        pos = np.minimum(np.searchsorted(known, keys), len(known) - 1)
        return known[pos] == keys

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> Path:
        """Append one shard (vectors first, keys last: the keys file marks it complete)."""
        if len(keys) != len(vectors):
            raise ValueError("keys and vectors differ in length")
        self.root.mkdir(parents=True, exist_ok=True)
        n = len(self.shards())
        while (self.root / f"shard-{n:05d}.keys.npy").exists():
            n += 1
        path = self.root / f"shard-{n:05d}.npy"
        _save_atomic(path, np.asarray(vectors, dtype=STORE_DTYPE))
        _save_atomic(path.with_name(path.name.replace(".npy", ".keys.npy")), np.asarray(keys, dtype=np.uint64))
        self._index = None
        return path

    def gather(self, keys: np.ndarray, out: np.ndarray) -> None:
        """Fill ``out[i]`` with the cached vector of ``keys[i]``; every key must be cached."""
        known, shard, row = self._load_index()
        pos = np.searchsorted(known, keys)
        if len(keys) and (pos.max(initial=0) >= len(known) or not np.array_equal(known[np.minimum(pos, len(known) - 1)], keys)):
            raise KeyError("some keys are not in the embedding cache")
        s, r = shard[pos], row[pos]
        for i, path in enumerate(self.shards()):
            take = np.nonzero(s == i)[0]
            if len(take):
                out[take] = np.load(path, mmap_mode="r")[r[take]]
