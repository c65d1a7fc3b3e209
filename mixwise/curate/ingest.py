"""Ingest: any supported source -> the canonical sample table in the workspace.

``ingest(source, ws)`` reads a file, glob or ``hf:`` dataset, detects (or is
told) its format, converts every record, and writes
``sources/<name>/samples.parquet`` plus ``rejects.jsonl`` (each rejected record
with its reason and original content) and ``meta.json`` (written last: the
completion marker). Re-ingesting an unchanged source with the same settings
does no work.

Run it: ``mixwise ingest data/alpaca.json --name alpaca``.
"""

from __future__ import annotations

import gc
import glob as _glob
import re
import time
from collections import Counter
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixwise import __version__
from mixwise.curate import hub, ids
from mixwise.curate.flat import SHAPES, convert_block, text_schema
from mixwise.curate.turns import TURN_SHAPES, convert_turns_block
from mixwise.curate.formats import FORMATS, Converted, Format, Reject, detect_format, known_formats, record_id
from mixwise.curate.readers import Damage, FileReader, count_lines, fingerprint_hasher, hash_file
from mixwise.curate.textnorm import norm, normalize_with_lengths
from mixwise.errors import InputError, did_you_mean
from mixwise.schema import SAMPLE_SCHEMA
from mixwise.workspace import Workspace, config_hash, now_iso, write_json

Progress = Callable[[int, int], None]  # (done, total) in bytes or records

#: Blocks prepared at once in worker threads (and queued ahead of the writer).
_WORKERS = 2
#: Bytes of JSON lines parsed and converted as one block.
BLOCK_BYTES = 16 << 20
#: Rows of a Parquet file or hf dataset converted as one batch.
TABLE_ROWS = 50_000


@dataclass
class IngestReport:
    """What one ingest did: counts, rejects by reason, damage found, and whether it was skipped."""

    name: str
    format: str
    rows: int
    rejected: dict[str, int]
    fingerprint: str
    damage: list[Damage] = field(default_factory=list)
    skipped: bool = False
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())


# -- content ids ------------------------------------------------------------------------------
def content_hash(system: str | None, messages: list[tuple[str, str]]) -> str:
    """Hash of the normalized conversation: identical content gives the identical hash."""
    return ids.content_hash(norm(system or ""), [(r, norm(t)) for r, t in messages])


def row_id(source: str, chash: str, occurrence: int) -> str:
    """Unique, stable row key: (source, content hash, how many identical rows came before)."""
    return ids.row_id(source, chash, occurrence)


# -- sources ----------------------------------------------------------------------------------
def default_name(source: str) -> str:
    """A source name from a path or hf id: lower snake case of the file stem."""
    if source.startswith(hub.PREFIX):
        stem = hub.HubRef.parse(source).name
    else:
        stem = Path(source.replace("*", "")).name or "source"
        for suffix in (".gz", ".jsonl", ".ndjson", ".json", ".parquet", ".pq", ".csv"):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    return name or "source"


def resolve_files(source: str) -> list[Path]:
    """Files named by a path or glob, sorted; a clear error when none exist."""
    if any(ch in source for ch in "*?["):
        files = sorted(Path(p) for p in _glob.glob(source, recursive=True) if Path(p).is_file())
        if not files:
            raise InputError(f"no files match {source!r}", "check the pattern; quote it so the shell does not expand it")
        return files
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"no such file: {source}", "check the path, or use hf:ORG/NAME for a Hugging Face dataset")
    if path.is_dir():
        raise InputError(f"{source} is a directory", f"pass a file or a glob such as '{source.rstrip('/')}/*.jsonl'")
    return [path]


def file_fingerprint(files: list[Path]) -> str:
    """XXH3-128 over the files' names and bytes (ingest streams the same hash while it reads)."""
    h = fingerprint_hasher()
    for f in files:
        hash_file(f, h)
    return h.hexdigest()


# -- the table writer ---------------------------------------------------------------------------
@dataclass
class _Prepared:
    """A block converted column-wise, everything but what depends on earlier blocks (ids, positions)."""

    table: pa.Table  # index (within the block), own_id, prompt, response, template, category (+ system, messages, n_turns)
    digests: list[bytes]
    prompt_chars: np.ndarray
    response_chars: np.ndarray
    rejects: list[tuple[int, str, Any]]  # (index within the block, reason, original record)
    n_records: int
    n_lines: int


def _prepare_block(block: bytes | memoryview, fmt: str) -> _Prepared | None:
    """Parse, validate, convert, normalize and hash one JSON-lines block; None to use the per-record path.

    Runs in worker threads: Arrow's kernels release the GIL, so blocks are
    prepared while the main thread writes the previous ones.
    """
    parsed = _parse_block(block, fmt)
    if parsed is None:
        return None
    table, original = parsed
    return _prepare_table(table, fmt, original, count_lines(block))


def _prepare_table(table: pa.Table, fmt: str, original: Callable[[int], Any] | None = None, n_lines: int = 0) -> _Prepared | None:
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
        return _Prepared(rows.rename_columns(["own_id" if c == "source_id" else c for c in rows.column_names]),
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
    return _Prepared(out, digests, prompt_chars, response_chars, rejects, table.num_rows, n_lines)


def _single_turn(msgs: list[tuple[str, str]]) -> bool:
    return len(msgs) == 2 and msgs[0][0] == "user" and msgs[1][0] == "assistant"


class _TableWriter:
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

    def add_prepared(self, prep: _Prepared, first_index: int, multi_stem: str | None) -> None:
        """Append a block prepared by :func:`_prepare_block` whose first record is number ``first_index``."""
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

    def __enter__(self) -> _TableWriter:
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


def _parse_block(block: bytes | memoryview, fmt: str) -> tuple[pa.Table, Callable[[int], Any]] | None:
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
def _bulk_mode() -> Iterator[None]:
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


# -- ingest -------------------------------------------------------------------------------------
#: Version of the conversion and rejection rules. Bump it when a change can alter the rows an unchanged
#: file gives (2: texts of only invisible characters are empty); it is part of the settings hash, so
#: sources ingested under older rules are ingested again instead of being reported unchanged.
RULES_VERSION = 2

def ingest(
    source: str,
    ws: Workspace,
    *,
    name: str | None = None,
    fmt: str | None = None,
    salvage: bool = False,
    limit: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest ``source`` (path, glob or ``hf:`` id) into ``ws`` as source ``name``.

    Raises InputError for unreadable input, an unknown format, damaged files
    without ``salvage``, or a source with no usable rows.
    """
    started = time.perf_counter()
    name = name or default_name(source)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise InputError(f"invalid source name {name!r}", "use letters, digits, '_', '-' or '.'")
    forced: Format | None = None
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}", did_you_mean(fmt, FORMATS))
        forced = FORMATS[fmt]
    if limit is not None and limit <= 0:
        raise InputError(f"--limit must be positive, got {limit}", "omit it to read every record")

    hasher = None  # streams the files' fingerprint while they are read
    if source.startswith(hub.PREFIX):
        ref = hub.HubRef.parse(source)
        dataset = hub.load(ref)
        fingerprint: str | None = hub.fingerprint(dataset)
        inputs: list[tuple[str, Callable[[], Iterator[list[tuple[int, Any]]]], Any, Callable[[], Iterator[pa.Table]] | None]] = [
            (source, lambda: hub.chunks(dataset), None, lambda: hub.tables(dataset, TABLE_ROWS))
        ]
        total = len(dataset)
        described = {"hf": {"path": ref.path, "config": ref.config, "split": ref.split}}
        sizes = None
    else:
        files = resolve_files(source)
        sizes = [f.stat().st_size for f in files]
        fingerprint = None
        readers = [FileReader(f) for f in files]
        # With --limit, small chunks keep the reader from parsing (and tripping over) what lies past the limit.
        size = min(20_000, limit) if limit else 20_000
        inputs = [(str(r.path), (lambda r=r: r.chunks(size)), r, (lambda r=r: r.tables(TABLE_ROWS)) if r.kind == "parquet" else None) for r in readers]
        total = sum(sizes)
        described = {"files": [str(f.resolve()) for f in files]}

    settings = {"format": fmt, "salvage": salvage, "limit": limit, "rules": RULES_VERSION, **described}
    # The hash leaves out where the files live (the fingerprint already covers their names and bytes),
    # so the same data ingested on two machines gives the same workspace fingerprint.
    s_hash = config_hash({"format": fmt, "salvage": salvage, "limit": limit, "rules": RULES_VERSION, **described.get("hf", {})})
    dest = ws.source_dir(name)
    meta_path = dest / "meta.json"
    if not force and meta_path.is_file() and (dest / "samples.parquet").is_file():
        old = ws.source_meta(name)
        # Files of other sizes cannot hold the same bytes; otherwise compare the full fingerprint.
        if old.get("settings_hash") == s_hash and (sizes is None or old.get("file_sizes") == sizes):
            if fingerprint is None:
                fingerprint = file_fingerprint(files)
            if old.get("fingerprint") == fingerprint:
                return IngestReport(name, old["format"], old["rows"], old["rejected"], fingerprint, skipped=True, meta=old)
    if fingerprint is None:
        hasher = fingerprint_hasher()

    dest.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)  # an interrupted re-ingest must not look complete
    tmp_samples = dest / "samples.parquet.tmp"
    tmp_rejects = dest / "rejects.jsonl.tmp"
    writer = _TableWriter(tmp_samples, name)
    rejected: Counter[str] = Counter()
    damage: list[Damage] = []
    chosen: Format | None = forced
    multi = len(inputs) > 1
    done_bytes = 0
    seen_records = 0
    with _bulk_mode(), tmp_rejects.open("wb") as rej, \
            ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="mixwise-ingest") as pool, writer:

        def reject(where: str, position: str, reason: str, detail: str, record: Any) -> None:
            rejected[reason] += 1
            rej.write(orjson.dumps({"reason": reason, "detail": detail, "file": where, "position": position, "record": record}, default=str) + b"\n")

        def convert_records(chunk: list[tuple[int, Any]], where: str, stem: str) -> None:
            nonlocal seen_records
            for pos, rec in chunk:
                if limit is not None and seen_records >= limit:
                    return
                seen_records += 1
                position = f"{stem}:{pos}" if multi else str(pos)
                if not isinstance(rec, dict):
                    reject(where, position, "not_an_object", f"got {type(rec).__name__}", rec)
                    continue
                try:
                    conv = chosen.convert(rec)
                except Reject as r:
                    reject(where, position, r.reason, r.detail, rec)
                    continue
                writer.add(record_id(rec) or position, conv)

        def add_prepared(prep: _Prepared, index: int, where: str, stem: str) -> None:
            """Write a block or batch prepared column-wise whose first record is number ``index``."""
            nonlocal seen_records
            for pos, reason, rec in prep.rejects:
                reject(where, f"{stem}:{pos + index}" if multi else str(pos + index), reason, "", rec)
            writer.add_prepared(prep, index, stem if multi else None)
            seen_records += prep.n_records

        for where, make_chunks, reader, make_tables in inputs:
            stem = Path(where).stem
            streamed = False
            if hasher is not None and reader is not None:
                hasher.update(reader.path.name.encode() + b"\x00")
            if reader is not None and reader.is_json_lines() and limit is None:
                # Block path: Arrow parses whole blocks; flat formats convert column-wise in worker threads
                # while this thread numbers and writes the blocks in order.
                streamed = hasher is not None
                index, line = 0, 1
                pending: deque = deque()

                def finish(first_byte: int, block: bytes | memoryview, prepared: Future | None) -> None:
                    nonlocal index, seen_records, line
                    prep = prepared.result() if prepared is not None else None
                    if prep is None:
                        chunk = reader.records_of_block(line, first_byte, block, index)
                        convert_records(chunk, where, stem)
                        index += len(chunk)
                        line += count_lines(block)
                    else:
                        line += prep.n_lines
                        add_prepared(prep, index, where, stem)
                        index += prep.n_records
                    writer.flush()
                    reader.release(first_byte, len(block))
                    if progress is not None:
                        progress(done_bytes + first_byte + len(block), total)

                for first_byte, block in reader.blocks(BLOCK_BYTES, hasher=hasher if streamed else None):
                    if chosen is None:
                        head = reader.records_of_block(line, first_byte, bytes(block[: 1 << 20]).rsplit(b"\n", 1)[0] + b"\n", 0)
                        reader.damage.clear()
                        reader.raw_rejects.clear()
                        chosen = detect_format((rec for _, rec in head[:200]), where)
                    column_wise = chosen.name in SHAPES or chosen.name in TURN_SHAPES
                    fut = pool.submit(_prepare_block, block, chosen.name) if column_wise else None
                    pending.append((first_byte, block, fut))
                    while len(pending) > _WORKERS:
                        finish(*pending.popleft())
                while pending:
                    finish(*pending.popleft())
            elif make_tables is not None and limit is None:
                # Columnar sources (Parquet, hf datasets) come as Arrow tables: the same column-wise conversion.
                index, done_rows = 0, 0
                pending_tables: deque = deque()

                def finish_table(table: pa.Table, prepared: Future | None) -> None:
                    nonlocal index, done_rows
                    prep = prepared.result() if prepared is not None else None
                    if prep is None:
                        chunk = list(enumerate(table.to_pylist(), start=index))
                        convert_records(chunk, where, stem)
                        index += len(chunk)
                    else:
                        add_prepared(prep, index, where, stem)
                        index += prep.n_records
                    writer.flush()
                    done_rows += table.num_rows
                    if progress is not None:
                        share = reader.size() if reader is not None else total
                        progress(done_bytes + min(share, done_rows * share // max(total_rows(), 1)), total)

                def total_rows() -> int:
                    return reader.num_rows() if reader is not None else total

                for table in make_tables():
                    if chosen is None:
                        chosen = detect_format(table.slice(0, 200).to_pylist(), where)
                    column_wise = chosen.name in SHAPES or chosen.name in TURN_SHAPES
                    fut = pool.submit(_prepare_table, table, chosen.name) if column_wise else None
                    pending_tables.append((table, fut))
                    while len(pending_tables) > _WORKERS:
                        finish_table(*pending_tables.popleft())
                while pending_tables:
                    finish_table(*pending_tables.popleft())
            else:
                for chunk in make_chunks():
                    if chosen is None:
                        chosen = detect_format((rec for _, rec in chunk), where)
                    convert_records(chunk, where, stem)
                    writer.flush()
                    if progress is not None:
                        progress(done_bytes + (reader.bytes_read if reader else 0), total)
                    if limit is not None and seen_records >= limit:
                        break
            if hasher is not None and reader is not None and not streamed:
                hash_file(reader.path, hasher, name=False)
            if reader is not None:
                damage += reader.damage
                for raw in reader.raw_rejects:
                    reject(where, raw.position, raw.reason, "could not be parsed as JSON", raw.raw)
                done_bytes += reader.size()
            if limit is not None and seen_records >= limit:
                if hasher is not None:  # the files not read still count in the fingerprint
                    for r in readers[readers.index(reader) + 1 :]:
                        hash_file(r.path, hasher)
                break

    def discard() -> None:
        tmp_samples.unlink(missing_ok=True)

    if fingerprint is None:
        fingerprint = hasher.hexdigest()
    if damage and not salvage:
        discard()
        raise InputError(
            f"{damage[0].describe()}; {writer.rows:,} {'row is' if writer.rows == 1 else 'rows are'} intact"
            + (f" ({len(damage)} damaged places in all)" if len(damage) > 1 else ""),
            f"re-run with --salvage to keep them (the damaged text is in {tmp_rejects})",
        )
    if writer.rows == 0:
        discard()
        reasons = ", ".join(f"{k}={v}" for k, v in rejected.most_common()) or "the input is empty"
        raise InputError(
            f"no usable rows in {source}: {reasons}",
            f"see the rejected records in {tmp_rejects}" if rejected else "check that the file has records",
        )
    tmp_samples.replace(dest / "samples.parquet")
    tmp_rejects.replace(dest / "rejects.jsonl")
    meta = {
        "name": name,
        "source": source,
        "format": chosen.name if chosen else None,
        "format_forced": fmt is not None,
        "fingerprint": fingerprint,
        "settings": settings,
        "settings_hash": s_hash,
        "file_sizes": sizes,
        "rows": writer.rows,
        "records_read": seen_records + sum(v for k, v in rejected.items() if k in ("truncated_record", "malformed_json")),
        "rejected": dict(sorted(rejected.items())),
        "damage": [d.__dict__ for d in damage],
        "salvaged": bool(damage),
        "ingested_at": now_iso(),
        "mixwise_version": __version__,
    }
    write_json(meta_path, meta)
    return IngestReport(name, meta["format"], writer.rows, meta["rejected"], fingerprint, damage, False, time.perf_counter() - started, meta)


__all__ = ["IngestReport", "content_hash", "default_name", "ingest", "known_formats", "row_id"]
