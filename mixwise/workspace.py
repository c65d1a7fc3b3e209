"""The workspace: one directory that holds all of mixwise's state.

Resolution order: an explicit path (``--workspace``), then ``$MIXWISE_HOME``,
then ``./.mixwise``. Layout::

    <workspace>/
      sources/<name>/samples.parquet   canonical rows of one source (ingest)
      sources/<name>/rejects.jsonl     rejected records with their reason
      sources/<name>/meta.json         format, fingerprint, settings, counts
      stages/<stage>/columns.parquet   `id` + the columns one stage adds
      stages/<stage>/meta.json         that stage's config and input fingerprint
      cache/                           caches keyed by content (embeddings, judge calls)

Stages never rewrite the sample table; :meth:`Workspace.scored` joins the
sample table with every stage's columns on ``id``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:  # polars is imported where it is used: `import mixwise.workspace` stays light
    import polars as pl

from mixwise.errors import MixwiseError, did_you_mean

ENV_VAR = "MIXWISE_HOME"
DEFAULT_DIRNAME = ".mixwise"


def now_iso() -> str:
    """Current UTC time as an ISO-8601 string (second precision)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename) so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    tmp.replace(path)


def config_hash(config: Any) -> str:
    """Stable short hash of a JSON-serialisable config."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Workspace:
    """A mixwise workspace rooted at ``root``."""

    root: Path

    @classmethod
    def resolve(cls, path: str | os.PathLike | None = None) -> "Workspace":
        """Workspace from an explicit path, ``$MIXWISE_HOME`` or ``./.mixwise``."""
        chosen = path or os.environ.get(ENV_VAR) or DEFAULT_DIRNAME
        return cls(Path(chosen).expanduser().resolve())

    # -- paths ---------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        """A path inside the workspace (not created)."""
        return self.root.joinpath(*parts)

    def source_dir(self, name: str) -> Path:
        return self.path("sources", name)

    def stage_dir(self, stage: str) -> Path:
        return self.path("stages", stage)

    def cache_dir(self, kind: str) -> Path:
        d = self.path("cache", kind)
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -- sources -------------------------------------------------------------
    def source_names(self) -> list[str]:
        """Names of ingested sources (those with a completed ingest)."""
        base = self.path("sources")
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "meta.json").is_file() and (p / "samples.parquet").is_file())

    def source_meta(self, name: str) -> dict:
        """The ingest record of one source; unknown names get a did-you-mean."""
        meta = self.source_dir(name) / "meta.json"
        if not meta.is_file():
            raise MixwiseError(f"unknown source {name!r} in workspace {self.root}", did_you_mean(name, self.source_names()))
        return json.loads(meta.read_text())

    def sources(self) -> list[dict]:
        """Ingest records of all sources, sorted by name."""
        return [self.source_meta(n) for n in self.source_names()]

    def scan_samples(self, sources: list[str] | None = None) -> pl.LazyFrame:
        """Lazy union of the sample tables of all (or the given) sources."""
        import polars as pl

        names = self.source_names()
        if not names:
            raise MixwiseError(
                f"no sources in workspace {self.root}",
                "ingest one first: mixwise ingest data.jsonl (or set --workspace / MIXWISE_HOME)",
            )
        for s in sources or []:
            if s not in names:
                raise MixwiseError(f"unknown source {s!r}", did_you_mean(s, names))
        chosen = sources or names
        return pl.concat([pl.scan_parquet(self.source_dir(n) / "samples.parquet") for n in chosen], how="vertical")

    def samples(self, sources: list[str] | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """The sample table (all sources, in name order), optionally only some columns."""
        lf = self.scan_samples(sources)
        if columns:
            lf = lf.select(columns)
        return lf.collect()

    def fingerprint(self) -> str:
        """Fingerprint of the whole sample table: the sources' names and fingerprints."""
        parts = [(m["name"], m["fingerprint"], m.get("settings_hash", "")) for m in self.sources()]
        return config_hash(parts)

    # -- stage columns -------------------------------------------------------
    def stage_names(self) -> list[str]:
        base = self.path("stages")
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "meta.json").is_file() and (p / "columns.parquet").is_file())

    def write_columns(self, stage: str, columns: pl.DataFrame, config: dict, **extra: Any) -> Path:
        """Store the columns one stage adds (``id`` + new columns) with its config.

        The meta file is written last: it is the completion marker, so an
        interrupted stage is simply re-run.
        """
        if "id" not in columns.columns:
            raise ValueError(f"stage {stage!r} columns must include 'id'")
        d = self.stage_dir(stage)
        d.mkdir(parents=True, exist_ok=True)
        (d / "meta.json").unlink(missing_ok=True)
        columns.write_parquet(d / "columns.parquet")
        meta = {
            "stage": stage,
            "config": config,
            "config_hash": config_hash(config),
            "input_fingerprint": self.fingerprint(),
            "rows": columns.height,
            "columns": [c for c in columns.columns if c != "id"],
            "created_at": now_iso(),
            **extra,
        }
        write_json(d / "meta.json", meta)
        return d

    def stage_meta(self, stage: str) -> dict | None:
        p = self.stage_dir(stage) / "meta.json"
        return json.loads(p.read_text()) if p.is_file() else None

    def stage_is_fresh(self, stage: str, config: dict) -> bool:
        """True when a stage finished with this config on the current sample table."""
        meta = self.stage_meta(stage)
        return bool(meta) and meta["config_hash"] == config_hash(config) and meta["input_fingerprint"] == self.fingerprint()

    def read_columns(self, stage: str) -> pl.DataFrame | None:
        """One stage's columns, or None if it has not run."""
        import polars as pl

        if self.stage_meta(stage) is None:
            return None
        return pl.read_parquet(self.stage_dir(stage) / "columns.parquet")

    def scored(self, sources: list[str] | None = None) -> pl.DataFrame:
        """The sample table joined with every stage's columns (left join on ``id``)."""
        table = self.samples(sources)
        for stage in self.stage_names():
            cols = self.read_columns(stage)
            if cols is None:
                continue
            clash = (set(cols.columns) - {"id"}) & set(table.columns)
            if clash:
                raise MixwiseError(f"stage {stage!r} writes columns that already exist: {sorted(clash)}", "rename them in that stage")
            table = table.join(cols, on="id", how="left", maintain_order="left")
        return table
