"""The machinery under ingest: column-wise block preparation, the Parquet table writer, bulk-read allocator settings.

:func:`prepare_block` / :func:`prepare_table` validate, convert, normalize and
hash a JSON-lines block or an Arrow batch column-wise (in worker threads;
Arrow's kernels release the GIL), or return None so the caller takes the
record-by-record path. :class:`TableWriter` numbers rows (ids need the
occurrences seen so far) and writes them to Parquet on a writer thread.
:func:`bulk_mode` tunes the allocator and the garbage collector while a large
file is read. :mod:`mixwise.curate.ingest` drives them.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixwise.curate import ids
from mixwise.curate.flat import convert_block, text_schema
from mixwise.curate.formats import Converted
from mixwise.curate.readers import count_lines
from mixwise.curate.textnorm import norm, normalize_with_lengths
from mixwise.curate.turns import TURN_SHAPES, convert_turns_block
from mixwise.schema import SAMPLE_SCHEMA


@dataclass
class Prepared:
    """A block converted column-wise, everything but what depends on earlier blocks (ids, positions)."""

    table: pa.Table  # index (within the block), own_id, prompt, response, template, category (+ system, messages, n_turns)
    digests: list[bytes]
    prompt_chars: np.ndarray
    response_chars: np.ndarray
    rejects: list[tuple[int, str, Any]]  # (index within the block, reason, original record)
    n_records: int
    n_lines: int


def prepare_block(block: bytes | memoryview, fmt: str) -> Prepared | None:
    """Parse, validate, convert, normalize and hash one JSON-lines block; None to use the per-record path.

    Runs in worker threads: Arrow's kernels release the GIL, so blocks are
    prepared while the main thread writes the previous ones.
    """
    parsed = parse_block(block, fmt)
    if parsed is None:
        return None
    table, original = parsed
    return prepare_table(table, fmt, original, count_lines(block))


def prepare_table(table: pa.Table, fmt: str, original: Callable[[int], Any] | None = None, n_lines: int = 0) -> Prepared | None:
    """Validate, convert, normalize and hash an Arrow table of records (a parsed block, a Parquet batch, a dataset batch).

    ``original(i)`` gives record i as Python for the rejects file (default: from
    the table itself). None when the table needs the per-record path.
    """
    if original is None:
        original = lambda i: table.slice(i, 1).to_pylist()[0]  # noqa: E731
    if fmt in TURN_SHAPES:
        converted = convert_turns_block(table, fmt, original)
        if converted is None:
            return None
        rows, rejects, keys, prompt_chars, response_chars = converted
        return Prepared(rows.rename_columns(["own_id" if c == "source_id" else c for c in rows.column_names]),
                         ids.digests_of(keys), prompt_chars, response_chars, rejects, table.num_rows, n_lines)
    converted = convert_block(table, fmt, original)
    if converted is None:
        return None
    rows, rejects = converted
    prompt, prompt_chars = normalize_with_lengths(rows.column("prompt"))
    response, response_chars = normalize_with_lengths(rows.column("response"))
    keys = pc.binary_join_element_wise("\x1euser\x1f", prompt, "\x1eassistant\x1f", response, "")
    digests = ids.digests_of(keys)
    out = pa.table({"index": rows.column("index"), "own_id": rows.column("source_id"), "prompt": prompt, "response": response,
                    "template": rows.column("template"), "category": rows.column("category")})
    return Prepared(out, digests, prompt_chars, response_chars, rejects, table.num_rows, n_lines)


def _single_turn(msgs: list[tuple[str, str]]) -> bool:
    return len(msgs) == 2 and msgs[0][0] == "user" and msgs[1][0] == "assistant"


class TableWriter:
    """Accumulates converted rows and writes them to Parquet in chunks.

    ``messages`` is written only for conversations that prompt + response do not
    already hold (several exchanges, or turns before the first user turn); it is
    null for a plain single exchange. This halves what a typical instruction
    dataset writes; ``schema.full_messages()`` gives every row's turns.
    """

    def __init__(self, path: Path, source: str):
        self.path = path
        self.source = source
        self.writer: pq.ParquetWriter | None = None
        self._io: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()
        self.occurrences = ids.Occurrences()
        self.rows = 0
        self._reset()

    def _reset(self) -> None:
        self.cols: dict[str, list[Any]] = {name: [] for name in SAMPLE_SCHEMA.names if name not in ("id", "content_hash")}
        self.digests: list[bytes] = []

    def add(self, source_id: str, conv: Converted) -> None:
        # Stored text is the normalized text (CRLF -> LF, NFC, stripped), so hashes are of what is stored.
        msgs = [(r, norm(t)) for r, t in conv.messages]
        system = norm(conv.system) if conv.system else None
        self.digests.append(ids.digest(ids.conversation_key(system or "", msgs)))
        prompt = next(t for r, t in msgs if r == "user")
        first_user = next(i for i, (r, _) in enumerate(msgs) if r == "user")
        response = next((t for r, t in msgs[first_user:] if r == "assistant"), "")
        c = self.cols
        c["source"].append(self.source)
        c["source_id"].append(source_id)
        c["prompt"].append(prompt)
        c["response"].append(response)
        c["system"].append(system)
        c["messages"].append(None if _single_turn(msgs) else [{"role": r, "content": t} for r, t in msgs])
        c["n_turns"].append(sum(1 for r, _ in msgs if r == "user"))
        c["prompt_chars"].append(len(prompt))
        c["response_chars"].append(len(response))
        c["template"].append(conv.template)
        c["category"].append(conv.category)

    def _with_ids(self, digests: list[bytes], columns: dict[str, Any]) -> pa.Table:
        occurrence = self.occurrences.assign(digests)
        columns = {"id": ids.row_ids(self.source, digests, occurrence), "content_hash": ids.hex_digests(digests), **columns}
        return pa.Table.from_pydict({name: columns[name] for name in SAMPLE_SCHEMA.names}, schema=SAMPLE_SCHEMA)

    def add_prepared(self, prep: Prepared, first_index: int, multi_stem: str | None) -> None:
        """Append a block prepared by :func:`prepare_block` whose first record is number ``first_index``."""
        self.flush()
        t = prep.table
        n = t.num_rows
        if n == 0:
            return
        position = pc.cast(pc.add(t.column("index"), first_index), pa.string())
        if multi_stem is not None:
            position = pc.binary_join_element_wise(f"{multi_stem}:", position, "")
        nulls = pa.nulls(n, pa.string())
        table = self._with_ids(prep.digests, {
            "source": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([self.source])).cast(pa.string()),
            "source_id": pc.coalesce(t.column("own_id").cast(pa.string()), position),
            "prompt": t.column("prompt").cast(pa.string()),
            "response": t.column("response").cast(pa.string()),
            # single-turn formats have no system prompt and no messages; multi-turn ones bring their own
            "system": t.column("system") if "system" in t.column_names else nulls,
            "messages": t.column("messages") if "messages" in t.column_names else pa.nulls(n, SAMPLE_SCHEMA.field("messages").type),
            "n_turns": t.column("n_turns") if "n_turns" in t.column_names else pa.array(np.ones(n, np.int32)),
            "prompt_chars": pa.array(prep.prompt_chars, pa.int32()),
            "response_chars": pa.array(prep.response_chars, pa.int32()),
            "template": t.column("template").cast(pa.string()),
            "category": t.column("category").cast(pa.string()),
        })
        self._write(table)

    def _write(self, table: pa.Table) -> None:
        """Queue a table for the writer thread (tables are written in the order they are queued)."""
        if self.writer is None:
            self.writer = pq.ParquetWriter(
                # Uncompressed, like the datasets cache: compression tripled the write time of text columns.
                self.path, SAMPLE_SCHEMA, compression="none",
                # dictionary-encode only the low-cardinality columns; trying it on long texts costs time for nothing
                use_dictionary=["source", "template", "category", "messages.list.element.role"],
                # min/max statistics of long texts are useless for pruning and cost a pass over them
                write_statistics=["source", "n_turns", "prompt_chars", "response_chars", "template", "category"],
            )
            self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mixwise-write")
        self._pending.append(self._io.submit(self.writer.write_table, table))
        while len(self._pending) > 2:  # bounded: at most a few blocks wait in memory
            self._pending.popleft().result()
        self.rows += table.num_rows

    def flush(self) -> None:
        if not self.digests:
            return
        self._write(self._with_ids(self.digests, self.cols))
        self._reset()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind, error, tb) -> None:
        """Close the file; after an error, close it quietly and remove the partial file."""
        if kind is None:
            self.close()
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Write what is left and close the file."""
        try:
            self.flush()
        finally:
            try:
                while self._pending:
                    self._pending.popleft().result()
            finally:
                if self._io is not None:
                    self._io.shutdown()
                if self.writer is not None:
                    self.writer.close()
        if self.writer is None:  # no rows at all: still write a valid empty table
            pq.write_table(SAMPLE_SCHEMA.empty_table(), self.path)


def parse_block(block: bytes | memoryview, fmt: str) -> tuple[pa.Table, Callable[[int], Any]] | None:
    """``(table, original)``: a block parsed by Arrow, and record i of it as Python; None when Arrow cannot parse it."""

    import pyarrow.json as pj

    try:
        # One chunk per block, parsed on this thread: blocks are already parsed in parallel, and Arrow's
        # own threading (1 MB chunks) cost 1.7x the CPU time for the same wall time on 2 cores.
        options = pj.ReadOptions(use_threads=False, block_size=max(len(block) + 1, 1 << 20))
        parse = pj.ParseOptions(explicit_schema=text_schema(fmt))
        table = pj.read_json(pa.BufferReader(pa.py_buffer(block)), read_options=options, parse_options=parse)  # zero-copy
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None  # a corrupt line or mixed types: the per-record path reports it exactly
    spans: tuple[np.ndarray, np.ndarray] | None = None

    def original(i: int) -> Any:
        nonlocal spans
        if spans is None:
            spans = record_spans(block)
        return orjson.loads(block[spans[0][i] : spans[1][i]])

    return table, original


#: What ``bytes.strip()`` removes: a line made only of these holds no record.
_BLANK = np.zeros(256, dtype=bool)
_BLANK[list(b" \t\n\r\x0b\x0c")] = True


def record_spans(block: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """Start and end byte of every non-blank line of a JSON-lines block: record i is ``block[start[i]:end[i]]``.

    Found with numpy (newlines, then each line's first byte); only lines that
    begin with whitespace are checked one by one. Cheaper than splitting the
    whole block into line objects to fetch the few records that are rejected.
    """
    arr = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(arr)]])
    filled = ends > starts
    first = arr[np.minimum(starts, max(len(arr) - 1, 0))] if len(arr) else np.zeros(len(starts), np.uint8)
    keep = filled & ~_BLANK[first]
    for j in np.flatnonzero(filled & _BLANK[first]).tolist():
        keep[j] = bool(bytes(arr[starts[j] : ends[j]]).strip())
    return starts[keep], ends[keep]


def _glibc() -> Any:
    """The C library as a ctypes handle when it is glibc (it has ``mallopt``), else None."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


@contextmanager
def _keep_freed_memory() -> Iterator[None]:
    """With glibc: keep freed memory in the process while ingesting, instead of returning it page by page.

    Every block allocates and frees tens of MB (the read buffer, parsed
    columns, joined keys). By default glibc serves such sizes with fresh
    ``mmap`` calls or trims them off the heap when freed, so each block
    faults its pages in again (the 1M-row benchmark took 330k page faults;
    with this, 95k, and about 0.5 s less CPU). Inside: allocations up to
    32 MiB (glibc's ceiling) come from the heap, and freed memory is kept.
    Afterwards the trim threshold and padding go back to glibc's defaults and
    the kept memory is returned with ``malloc_trim``; the mmap threshold stays
    at 32 MiB, where glibc's own dynamic threshold settles after the first
    large free anyway. Elsewhere (macOS, musl, Windows) a no-op.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    libc.mallopt(_M_TOP_PAD, 64 << 20)
    try:
        yield
    finally:
        libc.mallopt(_M_TRIM_THRESHOLD, 128 << 10)
        libc.mallopt(_M_TOP_PAD, 128 << 10)
        libc.malloc_trim(0)


@contextmanager
def bulk_mode() -> Iterator[None]:
    """While ingesting: the C library's allocator for Arrow, freed memory kept, no cyclic garbage collection.

    Measured on the 1M-row benchmark: Arrow's default mimalloc pool returns and
    re-faults memory block after block (about 0.8 s of kernel time; malloc keeps
    it), and the collector kept re-scanning millions of short-lived objects that
    hold no cycles. All is restored afterwards; arrays made meanwhile stay
    valid (each remembers its pool).
    """
    before = pa.default_memory_pool()
    collecting = gc.isenabled()
    pa.set_memory_pool(pa.system_memory_pool())
    gc.disable()
    try:
        with _keep_freed_memory():
            yield
    finally:
        pa.set_memory_pool(before)
        if collecting:
            gc.enable()
