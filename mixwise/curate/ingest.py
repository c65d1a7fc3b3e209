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
import hashlib
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from mixwise import __version__
from mixwise.curate import hub
from mixwise.curate.formats import FORMATS, Converted, Format, Reject, detect_format, known_formats, record_id
from mixwise.curate.readers import Damage, FileReader
from mixwise.errors import InputError, did_you_mean
from mixwise.schema import SAMPLE_SCHEMA
from mixwise.workspace import Workspace, config_hash, now_iso, write_json

Progress = Callable[[int, int], None]  # (done, total) in bytes or records


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
def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()


def content_hash(system: str | None, messages: list[tuple[str, str]]) -> str:
    """Hash of the normalized conversation: identical content gives the identical hash."""
    h = hashlib.blake2b(digest_size=16)
    h.update(_norm(system or "").encode())
    for role, text in messages:
        h.update(b"\x1e" + role.encode() + b"\x1f" + _norm(text).encode())
    return h.hexdigest()


def row_id(source: str, chash: str, occurrence: int) -> str:
    """Unique, stable row key: (source, content hash, how many identical rows came before)."""
    return hashlib.blake2b(f"{source}\x1f{chash}\x1f{occurrence}".encode(), digest_size=8).hexdigest()


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
    """blake2b over the files' names and bytes."""
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        h.update(f.name.encode() + b"\x00")
        try:
            with f.open("rb") as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
        except OSError as e:
            raise InputError(f"cannot read {f}: {e.strerror}", "check the file's permissions") from e
    return h.hexdigest()


# -- the table writer ---------------------------------------------------------------------------
class _TableWriter:
    """Accumulates converted rows and writes them to Parquet in chunks."""

    def __init__(self, path: Path, source: str):
        self.path = path
        self.source = source
        self.writer: pq.ParquetWriter | None = None
        self.seen: Counter[str] = Counter()
        self.rows = 0
        self._reset()

    def _reset(self) -> None:
        self.cols: dict[str, list[Any]] = {name: [] for name in SAMPLE_SCHEMA.names}

    def add(self, source_id: str, conv: Converted) -> None:
        msgs = conv.messages
        chash = content_hash(conv.system, msgs)
        occurrence = self.seen[chash]
        self.seen[chash] = occurrence + 1
        prompt = next(t for r, t in msgs if r == "user")
        first_user = next(i for i, (r, _) in enumerate(msgs) if r == "user")
        response = next((t for r, t in msgs[first_user:] if r == "assistant"), "")
        c = self.cols
        c["id"].append(row_id(self.source, chash, occurrence))
        c["content_hash"].append(chash)
        c["source"].append(self.source)
        c["source_id"].append(source_id)
        c["prompt"].append(prompt)
        c["response"].append(response)
        c["system"].append(conv.system)
        c["messages"].append([{"role": r, "content": t} for r, t in msgs])
        c["n_turns"].append(sum(1 for r, _ in msgs if r == "user"))
        c["prompt_chars"].append(len(prompt))
        c["response_chars"].append(len(response))
        c["template"].append(conv.template)
        c["category"].append(conv.category)
        self.rows += 1

    def flush(self) -> None:
        if not self.cols["id"]:
            return
        table = pa.Table.from_pydict(self.cols, schema=SAMPLE_SCHEMA)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, SAMPLE_SCHEMA, compression="zstd")
        self.writer.write_table(table)
        self._reset()

    def close(self) -> None:
        self.flush()
        if self.writer is None:  # no rows at all: still write a valid empty table
            pq.write_table(SAMPLE_SCHEMA.empty_table(), self.path)
        else:
            self.writer.close()


# -- ingest -------------------------------------------------------------------------------------
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

    if source.startswith(hub.PREFIX):
        ref = hub.HubRef.parse(source)
        dataset = hub.load(ref)
        fingerprint = hub.fingerprint(dataset)
        inputs: list[tuple[str, Callable[[], Iterator[list[tuple[int, Any]]]], Any]] = [
            (source, lambda: hub.chunks(dataset), None)
        ]
        total = len(dataset)
        described = {"hf": {"path": ref.path, "config": ref.config, "split": ref.split}}
    else:
        files = resolve_files(source)
        fingerprint = file_fingerprint(files)
        readers = [FileReader(f) for f in files]
        # With --limit, small chunks keep the reader from parsing (and tripping over) what lies past the limit.
        size = min(20_000, limit) if limit else 20_000
        inputs = [(str(r.path), (lambda r=r: r.chunks(size)), r) for r in readers]
        total = sum(r.size() for r in readers)
        described = {"files": [str(f.resolve()) for f in files]}

    settings = {"format": fmt, "salvage": salvage, "limit": limit, **described}
    s_hash = config_hash(settings)
    dest = ws.source_dir(name)
    meta_path = dest / "meta.json"
    if not force and meta_path.is_file() and (dest / "samples.parquet").is_file():
        old = ws.source_meta(name)
        if old.get("fingerprint") == fingerprint and old.get("settings_hash") == s_hash:
            return IngestReport(name, old["format"], old["rows"], old["rejected"], fingerprint, skipped=True, meta=old)

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
    with tmp_rejects.open("wb") as rej:

        def reject(where: str, position: str, reason: str, detail: str, record: Any) -> None:
            rejected[reason] += 1
            rej.write(orjson.dumps({"reason": reason, "detail": detail, "file": where, "position": position, "record": record}, default=str) + b"\n")

        for where, make_chunks, reader in inputs:
            stem = Path(where).stem
            for chunk in make_chunks():
                if chosen is None:
                    chosen = detect_format((rec for _, rec in chunk), where)
                for pos, rec in chunk:
                    if limit is not None and seen_records >= limit:
                        break
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
                writer.flush()
                if progress is not None:
                    progress(done_bytes + (reader.bytes_read if reader else 0), total)
                if limit is not None and seen_records >= limit:
                    break
            if reader is not None:
                damage += reader.damage
                for raw in reader.raw_rejects:
                    reject(where, raw.position, raw.reason, "could not be parsed as JSON", raw.raw)
                done_bytes += reader.size()
            if limit is not None and seen_records >= limit:
                break
    writer.close()

    def discard() -> None:
        tmp_samples.unlink(missing_ok=True)

    if damage and not salvage:
        discard()
        kept = writer.rows + sum(v for k, v in rejected.items() if k not in ("truncated_record", "malformed_json"))
        raise InputError(
            f"{damage[0].describe()}; {kept} complete records were read before/around it",
            f"re-run with --salvage to keep them (the damaged part is written to {tmp_rejects})",
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
