"""The manifest record: ``manifests/<name>/<version>/manifest.json`` (the rows stay in ``samples.parquet``).

Written by ``mixwise mix`` (:func:`mixwise.mixing.manifest.build_manifest`);
read by ``train``, ``diff``, ``manifest show``, ``manifests`` and
``attribute``. Schema 1 is the only one so far, and its bytes are fixed: the
manifest's ``version`` hashes this content (:meth:`Manifest.content_version`),
so the same inputs and spec give the same version on every release that keeps
schema 1.

A composition axis the manifest did not record is None, never an empty
count: a manifest built before ``mixwise style`` ran has no ``by_style``, and
comparing it with one that has would invent a shift from 0
(:meth:`Composition.axis` and :data:`AXIS_STAGES` say which stage records what).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mixwise.records.base import Record, local, may_be_absent

if TYPE_CHECKING:  # polars is imported where samples are read: `import mixwise.records` stays light
    import polars as pl

MANIFEST_FILE = "manifest.json"
SAMPLES_FILE = "samples.parquet"
#: Characters of the content hash that make a version.
VERSION_CHARS = 12
#: Fields left out of the version hash: they describe the build, not the mixture.
UNHASHED = ("version", "parent", "created_at", "tool")
#: Composition axis -> the stage whose columns it needs (None: always recorded).
AXIS_STAGES: dict[str, str | None] = {"source": None, "component": None, "style": "style", "cluster": "cluster",
                                      "quality": "quality"}


@dataclass(frozen=True, kw_only=True)
class Group:
    """One key of a composition axis: a source, a component, a style, a cluster id or a quality class."""

    samples: int
    """Selected rows with this key (a repeated row counts every time)."""
    tokens: int
    """Their tokens, by the manifest's ``token_estimate``."""
    label: str | None = may_be_absent(keep_null=True)
    """Clusters only, when the cluster stage wrote labels: the cluster's label (null for unclustered rows)."""


@dataclass(frozen=True, kw_only=True)
class Quantiles:
    """Summary of one length measure over the selected rows (all 0 for an empty mixture)."""

    mean: float
    """Mean, rounded to 2 decimals."""
    p10: float
    """10th percentile (nearest rank)."""
    p50: float
    """Median (nearest rank)."""
    p90: float
    """90th percentile (nearest rank)."""
    max: int
    """Largest value."""


@dataclass(frozen=True, kw_only=True)
class Histogram:
    """Counts of rows per bucket: bucket i holds values in ``[edges[i], edges[i+1])``, the last one is open-ended."""

    edges: list[int]
    """Lower bucket edges, in characters."""
    counts: list[int]
    """Rows per bucket (as many as edges)."""


@dataclass(frozen=True, kw_only=True)
class Lengths:
    """Length distributions of the selected rows."""

    prompt_chars: Quantiles
    """Characters of the first prompt."""
    response_chars: Quantiles
    """Characters of the first response."""
    n_tokens_est: Quantiles
    """Tokens per row, by the manifest's ``token_estimate``."""
    n_turns: Quantiles
    """User turns per row."""
    response_chars_histogram: Histogram
    """Response characters bucketed by ``mixwise.mixing.manifest.LENGTH_EDGES``."""


@dataclass(frozen=True, kw_only=True)
class Composition:
    """What the mixture is made of, per axis (key -> rows and tokens), and its lengths.

    ``by_style``, ``by_cluster`` and ``by_quality`` are None when the manifest
    was built before that stage ran: the axis is *not recorded*, which is not
    the same as 0 rows of every key.
    """

    by_source: dict[str, Group]
    """Per source name."""
    by_component: dict[str, Group]
    """Per component of the spec."""
    by_style: dict[str, Group] | None = may_be_absent()
    """Per style class (``(none)`` for rows the style stage did not score); None if not recorded."""
    by_cluster: dict[str, Group] | None = may_be_absent()
    """Per cluster id as a string, with labels; None if not recorded."""
    by_quality: dict[str, Group] | None = may_be_absent()
    """Per quality class (clean, refusal, truncated, refusal+truncated); None if not recorded."""
    length: Lengths
    """Length distributions."""

    def axis(self, name: str) -> dict[str, Group] | None:
        """The groups of axis ``name`` (a key of :data:`AXIS_STAGES`), or None when it was not recorded."""
        if name not in AXIS_STAGES:
            raise KeyError(f"unknown composition axis {name!r}; known: {', '.join(AXIS_STAGES)}")
        return getattr(self, f"by_{name}")

    def shares(self, name: str) -> dict[str, float] | None:
        """Share of samples per key of axis ``name`` (cluster keys carry their label), or None when not recorded."""
        groups = self.axis(name)
        if groups is None:
            return None
        total = sum(g.samples for g in groups.values()) or 1
        return {(f"{k} {g.label}" if g.label else k): g.samples / total for k, g in groups.items()}


def not_recorded_hint(axis: str) -> str:
    """What to do when ``axis`` is missing from a manifest: run its stage, then build the mixture again."""
    stage = AXIS_STAGES.get(axis)
    return f"re-run `mixwise mix` after `mixwise {stage}`" if stage else "rebuild it with `mixwise mix`"


@dataclass(frozen=True, kw_only=True)
class ComponentCount:
    """What one component of the spec asked for and got."""

    name: str
    """Component name."""
    strategy: str
    """Sampling strategy (random, top, per_cluster, diverse)."""
    requested: dict[str, int | float]
    """The amount as written in the spec: ``{unit: value}`` (count, tokens, share or repeat)."""
    resolved: dict[str, int | float]
    """The amount after resolving a share against the global size."""
    available: int
    """Rows its filter matched after dedup and earlier components."""
    selected: int
    """Rows it took."""
    tokens: int
    """Tokens of those rows."""
    shortfall: int
    """How much it fell short (0 when filled), in ``shortfall_unit``."""
    shortfall_unit: str
    """samples or tokens."""
    per_source: dict[str, Any] | None = may_be_absent()
    """A FLAN-style per-source split (``per_source:`` in the spec): rate, cap / temperature, and per source the
    rows ``available``, the ``rates`` and the ``resolved`` counts; absent for a component drawn from one pool."""


@dataclass(frozen=True, kw_only=True)
class Counts:
    """Sizes of the mixture."""

    samples: int
    """Rows in training order (repeats included)."""
    unique_samples: int
    """Distinct row ids."""
    tokens: int
    """Tokens of all rows."""
    components: list[ComponentCount]
    """Per component, in spec order."""


@dataclass(frozen=True, kw_only=True)
class DedupDecision:
    """What the spec's dedup policy removed before the components chose."""

    drop: list[str]
    """Duplicate kinds dropped (exact, near, semantic, ...)."""
    dropped: dict[str, int]
    """Rows removed per kind."""
    dropped_total: int
    """Rows removed in all."""
    exact_from: str | None = may_be_absent()
    """Set when the dedup stage had not run and exact copies were found from content hashes."""


@dataclass(frozen=True, kw_only=True)
class SourceInput:
    """One source the mixture drew on."""

    fingerprint: str
    """The source's data fingerprint (XXH3-128 of its files' names and bytes, or the hub's)."""
    rows: int
    """Rows the source had."""


@dataclass(frozen=True, kw_only=True)
class StageInput:
    """One stage whose columns were joined into the table the mixture was selected from."""

    config_hash: str | None
    """Hash of the stage's configuration."""
    fresh: bool
    """False when the stage ran on other data than the current sources (rows ingested since lack its columns)."""


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """Fingerprints of everything the selection read."""

    sources: dict[str, SourceInput]
    """Per source name."""
    stages: dict[str, StageInput]
    """Per stage name (cluster, dedup, style, quality, ...)."""


@dataclass(frozen=True, kw_only=True)
class Manifest(Record):
    """A versioned mixture: ``manifest.json``; its rows are in ``samples.parquet`` beside it (:meth:`samples`)."""

    SCHEMA_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "manifest"
    FIX: ClassVar[str] = "rebuild it from its spec with: mixwise mix SPEC.yaml"

    schema_version: int
    """1."""
    name: str
    """The mixture's name (from the spec)."""
    version: str
    """Content hash of everything but ``UNHASHED`` (12 hex characters)."""
    parent: str | None
    """The version LATEST named when this one was built (lineage), or null."""
    seed: int
    """The spec's seed."""
    spec: dict[str, Any]
    """The resolved spec, as :meth:`mixwise.mixing.spec.Spec.to_dict` writes it (docs/mixing.md documents its fields)."""
    token_estimate: str
    """How tokens were counted: ``chars/4`` or ``tokenizer NAME``."""
    inputs: Inputs
    """Fingerprints of the sources and stages read."""
    counts: Counts
    """Sizes, per component too."""
    dedup: DedupDecision
    """The dedup policy's decisions."""
    composition: Composition
    """Shares by source, component, style, cluster and quality class; lengths."""
    columns: list[str]
    """Columns of ``samples.parquet``."""
    samples_digest: str
    """Digest of the rows in order (id, content hash, component)."""
    created_at: str
    """When this version was first written (UTC, ISO 8601)."""
    tool: dict[str, str]
    """Versions of the software that built it (mixwise, polars)."""
    folder: Path | None = local()
    """The folder the manifest was read from (not written)."""

    # -- identity ---------------------------------------------------------------------------------
    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    @property
    def description(self) -> str:
        """The spec's description ('' when it has none)."""
        return str(self.spec.get("description") or "")

    def content_version(self) -> str:
        """The version this content hashes to (see the module docstring)."""
        return content_version(self.to_dict())

    # -- files ------------------------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | os.PathLike) -> Manifest:
        """Read a manifest folder (or its ``manifest.json``)."""
        path = Path(path)
        file = path if path.name == MANIFEST_FILE else path / MANIFEST_FILE
        return replace(super().read(file), folder=file.parent)

    def samples(self, columns: list[str] | None = None) -> pl.DataFrame:
        """The selected rows in training order (only ``columns`` when given)."""
        import polars as pl

        if self.folder is None:
            raise ValueError(f"manifest {self.ref} was not read from a folder; it has no samples file")
        return pl.read_parquet(self.folder / SAMPLES_FILE, columns=columns)

    def samples_path(self) -> Path:
        """Where the rows are (the folder's ``samples.parquet``)."""
        if self.folder is None:
            raise ValueError(f"manifest {self.ref} was not read from a folder; it has no samples file")
        return self.folder / SAMPLES_FILE


def content_version(content: dict) -> str:
    """The version of manifest content given as plain data: blake2b of the canonical JSON, minus UNHASHED.

    The spec's ``sources`` (machine-specific paths; the fingerprints stand for
    the data) and ``description`` (editing a comment is not a new mixture) are
    left out too.
    """
    kept = {k: v for k, v in content.items() if k not in UNHASHED}
    kept["spec"] = {k: v for k, v in kept["spec"].items() if k not in ("sources", "description")}
    blob = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()[:VERSION_CHARS]


__all__ = ["AXIS_STAGES", "ComponentCount", "Composition", "Counts", "DedupDecision", "Group", "Histogram", "Inputs",
           "Lengths", "MANIFEST_FILE", "Manifest", "Quantiles", "SAMPLES_FILE", "SourceInput", "StageInput",
           "content_version", "not_recorded_hint"]
