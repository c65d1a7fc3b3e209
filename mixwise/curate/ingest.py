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
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from mixwise import __version__
from mixwise.curate import hub
from mixwise.curate.flat import SHAPES, convert_block
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
    if text.isascii():  # ASCII is already NFC; skip the costlier normalize call
        return text.replace("\r\n", "\n").strip()
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()


def content_hash(system: str | None, messages: list[tuple[str, str]]) -> str:
    """Hash of the normalized conversation: identical content gives the identical hash."""
    return _hash_normalized(_norm(system or ""), [(r, _norm(t)) for r, t in messages])


def _hash_normalized(system: str, messages: list[tuple[str, str]]) -> str:
    key = system + "".join(f"\x1e{role}\x1f{text}" for role, text in messages)
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()





def _normalize_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """Column-wise ``_norm`` of prompt/response (already stripped): CRLF -> LF, NFC for non-ASCII rows."""
    rows = rows.with_columns(pl.col("prompt", "response").str.replace_all("\r\n", "\n", literal=True))
    for col in ("prompt", "response"):
        mask = rows[col].str.contains(r"[^\x00-\x7F]")
        if mask.any():
            idx = mask.arg_true()
            fixed = [unicodedata.normalize("NFC", t).strip() for t in rows[col].gather(idx).to_list()]
            rows = rows.with_columns(rows[col].scatter(idx, pl.Series(fixed, dtype=pl.String)))
    return rows


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
        # Stored text is the normalized text (CRLF -> LF, NFC, stripped), so hashes are of what is stored.
        msgs = [(r, _norm(t)) for r, t in conv.messages]
        system = _norm(conv.system) if conv.system else None
        chash = _hash_normalized(system or "", msgs)
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
        c["system"].append(system)
        c["messages"].append([{"role": r, "content": t} for r, t in msgs])
        c["n_turns"].append(sum(1 for r, _ in msgs if r == "user"))
        c["prompt_chars"].append(len(prompt))
        c["response_chars"].append(len(response))
        c["template"].append(conv.template)
        c["category"].append(conv.category)
        self.rows += 1

    def add_frame(self, rows: pl.DataFrame, multi_stem: str | None) -> None:
        """Append a block converted column-wise by flat.py (single-turn rows, no system prompt)."""
        self.flush()
        n = rows.height
        if n == 0:
            return
        rows = _normalize_frame(rows)
        keys = rows.select(pl.concat_str([pl.lit("\x1euser\x1f"), "prompt", pl.lit("\x1eassistant\x1f"), "response"])).to_series().to_list()
        blake = hashlib.blake2b
        hashes = [blake(k.encode(), digest_size=16).hexdigest() for k in keys]
        seen, source = self.seen, self.source
        ids = []
        for chash in hashes:
            occurrence = seen[chash]
            seen[chash] = occurrence + 1
            ids.append(blake(f"{source}\x1f{chash}\x1f{occurrence}".encode(), digest_size=8).hexdigest())
        position = pl.col("index").cast(pl.String)
        if multi_stem is not None:
            position = pl.lit(f"{multi_stem}:") + position
        frame = rows.select(
            id=pl.Series(ids, dtype=pl.String),
            content_hash=pl.Series(hashes, dtype=pl.String),
            source=pl.lit(source),
            source_id=pl.coalesce(pl.col("source_id"), position),
            prompt="prompt",
            response="response",
            system=pl.lit(None, dtype=pl.String),
            n_turns=pl.lit(1, dtype=pl.Int32),
            prompt_chars=pl.col("prompt").str.len_chars().cast(pl.Int32),
            response_chars=pl.col("response").str.len_chars().cast(pl.Int32),
            template="template",
            category="category",
        )
        table = frame.to_arrow()
        prompts, responses = table.column("prompt").combine_chunks(), table.column("response").combine_chunks()
        import numpy as np

        order = np.empty(2 * n, dtype=np.int64)
        order[0::2] = np.arange(n)
        order[1::2] = np.arange(n) + n
        contents = pa.concat_arrays([prompts.cast(pa.string()), responses.cast(pa.string())]).take(pa.array(order))
        roles = pa.DictionaryArray.from_arrays(pa.array(np.tile([0, 1], n), pa.int8()), pa.array(["user", "assistant"])).cast(pa.string())
        messages = pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2), pa.int32()),
                                            pa.StructArray.from_arrays([roles, contents], names=["role", "content"]))
        cols = {name: table.column(name) for name in table.column_names}
        cols["messages"] = messages
        out = pa.Table.from_pydict({name: cols[name] for name in SAMPLE_SCHEMA.names}).cast(SAMPLE_SCHEMA)
        self._write(out)
        self.rows += n

    def _write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(
                # Uncompressed, like the datasets cache: compression tripled the write time of text columns.
                self.path, SAMPLE_SCHEMA, compression="none",
                # dictionary-encode only the low-cardinality columns; trying it on long texts costs time for nothing
                use_dictionary=["source", "template", "category", "messages.list.element.role"],
            )
        self.writer.write_table(table)

    def flush(self) -> None:
        if not self.cols["id"]:
            return
        self._write(pa.Table.from_pydict(self.cols, schema=SAMPLE_SCHEMA))
        self._reset()

    def close(self) -> None:
        self.flush()
        if self.writer is None:  # no rows at all: still write a valid empty table
            pq.write_table(SAMPLE_SCHEMA.empty_table(), self.path)
        else:
            self.writer.close()


def _fast_block(block: bytes, fmt: str, first_index: int):
    """Parse a block with Arrow and convert it column-wise; None to use the per-record path."""
    import io

    import pyarrow.json as pj

    try:
        table = pj.read_json(io.BytesIO(block))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None  # a corrupt line or mixed types: the per-record path reports it exactly
    lines: list[bytes] | None = None

    def original(i: int) -> Any:
        nonlocal lines
        if lines is None:
            lines = [ln for ln in block.splitlines() if ln.strip()]
        return orjson.loads(lines[i])

    converted = convert_block(table, fmt, first_index, original)
    return None if converted is None else (converted, table.num_rows)


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
    # The hash leaves out where the files live (the fingerprint already covers their names and bytes),
    # so the same data ingested on two machines gives the same workspace fingerprint.
    s_hash = config_hash({"format": fmt, "salvage": salvage, "limit": limit, **described.get("hf", {})})
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

        for where, make_chunks, reader in inputs:
            stem = Path(where).stem
            if reader is not None and reader.is_json_lines() and limit is None:
                # Block path: Arrow parses whole blocks; flat formats convert column-wise.
                index = 0
                for first_line, first_byte, block in reader.blocks():
                    if chosen is None:
                        head = reader.records_of_block(first_line, first_byte, block[: 1 << 20].rsplit(b"\n", 1)[0] + b"\n", 0)
                        reader.damage.clear()
                        reader.raw_rejects.clear()
                        chosen = detect_format((rec for _, rec in head[:200]), where)
                    fast = _fast_block(block, chosen.name, index) if chosen.name in SHAPES else None
                    if fast is None:
                        chunk = reader.records_of_block(first_line, first_byte, block, index)
                        convert_records(chunk, where, stem)
                        index += len(chunk)
                    else:
                        (rows, rejects), n_records = fast
                        for pos, reason, rec in rejects:
                            reject(where, f"{stem}:{pos}" if multi else str(pos), reason, "", rec)
                        writer.add_frame(rows, stem if multi else None)
                        index += n_records
                        seen_records += n_records
                    writer.flush()
                    if progress is not None:
                        progress(done_bytes + first_byte + len(block), total)
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
        raise InputError(
            f"{damage[0].describe()}; {writer.rows} rows are intact" + (f" ({len(damage)} damaged places in all)" if len(damage) > 1 else ""),
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
