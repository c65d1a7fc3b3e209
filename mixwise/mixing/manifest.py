"""Manifests: build, fingerprint, store, load and list versioned mixtures.

A manifest is a self-sufficient bundle under ``<manifests>/<name>/<version>/``:

- ``manifest.json``: the :class:`mixwise.records.Manifest` record -- schema
  version, name, version, parent version, the resolved spec, input
  fingerprints (sources and stages), per-component requested / selected counts
  and tokens, dedup decisions, composition (by source, component, and -- when
  their stages ran -- style, cluster and quality class; length quantiles and
  histogram), seed, tool versions, created-at.
- ``samples.parquet``: the selected rows (sample-table columns, every scored
  column, ``component`` and ``n_tokens_est``) in training order.

``version`` is a hash of the canonical content (:meth:`Manifest.content_version`):
everything except ``version``, ``parent``, ``created_at`` and ``tool``, the
spec's ``sources`` block (machine-specific paths; the data's fingerprints stand
for it) and its ``description`` (editing a comment is not a new mixture). Same
inputs + same spec => same version and byte-identical files; an existing
version is never rewritten. ``<name>/LATEST`` names the newest build, and a new
version records the previous LATEST as its ``parent`` (lineage).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from mixwise import __version__
from mixwise.mixing import refs
from mixwise.mixing.build import EmbeddingLoader, Selection, select
from mixwise.mixing.filters import TOKEN_ESTIMATE, TOKENS_COL, with_tokens
from mixwise.mixing.spec import Spec
from mixwise.records import (ComponentCount, Composition, Counts, DedupDecision, Group, Histogram, Inputs, Lengths, Manifest,
                             Quantiles, SourceInput, StageInput)
from mixwise.records.manifest import MANIFEST_FILE, SAMPLES_FILE
from mixwise.workspace import Workspace, now_iso

SCHEMA_VERSION = Manifest.SCHEMA_VERSION
#: Histogram edges (characters) for the response-length distribution.
LENGTH_EDGES = (0, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


@dataclass
class BuildResult:
    """What :func:`build_manifest` did: the folder, the manifest and whether it was new."""

    path: Path
    manifest: Manifest
    created: bool


def _group(df: pl.DataFrame, col: str, labels: dict | None = None) -> dict[str, Group]:
    g = (df.group_by(pl.col(col).cast(pl.String).fill_null("(none)").alias("k"))
         .agg(pl.len().alias("samples"), pl.col(TOKENS_COL).sum().alias("tokens")).sort("k"))
    if labels is None:
        return {k: Group(samples=int(s), tokens=int(t)) for k, s, t in g.iter_rows()}
    return {k: Group(samples=int(s), tokens=int(t), label=labels.get(k)) for k, s, t in g.iter_rows()}


def _quantiles(s: pl.Series) -> Quantiles:
    if s.len() == 0:
        return Quantiles(mean=0.0, p10=0.0, p50=0.0, p90=0.0, max=0)
    p10, p50, p90 = (float(s.quantile(q / 100, "nearest")) for q in (10, 50, 90))
    return Quantiles(mean=round(float(s.mean()), 2), p10=p10, p50=p50, p90=p90, max=int(s.max()))


def histogram(s: pl.Series) -> list[int]:
    """Counts per LENGTH_EDGES bucket (the last bucket is open-ended)."""
    buckets = np.searchsorted(np.asarray(LENGTH_EDGES[1:]), s.to_numpy(), side="right")
    return np.bincount(buckets, minlength=len(LENGTH_EDGES)).tolist()


def quality_class() -> pl.Expr:
    """Each row's quality class from the quality stage: clean, refusal, truncated, or refusal+truncated."""
    refusal, cut = pl.col("q_refusal").fill_null(0) > 0, pl.col("q_truncated").fill_null(0) > 0
    return (pl.when(refusal & cut).then(pl.lit("refusal+truncated")).when(refusal).then(pl.lit("refusal"))
            .when(cut).then(pl.lit("truncated")).otherwise(pl.lit("clean")))


def composition(samples: pl.DataFrame) -> Composition:
    """Composition of selected rows: by source / component, and by style / cluster / quality class when those columns exist."""
    by_cluster = None
    if "cluster" in samples.columns:
        labels = None
        if "cluster_label" in samples.columns:
            labels = dict(samples.select(pl.col("cluster").cast(pl.String).fill_null("(none)"), "cluster_label")
                          .unique("cluster").iter_rows())
        by_cluster = _group(samples, "cluster", labels)
    lengths = {c: _quantiles(samples.get_column(c)) for c in ("prompt_chars", "response_chars", TOKENS_COL, "n_turns")}
    return Composition(
        by_source=_group(samples, "source"),
        by_component=_group(samples, "component"),
        # a stage that has not run leaves its axis out: unknown, not zero
        by_style=_group(samples, "style") if "style" in samples.columns else None,
        by_cluster=by_cluster,
        by_quality=_group(samples.with_columns(quality_class().alias("quality")), "quality") if "q_flags" in samples.columns else None,
        length=Lengths(**lengths, response_chars_histogram=Histogram(edges=list(LENGTH_EDGES),
                                                                     counts=histogram(samples.get_column("response_chars")))),
    )


def samples_digest(samples: pl.DataFrame) -> str:
    """Digest of the selection in order: id, content hash and component of every row."""
    h = hashlib.blake2b(digest_size=16)
    for col in ("id", "content_hash", "component"):
        h.update("\x1e".join(samples.get_column(col).cast(pl.String).fill_null("").to_list()).encode())
        h.update(b"\x1d")
    return h.hexdigest()


def inputs_record(ws: Workspace, sources: list[str]) -> Inputs:
    """Fingerprints of the sources used and of every stage whose columns were joined."""
    srcs = {}
    for n in sorted(sources):
        meta = ws.source_meta(n)
        srcs[n] = SourceInput(fingerprint=meta["fingerprint"], rows=meta["rows"])
    stages = {}
    for s in ws.stage_names():
        meta = ws.stage_meta(s) or {}
        # Not the stage's input fingerprint: it hashes ingest settings with absolute paths, which would
        # make the version machine-specific. Config + freshness + the sources' data fingerprints suffice.
        stages[s] = StageInput(config_hash=meta.get("config_hash"), fresh=meta.get("input_fingerprint") == ws.fingerprint())
    return Inputs(sources=srcs, stages=stages)


def assemble(spec: Spec, sel: Selection, inputs: Inputs) -> Manifest:
    """The manifest record with its ``version`` (``parent`` is set by :func:`store`)."""
    s = sel.samples
    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        name=spec.name,
        version="",
        parent=None,
        seed=spec.seed,
        spec=spec.to_dict(),
        token_estimate=f"tokenizer {spec.tokenizer}" if spec.tokenizer else TOKEN_ESTIMATE,
        inputs=inputs,
        counts=Counts(samples=s.height, unique_samples=s.get_column("id").n_unique(),
                      tokens=int(s.get_column(TOKENS_COL).sum() or 0),
                      components=[ComponentCount(**c) for c in sel.components]),
        dedup=DedupDecision(**sel.dedup),
        composition=composition(s),
        columns=s.columns,
        samples_digest=samples_digest(s),
        created_at=now_iso(),
        tool={"mixwise": __version__, "polars": pl.__version__},
    )
    return replace(manifest, version=manifest.content_version())


def store(manifest: Manifest, samples: pl.DataFrame, root: str | Path | None = None, *, parent: str | None = None) -> BuildResult:
    """Write the bundle unless that version exists; point LATEST at it; record the parent.

    The parent is the previous LATEST of the same name, unless ``parent`` names one
    (a study cell records its base mixture's version).
    """
    base = refs.manifests_dir(root)
    folder = base / manifest.name
    dest = folder / manifest.version
    latest_file = folder / "LATEST"
    previous = latest_file.read_text().strip() if latest_file.is_file() else None
    created = not refs.is_manifest_dir(dest)
    if created:
        lineage = parent if parent is not None else (previous if previous != manifest.version else None)
        manifest = replace(manifest, parent=lineage, created_at=now_iso())
        tmp = folder / f".{manifest.version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        samples.write_parquet(tmp / SAMPLES_FILE, statistics=False)
        manifest.write(tmp / MANIFEST_FILE)
        tmp.rename(dest)
    manifest = Manifest.read(dest)
    if previous != manifest.version:
        latest_file.write_text(manifest.version + "\n")
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
                   load_embeddings: EmbeddingLoader | None = None, parent: str | None = None) -> BuildResult:
    """Select the mixture from ``ws.scored()`` and store it as a versioned manifest."""
    if load_embeddings is None:
        from mixwise.curate.embed import load_embeddings as _load

        def load_embeddings(field: str):
            return _load(ws, field=field)

    sel = select(spec, ws.scored(), load_embeddings=load_embeddings)
    used = sorted(set(sel.samples.get_column("source").unique().to_list()) | spec.referenced_sources())
    manifest = assemble(spec, sel, inputs_record(ws, used))
    return store(manifest, sel.samples, root, parent=parent)


def store_rows(name: str, rows: pl.DataFrame, root: str | Path | None = None, *, seed: int = 0,
               description: str = "rows stored as given") -> BuildResult:
    """Store ``rows`` as they are (their order is the training order) as a manifest of one component, ``all``.

    No workspace and no selection: for tests, benchmarks and the demo's
    stand-in, which need a real manifest of given rows. Its spec says so: one
    component that takes every row; its inputs list no source fingerprints.
    """
    from mixwise.mixing.spec import parse_spec

    rows = with_tokens(rows)
    if "component" not in rows.columns:
        rows = rows.with_columns(pl.lit("all").alias("component"))
    n, tokens = rows.height, int(rows.get_column(TOKENS_COL).sum() or 0)
    spec = parse_spec({"name": name, "seed": seed, "description": description, "components": [{"name": "all", "count": n}]})
    sel = Selection(rows, [{"name": "all", "strategy": "random", "requested": {"count": n}, "resolved": {"count": n},
                            "available": n, "selected": n, "tokens": tokens, "shortfall": 0, "shortfall_unit": "samples"}],
                    {"drop": [], "dropped": {}, "dropped_total": 0})
    return store(assemble(spec, sel, Inputs(sources={}, stages={})), rows, root)


def load_manifest(ref: str, root: str | Path | None = None) -> Manifest:
    """``NAME``, ``NAME@VERSION`` or a path -> the :class:`mixwise.records.Manifest` (rows via ``.samples()``)."""
    return Manifest.read(refs.resolve_manifest(ref, root))


def list_manifests(root: str | Path | None = None) -> list[dict]:
    """Every stored version: name, version, parent, created_at, samples, tokens, latest flag."""
    base = refs.manifests_dir(root)
    out = []
    for name in refs.known_names(base):
        folder = base / name
        latest = (folder / "LATEST").read_text().strip() if (folder / "LATEST").is_file() else None
        for v in sorted(p for p in folder.iterdir() if refs.is_manifest_dir(p)):
            m = Manifest.read(v)
            out.append({"name": name, "version": m.version, "parent": m.parent, "created_at": m.created_at,
                        "samples": m.counts.samples, "tokens": m.counts.tokens, "latest": m.version == latest, "path": str(v)})
    return sorted(out, key=lambda r: (r["name"], r["created_at"], r["version"]))
