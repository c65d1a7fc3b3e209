"""Manifests: build, fingerprint, store, load and list versioned mixtures.

A manifest is a self-sufficient bundle under ``<manifests>/<name>/<version>/``:

- ``manifest.json``: schema version, name, version, parent version, the resolved
  spec, input fingerprints (sources and stages), per-component requested /
  selected counts and tokens, dedup decisions, composition (by source, style,
  cluster, component; length quantiles and histogram), seed, tool version,
  created-at.
- ``samples.parquet``: the selected rows (sample-table columns, every scored
  column, ``component`` and ``n_tokens_est``) in training order.

``version`` is a hash of the canonical content -- everything except
``version``, ``parent``, ``created_at`` and ``tool``, the spec's ``sources``
block (machine-specific paths; the data's fingerprints stand for it) and its
``description`` (editing a comment is not a new mixture). Same inputs + same spec => same version and byte-identical files; an
existing version is never rewritten. ``<name>/LATEST`` names the newest build,
and a new version records the previous LATEST as its ``parent`` (lineage).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from mixwise import __version__
from mixwise.mixing import refs
from mixwise.mixing.build import EmbeddingLoader, Selection, select
from mixwise.mixing.filters import TOKEN_ESTIMATE, TOKENS_COL
from mixwise.mixing.spec import Spec
from mixwise.workspace import Workspace, now_iso, write_json

SCHEMA_VERSION = 1
VERSION_CHARS = 12
#: Histogram edges (characters) for the response-length distribution.
LENGTH_EDGES = (0, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
UNHASHED = ("version", "parent", "created_at", "tool")


@dataclass
class BuildResult:
    """What :func:`build_manifest` did: the folder, the manifest and whether it was new."""

    path: Path
    manifest: dict
    created: bool


def _group(df: pl.DataFrame, col: str) -> dict:
    g = (df.group_by(pl.col(col).cast(pl.String).fill_null("(none)").alias("k"))
         .agg(pl.len().alias("samples"), pl.col(TOKENS_COL).sum().alias("tokens")).sort("k"))
    return {k: {"samples": int(s), "tokens": int(t)} for k, s, t in g.iter_rows()}


def _quantiles(s: pl.Series) -> dict:
    if s.len() == 0:
        return {"mean": 0.0, "p10": 0.0, "p50": 0.0, "p90": 0.0, "max": 0}
    return {"mean": round(float(s.mean()), 2), **{f"p{q}": float(s.quantile(q / 100, "nearest")) for q in (10, 50, 90)},
            "max": int(s.max())}


def histogram(s: pl.Series) -> list[int]:
    """Counts per LENGTH_EDGES bucket (the last bucket is open-ended)."""
    buckets = np.searchsorted(np.asarray(LENGTH_EDGES[1:]), s.to_numpy(), side="right")
    return np.bincount(buckets, minlength=len(LENGTH_EDGES)).tolist()


def quality_class() -> pl.Expr:
    """Each row's quality class from the quality stage: clean, refusal, truncated, or refusal+truncated."""
    refusal, cut = pl.col("q_refusal").fill_null(0) > 0, pl.col("q_truncated").fill_null(0) > 0
    return (pl.when(refusal & cut).then(pl.lit("refusal+truncated")).when(refusal).then(pl.lit("refusal"))
            .when(cut).then(pl.lit("truncated")).otherwise(pl.lit("clean")))


def composition(samples: pl.DataFrame) -> dict:
    """Composition stats of selected rows: by source/component/style/cluster/quality class, lengths, tokens."""
    out: dict = {"by_source": _group(samples, "source"), "by_component": _group(samples, "component")}
    if "style" in samples.columns:
        out["by_style"] = _group(samples, "style")
    if "cluster" in samples.columns:
        by = _group(samples, "cluster")
        if "cluster_label" in samples.columns:
            labels = dict(samples.select(pl.col("cluster").cast(pl.String).fill_null("(none)"), "cluster_label").unique("cluster").iter_rows())
            for k, v in by.items():
                v["label"] = labels.get(k)
        out["by_cluster"] = by
    if "q_flags" in samples.columns:
        out["by_quality"] = _group(samples.with_columns(quality_class().alias("quality")), "quality")
    out["length"] = {c: _quantiles(samples.get_column(c)) for c in ("prompt_chars", "response_chars", TOKENS_COL, "n_turns")}
    out["length"]["response_chars_histogram"] = {"edges": list(LENGTH_EDGES), "counts": histogram(samples.get_column("response_chars"))}
    return out


def samples_digest(samples: pl.DataFrame) -> str:
    """Digest of the selection in order: id, content hash and component of every row."""
    h = hashlib.blake2b(digest_size=16)
    for col in ("id", "content_hash", "component"):
        h.update("\x1e".join(samples.get_column(col).cast(pl.String).fill_null("").to_list()).encode())
        h.update(b"\x1d")
    return h.hexdigest()


def content_version(manifest: dict) -> str:
    """The version: hash of the canonical manifest content (see the module docstring)."""
    content = {k: v for k, v in manifest.items() if k not in UNHASHED}
    content["spec"] = {k: v for k, v in content["spec"].items() if k not in ("sources", "description")}
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()[:VERSION_CHARS]


def inputs_record(ws: Workspace, sources: list[str]) -> dict:
    """Fingerprints of the sources used and of every stage whose columns were joined."""
    srcs = {n: {"fingerprint": ws.source_meta(n)["fingerprint"], "rows": ws.source_meta(n)["rows"]} for n in sorted(sources)}
    stages = {}
    for s in ws.stage_names():
        meta = ws.stage_meta(s) or {}
        # Not the stage's input fingerprint: it hashes ingest settings with absolute paths, which would
        # make the version machine-specific. Config + freshness + the sources' data fingerprints suffice.
        stages[s] = {"config_hash": meta.get("config_hash"), "fresh": meta.get("input_fingerprint") == ws.fingerprint()}
    return {"sources": srcs, "stages": stages}


def assemble(spec: Spec, sel: Selection, inputs: dict) -> dict:
    """The manifest dict (with ``version``; ``parent`` and ``created_at`` left for :func:`store`)."""
    s = sel.samples
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": spec.name,
        "seed": spec.seed,
        "spec": spec.to_dict(),
        "token_estimate": f"tokenizer {spec.tokenizer}" if spec.tokenizer else TOKEN_ESTIMATE,
        "inputs": inputs,
        "counts": {"samples": s.height, "unique_samples": s.get_column("id").n_unique(),
                   "tokens": int(s.get_column(TOKENS_COL).sum() or 0), "components": sel.components},
        "dedup": sel.dedup,
        "composition": composition(s),
        "columns": s.columns,
        "samples_digest": samples_digest(s),
    }
    manifest["version"] = content_version(manifest)
    return manifest


def store(manifest: dict, samples: pl.DataFrame, root: str | Path | None = None) -> BuildResult:
    """Write the bundle unless that version exists; point LATEST at it; record the parent."""
    base = refs.manifests_dir(root)
    folder = base / manifest["name"]
    dest = folder / manifest["version"]
    latest_file = folder / "LATEST"
    previous = latest_file.read_text().strip() if latest_file.is_file() else None
    created = not refs.is_manifest_dir(dest)
    if created:
        manifest = {**manifest, "parent": previous if previous != manifest["version"] else None,
                    "created_at": now_iso(), "tool": {"mixwise": __version__, "polars": pl.__version__}}
        tmp = folder / f".{manifest['version']}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        samples.write_parquet(tmp / "samples.parquet", statistics=False)
        write_json(tmp / "manifest.json", manifest)
        tmp.rename(dest)
    else:
        manifest = json.loads((dest / "manifest.json").read_text())
    if previous != manifest["version"]:
        latest_file.write_text(manifest["version"] + "\n")
    return BuildResult(dest, manifest, created)


def ensure_sources(spec: Spec, ws: Workspace, *, base_dir: Path | None = None, explicit: set[str] = frozenset()) -> list[str]:
    """Ingest each ``sources:`` entry the workspace lacks (hf: ids or paths relative to the spec); returns those ingested.

    Names in ``explicit`` (given with ``--source``) are ingested even when present, so the
    workspace matches what was asked (ingest itself skips an unchanged file).
    """
    from mixwise.curate.ingest import ingest

    done = []
    have = set(ws.source_names())
    for name, where in sorted(spec.sources.items()):
        if name in have and name not in explicit:
            continue
        if not where.startswith("hf:") and base_dir is not None and not Path(where).expanduser().is_absolute():
            where = str((base_dir / where).resolve())  # paths in a spec are relative to the spec file
        if not ingest(where, ws, name=name).skipped:
            done.append(name)
    return done


def build_manifest(spec: Spec, ws: Workspace, root: str | Path | None = None, *,
                   load_embeddings: EmbeddingLoader | None = None) -> BuildResult:
    """Select the mixture from ``ws.scored()`` and store it as a versioned manifest."""
    if load_embeddings is None:
        from mixwise.curate.embed import load_embeddings as _load

        def load_embeddings(field: str):
            return _load(ws, field=field)

    sel = select(spec, ws.scored(), load_embeddings=load_embeddings)
    used = sorted(set(sel.samples.get_column("source").unique().to_list()) | spec.referenced_sources())
    manifest = assemble(spec, sel, inputs_record(ws, used))
    return store(manifest, sel.samples, root)


@dataclass
class Manifest:
    """A stored manifest: its folder and metadata; samples are read on demand."""

    path: Path
    meta: dict

    @property
    def ref(self) -> str:
        return f"{self.meta['name']}@{self.meta['version']}"

    def samples(self, columns: list[str] | None = None) -> pl.DataFrame:
        return pl.read_parquet(self.path / "samples.parquet", columns=columns)


def load_manifest(ref: str, root: str | Path | None = None) -> Manifest:
    """``NAME``, ``NAME@VERSION`` or a path -> :class:`Manifest`."""
    path = refs.resolve_manifest(ref, root)
    return Manifest(path, json.loads((path / "manifest.json").read_text()))


def list_manifests(root: str | Path | None = None) -> list[dict]:
    """Every stored version: name, version, parent, created_at, samples, tokens, latest flag."""
    base = refs.manifests_dir(root)
    out = []
    for name in refs.known_names(base):
        folder = base / name
        latest = (folder / "LATEST").read_text().strip() if (folder / "LATEST").is_file() else None
        for v in sorted(p for p in folder.iterdir() if refs.is_manifest_dir(p)):
            m = json.loads((v / "manifest.json").read_text())
            out.append({"name": name, "version": m["version"], "parent": m.get("parent"), "created_at": m.get("created_at"),
                        "samples": m["counts"]["samples"], "tokens": m["counts"]["tokens"], "latest": m["version"] == latest,
                        "path": str(v)})
    return sorted(out, key=lambda r: (r["name"], r["created_at"] or "", r["version"]))
