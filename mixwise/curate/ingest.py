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

import glob as _glob
import re
import time
from collections import Counter
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from mixwise import __version__
from mixwise.curate import hub, ids
from mixwise.curate.flat import SHAPES
from mixwise.curate.formats import FORMATS, Format, Reject, detect_format, known_formats, record_id
from mixwise.curate.ingest_io import Prepared, TableWriter, bulk_mode, record_spans  # noqa: F401 - record_spans: tests use it here
# module-level names the reading loop looks up at call time (tests swap them to watch which path ran)
from mixwise.curate.ingest_io import prepare_block as _prepare_block
from mixwise.curate.ingest_io import prepare_table as _prepare_table
from mixwise.curate.readers import Damage, FileReader, count_lines, fingerprint_hasher, hash_file
from mixwise.curate.textnorm import norm
from mixwise.curate.turns import TURN_SHAPES
from mixwise.errors import InputError, did_you_mean
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


# -- ingest -------------------------------------------------------------------------------------
#: Version of the conversion and rejection rules. Bump it when a change can alter the rows an unchanged
#: file gives (2: texts of only invisible characters are empty); it is part of the settings hash, so
#: sources ingested under older rules are ingested again instead of being reported unchanged.
RULES_VERSION = 2

@dataclass
class _Input:
    """One thing to read: a file (with its reader) or a hub dataset."""

    where: str
    chunks: Callable[[], Iterator[list[tuple[int, Any]]]]  # records in chunks of (position, record)
    reader: FileReader | None  # None for a hub dataset
    tables: Callable[[], Iterator[pa.Table]] | None  # Arrow batches, for Parquet files and hub datasets


@dataclass
class _Plan:
    """What :func:`resolve` decided: the source's name and format, what to read, its settings and fingerprint."""

    name: str
    source: str
    fmt: str | None
    forced: Format | None
    salvage: bool
    limit: int | None
    inputs: list[_Input]
    total: int  # bytes (files) or records (a hub dataset), for progress
    sizes: list[int] | None
    settings: dict
    settings_hash: str
    fingerprint: str | None  # known up front for a hub dataset or an unchanged file; else streamed while reading
    dest: Path
    unchanged: IngestReport | None = None  # set when the source is already ingested with the same data and settings


def resolve(source: str, ws: Workspace, *, name: str | None = None, fmt: str | None = None, salvage: bool = False,
            limit: int | None = None, force: bool = False) -> _Plan:
    """Check the arguments, find the files (or the hub dataset), and whether an unchanged source can be skipped."""
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

    files: list[Path] = []
    if source.startswith(hub.PREFIX):
        ref = hub.HubRef.parse(source)
        dataset = hub.load(ref)
        fingerprint: str | None = hub.fingerprint(dataset)
        inputs = [_Input(source, lambda: hub.chunks(dataset), None, lambda: hub.tables(dataset, TABLE_ROWS))]
        total = len(dataset)
        described: dict = {"hf": {"path": ref.path, "config": ref.config, "split": ref.split}}
        sizes = None
    else:
        files = resolve_files(source)
        sizes = [f.stat().st_size for f in files]
        fingerprint = None
        readers = [FileReader(f) for f in files]
        # With --limit, small chunks keep the reader from parsing (and tripping over) what lies past the limit.
        size = min(20_000, limit) if limit else 20_000
        inputs = [_Input(str(r.path), (lambda r=r: r.chunks(size)), r, (lambda r=r: r.tables(TABLE_ROWS)) if r.kind == "parquet" else None)
                  for r in readers]
        total = sum(sizes)
        described = {"files": [str(f.resolve()) for f in files]}

    settings = {"format": fmt, "salvage": salvage, "limit": limit, "rules": RULES_VERSION, **described}
    # The hash leaves out where the files live (the fingerprint already covers their names and bytes),
    # so the same data ingested on two machines gives the same workspace fingerprint.
    s_hash = config_hash({"format": fmt, "salvage": salvage, "limit": limit, "rules": RULES_VERSION, **described.get("hf", {})})
    plan = _Plan(name, source, fmt, forced, salvage, limit, inputs, total, sizes, settings, s_hash, fingerprint, ws.source_dir(name))
    if not force and (plan.dest / "meta.json").is_file() and (plan.dest / "samples.parquet").is_file():
        old = ws.source_meta(name)
        # Files of other sizes cannot hold the same bytes; otherwise compare the full fingerprint.
        if old.get("settings_hash") == s_hash and (sizes is None or old.get("file_sizes") == sizes):
            if plan.fingerprint is None:
                plan.fingerprint = file_fingerprint(files)
            if old.get("fingerprint") == plan.fingerprint:
                plan.unchanged = IngestReport(name, old["format"], old["rows"], old["rejected"], plan.fingerprint, skipped=True, meta=old)
    return plan


class _Reading:
    """Reading and converting every input of a plan into temporary samples and rejects files.

    Three read paths, one result: JSON-lines files go block by block (Arrow
    parses each block; flat and multi-turn formats convert column-wise in
    worker threads while this thread numbers and writes the blocks in order);
    Parquet files and hub datasets come as Arrow batches (the same column-wise
    conversion); everything else goes record by record. Any block or batch the
    column-wise path cannot take goes record by record too.
    """

    def __init__(self, plan: _Plan, progress: Progress | None):
        self.plan, self.progress = plan, progress
        self.tmp_samples = plan.dest / "samples.parquet.tmp"
        self.tmp_rejects = plan.dest / "rejects.jsonl.tmp"
        self.writer = TableWriter(self.tmp_samples, plan.name)
        self.rejected: Counter[str] = Counter()
        self.damage: list[Damage] = []
        self.chosen: Format | None = plan.forced
        self.multi = len(plan.inputs) > 1
        self.done_bytes = 0
        self.seen_records = 0
        # streams the files' fingerprint while they are read (unless it is known already)
        self.hasher = fingerprint_hasher() if plan.fingerprint is None else None
        self._rej = None
        self._pool: ThreadPoolExecutor | None = None

    # -- convert ---------------------------------------------------------------------------------
    def reject(self, where: str, position: str, reason: str, detail: str, record: Any) -> None:
        """Count a rejected record and keep it, with its reason, in the rejects file."""
        self.rejected[reason] += 1
        self._rej.write(orjson.dumps({"reason": reason, "detail": detail, "file": where, "position": position, "record": record},
                                     default=str) + b"\n")

    def convert_records(self, chunk: list[tuple[int, Any]], where: str, stem: str) -> None:
        """Convert records one by one (the path every format and every odd block can take)."""
        limit = self.plan.limit
        for pos, rec in chunk:
            if limit is not None and self.seen_records >= limit:
                return
            self.seen_records += 1
            position = f"{stem}:{pos}" if self.multi else str(pos)
            if not isinstance(rec, dict):
                self.reject(where, position, "not_an_object", f"got {type(rec).__name__}", rec)
                continue
            try:
                conv = self.chosen.convert(rec)
            except Reject as r:
                self.reject(where, position, r.reason, r.detail, rec)
                continue
            self.writer.add(record_id(rec) or position, conv)

    def add_prepared(self, prep: Prepared, index: int, where: str, stem: str) -> None:
        """Write a block or batch prepared column-wise whose first record is number ``index``."""
        for pos, reason, rec in prep.rejects:
            self.reject(where, f"{stem}:{pos + index}" if self.multi else str(pos + index), reason, "", rec)
        self.writer.add_prepared(prep, index, stem if self.multi else None)
        self.seen_records += prep.n_records

    def _column_wise(self) -> bool:
        return self.chosen.name in SHAPES or self.chosen.name in TURN_SHAPES

    # -- read ------------------------------------------------------------------------------------
    def read_json_lines(self, inp: _Input, stem: str) -> bool:
        """The block path of a JSON-lines file; returns whether the fingerprint was streamed while reading."""
        reader = inp.reader
        streamed = self.hasher is not None
        state = {"index": 0, "line": 1}
        pending: deque = deque()

        def finish(first_byte: int, block: bytes | memoryview, prepared: Future | None) -> None:
            prep = prepared.result() if prepared is not None else None
            if prep is None:
                chunk = reader.records_of_block(state["line"], first_byte, block, state["index"])
                self.convert_records(chunk, inp.where, stem)
                state["index"] += len(chunk)
                state["line"] += count_lines(block)
            else:
                state["line"] += prep.n_lines
                self.add_prepared(prep, state["index"], inp.where, stem)
                state["index"] += prep.n_records
            self.writer.flush()
            reader.release(first_byte, len(block))
            if self.progress is not None:
                self.progress(self.done_bytes + first_byte + len(block), self.plan.total)

        for first_byte, block in reader.blocks(BLOCK_BYTES, hasher=self.hasher if streamed else None):
            if self.chosen is None:
                head = reader.records_of_block(state["line"], first_byte, bytes(block[: 1 << 20]).rsplit(b"\n", 1)[0] + b"\n", 0)
                reader.damage.clear()
                reader.raw_rejects.clear()
                self.chosen = detect_format((rec for _, rec in head[:200]), inp.where)
            fut = self._pool.submit(_prepare_block, block, self.chosen.name) if self._column_wise() else None
            pending.append((first_byte, block, fut))
            while len(pending) > _WORKERS:
                finish(*pending.popleft())
        while pending:
            finish(*pending.popleft())
        return streamed

    def read_tables(self, inp: _Input, stem: str) -> None:
        """Arrow batches of a Parquet file or a hub dataset, converted column-wise."""
        reader = inp.reader
        state = {"index": 0, "done_rows": 0}
        pending: deque = deque()

        def total_rows() -> int:
            return reader.num_rows() if reader is not None else self.plan.total

        def finish(table: pa.Table, prepared: Future | None) -> None:
            prep = prepared.result() if prepared is not None else None
            if prep is None:
                chunk = list(enumerate(table.to_pylist(), start=state["index"]))
                self.convert_records(chunk, inp.where, stem)
                state["index"] += len(chunk)
            else:
                self.add_prepared(prep, state["index"], inp.where, stem)
                state["index"] += prep.n_records
            self.writer.flush()
            state["done_rows"] += table.num_rows
            if self.progress is not None:
                share = reader.size() if reader is not None else self.plan.total
                self.progress(self.done_bytes + min(share, state["done_rows"] * share // max(total_rows(), 1)), self.plan.total)

        for table in inp.tables():
            if self.chosen is None:
                self.chosen = detect_format(table.slice(0, 200).to_pylist(), inp.where)
            fut = self._pool.submit(_prepare_table, table, self.chosen.name) if self._column_wise() else None
            pending.append((table, fut))
            while len(pending) > _WORKERS:
                finish(*pending.popleft())
        while pending:
            finish(*pending.popleft())

    def read_chunks(self, inp: _Input, stem: str) -> None:
        """Record by record: other formats, and any read with --limit."""
        limit = self.plan.limit
        for chunk in inp.chunks():
            if self.chosen is None:
                self.chosen = detect_format((rec for _, rec in chunk), inp.where)
            self.convert_records(chunk, inp.where, stem)
            self.writer.flush()
            if self.progress is not None:
                self.progress(self.done_bytes + (inp.reader.bytes_read if inp.reader else 0), self.plan.total)
            if limit is not None and self.seen_records >= limit:
                break

    def run(self) -> None:
        """Read every input in order (stopping at the limit), keeping damage and unparsable text as rejects."""
        limit = self.plan.limit
        with bulk_mode(), self.tmp_rejects.open("wb") as self._rej, \
                ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="mixwise-ingest") as self._pool, self.writer:
            inputs = self.plan.inputs
            for k, inp in enumerate(inputs):
                stem = Path(inp.where).stem
                reader = inp.reader
                streamed = False
                if self.hasher is not None and reader is not None:
                    self.hasher.update(reader.path.name.encode() + b"\x00")
                if reader is not None and reader.is_json_lines() and limit is None:
                    streamed = self.read_json_lines(inp, stem)
                elif inp.tables is not None and limit is None:
                    self.read_tables(inp, stem)
                else:
                    self.read_chunks(inp, stem)
                if self.hasher is not None and reader is not None and not streamed:
                    hash_file(reader.path, self.hasher, name=False)
                if reader is not None:
                    self.damage += reader.damage
                    for raw in reader.raw_rejects:
                        self.reject(inp.where, raw.position, raw.reason, "could not be parsed as JSON", raw.raw)
                    self.done_bytes += reader.size()
                if limit is not None and self.seen_records >= limit:
                    if self.hasher is not None:  # the files not read still count in the fingerprint
                        for rest in inputs[k + 1:]:
                            hash_file(rest.reader.path, self.hasher)
                    break


def read_and_convert(plan: _Plan, progress: Progress | None = None) -> _Reading:
    """Read and convert every record of the plan into the temporary samples and rejects files."""
    plan.dest.mkdir(parents=True, exist_ok=True)
    (plan.dest / "meta.json").unlink(missing_ok=True)  # an interrupted re-ingest must not look complete
    reading = _Reading(plan, progress)
    reading.run()
    if plan.fingerprint is None:
        plan.fingerprint = reading.hasher.hexdigest()
    return reading


def write_outputs(plan: _Plan, reading: _Reading) -> None:
    """Refuse damaged input (without salvage) and empty results; else move the temporary files into place."""
    writer, tmp_rejects = reading.writer, reading.tmp_rejects
    damage = reading.damage
    if damage and not plan.salvage:
        reading.tmp_samples.unlink(missing_ok=True)
        raise InputError(
            f"{damage[0].describe()}; {writer.rows:,} {'row is' if writer.rows == 1 else 'rows are'} intact"
            + (f" ({len(damage)} damaged places in all)" if len(damage) > 1 else ""),
            f"re-run with --salvage to keep them (the damaged text is in {tmp_rejects})",
        )
    if writer.rows == 0:
        reading.tmp_samples.unlink(missing_ok=True)
        reasons = ", ".join(f"{k}={v}" for k, v in reading.rejected.most_common()) or "the input is empty"
        raise InputError(
            f"no usable rows in {plan.source}: {reasons}",
            f"see the rejected records in {tmp_rejects}" if reading.rejected else "check that the file has records",
        )
    reading.tmp_samples.replace(plan.dest / "samples.parquet")
    tmp_rejects.replace(plan.dest / "rejects.jsonl")


def record_source(plan: _Plan, reading: _Reading, seconds: float) -> IngestReport:
    """Write ``meta.json`` (last: the completion marker) and report what the ingest did."""
    rejected, chosen = reading.rejected, reading.chosen
    meta = {
        "name": plan.name,
        "source": plan.source,
        "format": chosen.name if chosen else None,
        "format_forced": plan.fmt is not None,
        "fingerprint": plan.fingerprint,
        "settings": plan.settings,
        "settings_hash": plan.settings_hash,
        "file_sizes": plan.sizes,
        "rows": reading.writer.rows,
        "records_read": reading.seen_records + sum(v for k, v in rejected.items() if k in ("truncated_record", "malformed_json")),
        "rejected": dict(sorted(rejected.items())),
        "damage": [d.__dict__ for d in reading.damage],
        "salvaged": bool(reading.damage),
        "ingested_at": now_iso(),
        "mixwise_version": __version__,
    }
    write_json(plan.dest / "meta.json", meta)
    return IngestReport(plan.name, meta["format"], reading.writer.rows, meta["rejected"], plan.fingerprint, reading.damage, False,
                        seconds, meta)


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

    The steps: :func:`resolve` (arguments, files, skip when unchanged),
    :func:`read_and_convert` (every record into temporary files),
    :func:`write_outputs` (refuse damage without salvage and empty results;
    move the files into place) and :func:`record_source` (``meta.json``, the
    completion marker). Raises InputError for unreadable input, an unknown
    format, damaged files without ``salvage``, or a source with no usable rows.
    """
    started = time.perf_counter()
    plan = resolve(source, ws, name=name, fmt=fmt, salvage=salvage, limit=limit, force=force)
    if plan.unchanged is not None:
        return plan.unchanged
    reading = read_and_convert(plan, progress)
    write_outputs(plan, reading)
    return record_source(plan, reading, time.perf_counter() - started)


__all__ = ["IngestReport", "content_hash", "default_name", "ingest", "known_formats", "row_id"]
