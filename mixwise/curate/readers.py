"""Read records from local files, keeping every complete record of a damaged file.

Supported: JSON (an array, or one object per line), JSONL/NDJSON, either of
them gzipped, Parquet and CSV. Records are yielded in chunks of
``(position, record)``; what could not be parsed is reported as
:class:`Damage` (where reading stopped, or which line was corrupt) and as raw
text for the rejects file, never dropped silently.
"""

from __future__ import annotations

import gzip
import json
import mmap
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mixwise.errors import InputError

SUFFIXES = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
}


@dataclass
class Damage:
    """A place where a file could not be read: ``kind`` is 'truncated' or 'corrupt'."""

    path: str
    kind: str
    line: int
    byte_offset: int
    message: str

    def describe(self) -> str:
        what = "is cut off" if self.kind == "truncated" else "has a corrupt record"
        return f"{self.path} {what} at line {self.line} (byte {self.byte_offset}): {self.message}"


@dataclass
class RawReject:
    """Text that could not be parsed into a record, kept for the rejects file."""

    position: str
    reason: str
    raw: str


@dataclass
class FileReader:
    """Iterates the records of one file; collects damage and unparsable text as it goes."""

    path: Path
    damage: list[Damage] = field(default_factory=list)
    raw_rejects: list[RawReject] = field(default_factory=list)
    bytes_read: int = 0
    _mapped: mmap.mmap | None = field(default=None, repr=False, compare=False)

    @property
    def kind(self) -> str:
        name = self.path.name.lower()
        if name.endswith(".gz"):
            name = name[:-3]
        for suffix, kind in SUFFIXES.items():
            if name.endswith(suffix):
                return kind
        raise InputError(
            f"cannot tell the file type of {self.path}",
            "use a .json, .jsonl, .json.gz, .jsonl.gz, .parquet or .csv file",
        )

    @property
    def compressed(self) -> bool:
        return self.path.name.lower().endswith(".gz")

    def size(self) -> int:
        return self.path.stat().st_size

    def chunks(self, chunk_size: int = 20_000) -> Iterator[list[tuple[int, Any]]]:
        """Yield lists of ``(position, record)``; positions count records from 0."""
        if not self.path.exists():
            raise InputError(f"no such file: {self.path}", "check the path (globs must be quoted)")
        if not self.path.is_file():
            raise InputError(f"not a file: {self.path}", "pass a file or a glob of files")
        try:
            self.path.open("rb").close()
        except OSError as e:
            raise InputError(f"cannot read {self.path}: {e.strerror}", "check the file's permissions") from e
        kind = self.kind
        if kind == "parquet":
            yield from self._parquet_chunks(chunk_size)
        elif kind == "csv":
            yield from self._csv_chunks(chunk_size)
        else:
            text_kind = kind
            if kind == "json":
                text_kind = "array" if self._first_char() == "[" else "jsonl"
            if text_kind == "array":
                yield from _batched(self._array_records(), chunk_size)
            else:
                yield from _batched(self._line_records(), chunk_size)

    def is_json_lines(self) -> bool:
        """True for JSONL files (and .json files holding one object per line)."""
        kind = self.kind
        return kind == "jsonl" or (kind == "json" and self._first_char() == "{")

    # -- JSON ----------------------------------------------------------------
    def _open_binary(self):
        return gzip.open(self.path, "rb") if self.compressed else self.path.open("rb")

    def _first_char(self) -> str:
        with self._open_binary() as f:
            try:
                head = f.read(4096)
            except (EOFError, OSError, zlib.error):
                head = b""
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return chr(stripped[0]) if stripped else ""

    def _read_all(self) -> bytes:
        """The whole (decompressed) content; a truncated gzip stream yields what it had."""
        if not self.compressed:
            data = self.path.read_bytes()
            self.bytes_read = len(data)
            return data
        parts: list[bytes] = []
        with gzip.open(self.path, "rb") as f:
            try:
                while block := f.read1(1 << 16):  # read1: a cut stream keeps what came before the cut
                    parts.append(block)
            except (EOFError, OSError, zlib.error) as e:
                self._gzip_damage(sum(map(len, parts)), str(e))
        self.bytes_read = self.size()
        return b"".join(parts)

    def _gzip_damage(self, offset: int, message: str) -> None:
        self.damage.append(Damage(str(self.path), "truncated", -1, offset, f"compressed stream ends early ({message})"))

    def _array_records(self) -> Iterator[tuple[int, Any]]:
        """Records of a top-level JSON array, one at a time, salvaging a cut-off tail."""
        data = self._read_all()
        text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
        decoder = json.JSONDecoder()
        n = len(text)
        pos = _skip_ws(text, 0)
        if pos >= n or text[pos] != "[":
            raise InputError(f"{self.path} is not a JSON array", "use a JSON array of objects or one object per line")
        pos = _skip_ws(text, pos + 1)
        index = 0
        if pos < n and text[pos] == "]":
            return
        while True:
            if pos >= n:
                self._text_damage(text, pos, "truncated", "the array is not closed", index)
                return
            try:
                record, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                kind = "truncated" if _only_partial_record_left(text, pos) else "corrupt"
                self._text_damage(text, pos, kind, e.msg, index)
                self.raw_rejects.append(RawReject(str(index), "truncated_record" if kind == "truncated" else "malformed_json", text[pos:]))
                return
            yield index, record
            index += 1
            pos = _skip_ws(text, end)
            if pos < n and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
            elif pos < n and text[pos] == "]":
                return
            elif pos >= n:
                self._text_damage(text, pos, "truncated", "the array is not closed", index)
                return
            else:
                self._text_damage(text, pos, "corrupt", f"expected ',' or ']' but found {text[pos]!r}", index)
                self.raw_rejects.append(RawReject(str(index), "malformed_json", text[pos:]))
                return

    def _text_damage(self, text: str, pos: int, kind: str, message: str, kept: int) -> None:
        line = text.count("\n", 0, pos) + 1
        byte_offset = len(text[:pos].encode("utf-8"))
        self.damage.append(Damage(str(self.path), kind, line, byte_offset, f"{message} (after {kept} complete records)"))

    def blocks(self, block_bytes: int = 16 << 20, hasher: Any = None) -> Iterator[tuple[int, bytes | memoryview]]:
        """``(first_byte, data)`` blocks of whole lines of a JSON-lines file (see :func:`count_lines`).

        Uncompressed files are memory-mapped (``data`` is then a view of the page
        cache; call :meth:`release` when done with a block), or read straight into
        each block's buffer where they cannot be mapped. With ``hasher``, every raw byte of the file
        (compressed bytes for .gz) is fed to it on the way, all the way to the end
        even when reading stops early, so the file's fingerprint costs no second pass.
        """
        if not self.compressed:
            mapped = self._map()
            if mapped is not None:
                try:
                    yield from self._mapped_blocks(mapped, block_bytes, hasher)
                finally:
                    self._mapped = None
                    try:
                        mapped.close()
                    except BufferError:  # a block's view is still referenced: the map goes with it
                        pass
                    self.bytes_read = self.size()
                return
        raw = _HashingFile(self.path, hasher) if hasher is not None else None
        try:
            if self.compressed:
                yield from self._gzip_blocks(gzip.GzipFile(fileobj=raw, mode="rb") if raw is not None else gzip.open(self.path, "rb"), block_bytes)
            else:
                yield from self._plain_blocks(raw if raw is not None else self.path.open("rb", buffering=0), block_bytes)
        finally:
            if raw is not None:
                raw.drain()
                raw.close()
            self.bytes_read = self.size()

    def _map(self) -> mmap.mmap | None:
        """The file mapped read-only, or None where it cannot be (empty, a pipe, no mmap)."""
        try:
            with self.path.open("rb") as f:
                if not self.path.is_file() or self.path.stat().st_size == 0:
                    return None
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_SEQUENTIAL"):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        return mapped

    def _mapped_blocks(self, mapped: mmap.mmap, block_bytes: int, hasher: Any) -> Iterator[tuple[int, memoryview]]:
        """Blocks as views of the mapped file: the kernel's page cache is parsed in place, nothing is copied.

        Measured on the 1M-row benchmark: about 0.2 s less than reading into
        buffers (the copy out of the page cache). :meth:`release` drops a
        finished block's pages from the process (they stay in the page cache),
        so peak memory does not grow with the file. As with any memory-mapped
        reader, truncating the file while it is being read stops the process.
        """
        self._mapped = mapped
        view = memoryview(mapped)
        n, start = len(mapped), 0
        while start < n:
            end = min(start + block_bytes, n)
            cut = n if end == n else mapped.rfind(b"\n", start, end) + 1
            if cut == 0:  # a line longer than the block: take it whole
                cut = mapped.find(b"\n", end) + 1 or n
            if hasher is not None:
                hasher.update(view[start:cut])
            yield start, view[start:cut]
            start = cut

    def release(self, first_byte: int, length: int) -> None:
        """Done with the block at ``first_byte``: drop its whole pages from a mapped file (no-op otherwise)."""
        mapped = self._mapped
        if mapped is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        lo = first_byte // mmap.PAGESIZE * mmap.PAGESIZE
        hi = (first_byte + length) // mmap.PAGESIZE * mmap.PAGESIZE
        if hi > lo:
            try:
                mapped.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            except (OSError, ValueError):
                pass

    def _plain_blocks(self, f: Any, block_bytes: int) -> Iterator[tuple[int, memoryview]]:
        offset, rest = 0, b""
        with f:
            while True:
                buf = bytearray(len(rest) + block_bytes)
                buf[: len(rest)] = rest
                view = memoryview(buf)
                size = len(rest)
                while size < len(buf) and (got := f.readinto(view[size:])):
                    size += got
                if size == len(rest):  # end of file
                    if rest:
                        yield offset, view[:size]
                    return
                cut = buf.rfind(b"\n", 0, size) + 1
                if cut == 0:  # a line longer than the block: read on
                    rest = bytes(view[:size])
                    block_bytes *= 2
                    continue
                rest = bytes(view[cut:size])
                yield offset, view[:cut]
                offset += cut

    def _gzip_blocks(self, f: Any, block_bytes: int) -> Iterator[tuple[int, bytes]]:
        offset, rest = 0, b""
        with f:
            while True:
                parts, size, failed = [], 0, None
                while size < block_bytes:  # small reads: a cut stream loses at most one piece
                    try:
                        piece = f.read1(1 << 16)
                    except (EOFError, OSError, zlib.error) as e:
                        failed = e
                        break
                    if not piece:
                        break
                    parts.append(piece)
                    size += len(piece)
                data = rest + b"".join(parts)
                if failed is not None or not parts:
                    if data:
                        yield offset, data
                    if failed is not None:
                        self._gzip_damage(offset + len(data), str(failed))
                    return
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest = data
                    continue
                block, rest = data[:cut], data[cut:]
                yield offset, block
                offset += len(block)

    def records_of_block(self, first_line: int, first_byte: int, block: bytes | memoryview, first_index: int) -> list[tuple[int, Any]]:
        """Parse one block line by line; a corrupt or cut-off line is reported and skipped."""
        block = bytes(block)
        out: list[tuple[int, Any]] = []
        index, offset = first_index, first_byte
        for lineno, raw in enumerate(block.splitlines(keepends=True), start=first_line):
            start = offset
            offset += len(raw)
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                last = not raw.endswith(b"\n")
                kind = "truncated" if last else "corrupt"
                self.damage.append(Damage(str(self.path), kind, lineno, start, f"{e} (record {index})"))
                self.raw_rejects.append(
                    RawReject(f"line {lineno}", "truncated_record" if last else "malformed_json", raw.decode("utf-8", "replace"))
                )
                continue
            out.append((index, record))
            index += 1
        return out

    def _line_records(self) -> Iterator[tuple[int, Any]]:
        """Records of a JSON-lines file; a corrupt line is reported and reading goes on."""
        index, line = 0, 1
        for first_byte, block in self.blocks():
            recs = self.records_of_block(line, first_byte, block, index)
            line += count_lines(block)
            index += len(recs)
            yield from recs

    # -- columnar ------------------------------------------------------------
    def _parquet_chunks(self, chunk_size: int) -> Iterator[list[tuple[int, Any]]]:
        index = 0
        for batch in self._parquet_file().iter_batches(batch_size=chunk_size):
            rows = batch.to_pylist()
            yield list(enumerate(rows, start=index))
            index += len(rows)
        self.bytes_read = self.size()

    def _parquet_file(self) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as e:  # pyarrow raises several types for a bad file
            raise InputError(f"{self.path} is not a readable Parquet file ({e})", "re-export it, or pass --format for another type") from e

    def tables(self, batch_rows: int = 50_000) -> Iterator[Any]:
        """A Parquet file as Arrow tables of up to ``batch_rows`` rows, for column-wise conversion."""
        import pyarrow as pa

        for batch in self._parquet_file().iter_batches(batch_size=batch_rows):
            yield pa.Table.from_batches([batch])
        self.bytes_read = self.size()

    def num_rows(self) -> int:
        """Rows of a Parquet file, from its footer."""
        return self._parquet_file().metadata.num_rows

    def _csv_chunks(self, chunk_size: int) -> Iterator[list[tuple[int, Any]]]:
        import polars as pl

        try:
            df = pl.read_csv(self.path, infer_schema=False)
        except Exception as e:
            raise InputError(f"{self.path} is not a readable CSV file with a header ({e})", "check the delimiter and header row") from e
        rows = df.to_dicts()
        self.bytes_read = self.size()
        for start in range(0, len(rows), chunk_size):
            yield list(enumerate(rows[start : start + chunk_size], start=start))


def count_lines(data: bytes | memoryview) -> int:
    """Newlines in ``data``, counted by numpy in cache-sized slices (no Python loop, the GIL is free meanwhile)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    step = 1 << 20
    return int(sum(np.count_nonzero(arr[i : i + step] == 10) for i in range(0, len(arr), step)))


class _HashingFile:
    """A read-only binary file that feeds every byte it returns to ``hasher``."""

    def __init__(self, path: Path, hasher: Any):
        self._f = path.open("rb", buffering=0)
        self._h = hasher
        self.name = str(path)
        self.mode = "rb"

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._h.update(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = self._f.readinto(buffer)
        if n:
            self._h.update(memoryview(buffer)[:n])
        return n

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        """Leave the file open: blocks() drains and closes it."""

    def drain(self) -> None:
        """Hash the rest of the file (reading may have stopped early)."""
        if not self._f.closed:
            while self.read(1 << 22):
                pass

    def close(self) -> None:
        self._f.close()

    @property
    def closed(self) -> bool:
        return self._f.closed


def fingerprint_hasher() -> Any:
    """A fresh hasher for file fingerprints: XXH3-128, streamed."""
    import xxhash

    return xxhash.xxh3_128()


def hash_file(path: Path, hasher: Any, name: bool = True) -> None:
    """Feed a file's name (unless ``name`` is False) and bytes to ``hasher``, as streaming through blocks() does."""
    if name:
        hasher.update(path.name.encode() + b"\x00")
    try:
        with path.open("rb") as fh:
            while block := fh.read(1 << 22):
                hasher.update(block)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}", "check the file's permissions") from e


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _only_partial_record_left(text: str, pos: int) -> bool:
    """True when the failing record runs to the end of the file (a cut-off file, not a corrupt one)."""
    tail = text[pos:].rstrip()
    return not tail.endswith("]")


def _batched(it: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    batch: list[tuple[int, Any]] = []
    for item in it:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
