"""Diff two manifests: lineage, composition deltas, membership, length shift, dedup decisions, examples.

:func:`diff_manifests` returns a plain dict (what ``mixwise diff --json``
prints); :mod:`mixwise.views.diff` renders it. Composition comes from the
manifests' recorded stats; membership from the two samples files' ``id``
columns (a set comparison: repeats count once); example prompts are read
lazily for the few rows shown.

An axis only one manifest recorded (style before ``mixwise style`` ran, ...)
is not compared: a shift from "unknown" is not a shift from 0. It is listed
under ``not_recorded`` with the side that lacks it and what to run.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mixwise.mixing.manifest import load_manifest
from mixwise.records import AXIS_STAGES, Group, Manifest, not_recorded_hint
from mixwise.records.base import dump

LENGTH_MEASURES = ("prompt_chars", "response_chars", "n_tokens_est", "n_turns")
DUP_COLS = ("dup_kind", "dup_keep")


def _summary(m: Manifest) -> dict:
    return {"name": m.name, "version": m.version, "parent": m.parent, "created_at": m.created_at,
            "samples": m.counts.samples, "tokens": m.counts.tokens, "path": str(m.folder)}


def _ancestors(m: Manifest, limit: int = 100) -> list[str]:
    """Versions up the parent chain of ``m`` (same name), nearest first."""
    out: list[str] = []
    parent = m.parent
    folder = m.folder.parent
    while parent and len(out) < limit:
        out.append(parent)
        p = folder / parent
        if not (p / "manifest.json").is_file():
            break
        parent = Manifest.read(p).parent
    return out


def relation(a: Manifest, b: Manifest) -> str:
    """How B relates to A: identical, child/descendant, ancestor, siblings, or unrelated."""
    if a.version == b.version:
        return "identical (same version)"
    if a.name != b.name:
        return "different mixtures (no lineage)"
    up_b, up_a = _ancestors(b), _ancestors(a)
    if a.version in up_b:
        n = up_b.index(a.version) + 1
        return "B is the next version of A" if n == 1 else f"B descends from A ({n} versions later)"
    if b.version in up_a:
        n = up_a.index(b.version) + 1
        return "B is the previous version of A" if n == 1 else f"B is an ancestor of A ({n} versions earlier)"
    common = next((v for v in up_a if v in up_b), None)
    return f"siblings: both derive from {common}" if common else "same name, no recorded common ancestor"


def _dimension(a: dict[str, Group], b: dict[str, Group]) -> list[dict]:
    """Rows of one axis both manifests recorded; a key one side lacks had 0 rows there."""
    none = Group(samples=0, tokens=0)
    rows = []
    ta = sum(v.samples for v in a.values()) or 1
    tb = sum(v.samples for v in b.values()) or 1
    for key in sorted(set(a) | set(b), key=lambda k: (-(b.get(k, none).samples + a.get(k, none).samples), k)):
        va, vb = a.get(key, none), b.get(key, none)
        sa, sb, ka, kb = va.samples, vb.samples, va.tokens, vb.tokens
        rows.append({"key": key, "label": va.label or vb.label or None, "a_samples": sa, "b_samples": sb,
                     "a_share": sa / ta, "b_share": sb / tb, "delta_samples": sb - sa, "a_tokens": ka, "b_tokens": kb,
                     "delta_tokens": kb - ka})
    return rows


def _read(m: Manifest, columns: list[str]) -> pl.DataFrame:
    return m.samples([c for c in columns if c in m.columns])


def _examples(m: Manifest, ids: pl.Series, n: int) -> list[dict]:
    if n <= 0 or ids.len() == 0:
        return []
    wanted = ids.head(n)
    rows = (pl.scan_parquet(m.samples_path()).filter(pl.col("id").is_in(wanted.implode()))
            .select("id", "source", "prompt").unique("id", keep="first").collect())
    by_id = {r["id"]: r for r in rows.iter_rows(named=True)}
    return [by_id[i] for i in wanted.to_list() if i in by_id]


def _dedup(a: Manifest, b: Manifest, da: pl.DataFrame, db: pl.DataFrame, added: pl.Series, removed: pl.Series) -> dict:
    pa, pb = a.dedup, b.dedup
    kinds = sorted(set(pa.dropped) | set(pb.dropped))
    out = {"a_drop": pa.drop, "b_drop": pb.drop,
           "dropped": [{"kind": k, "a": pa.dropped.get(k, 0), "b": pb.dropped.get(k, 0)} for k in kinds],
           "added_flagged": {}, "removed_flagged": {}, "changed": 0}
    if "dup_kind" in db.columns:
        flagged = db.filter(pl.col("id").is_in(added.implode()) & pl.col("dup_kind").is_not_null()).unique("id")
        out["added_flagged"] = dict(sorted(flagged.group_by("dup_kind").len().iter_rows()))
    if "dup_kind" in da.columns:
        flagged = da.filter(pl.col("id").is_in(removed.implode()) & pl.col("dup_kind").is_not_null()).unique("id")
        out["removed_flagged"] = dict(sorted(flagged.group_by("dup_kind").len().iter_rows()))
    shared = [c for c in DUP_COLS if c in da.columns and c in db.columns]
    if shared:
        both = da.unique("id").join(db.unique("id"), on="id", suffix="_b")
        changed = pl.lit(False)
        for c in shared:
            changed = changed | pl.col(c).ne_missing(pl.col(f"{c}_b"))
        out["changed"] = both.filter(changed).height
    return out


def composition_deltas(a: Manifest, b: Manifest) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """(rows per axis both recorded, {axis: {missing_in, hint}} for axes only one side recorded)."""
    comp: dict[str, list[dict]] = {}
    missing: dict[str, dict] = {}
    for axis in AXIS_STAGES:
        ga, gb = a.composition.axis(axis), b.composition.axis(axis)
        if ga is not None and gb is not None:
            comp[axis] = _dimension(ga, gb)
        elif ga is not None or gb is not None:
            missing[axis] = {"missing_in": "A" if ga is None else "B", "hint": not_recorded_hint(axis)}
    return comp, missing


def diff_manifests(a: Manifest | str, b: Manifest | str, root: str | Path | None = None, *, examples: int = 3) -> dict:
    """Everything ``mixwise diff`` shows, as a JSON-ready dict."""
    a = load_manifest(a, root) if isinstance(a, str) else a
    b = load_manifest(b, root) if isinstance(b, str) else b
    comp, not_recorded = composition_deltas(a, b)
    da = _read(a, ["id", *DUP_COLS])
    db = _read(b, ["id", *DUP_COLS])
    ia, ib = da.get_column("id").unique(maintain_order=True), db.get_column("id").unique(maintain_order=True)
    added = ib.filter(~ib.is_in(ia.implode()))
    removed = ia.filter(~ia.is_in(ib.implode()))
    kept = ib.len() - added.len()
    la, lb = a.composition.length, b.composition.length
    length = {}
    for m in LENGTH_MEASURES:
        qa, qb = getattr(la, m), getattr(lb, m)
        length[m] = {"a": dump(qa), "b": dump(qb), "delta_p50": qb.p50 - qa.p50, "delta_mean": round(qb.mean - qa.mean, 2)}
    ha, hb = la.response_chars_histogram, lb.response_chars_histogram
    return {
        "a": _summary(a), "b": _summary(b), "relation": relation(a, b),
        "spec_changed": {k: [a.spec.get(k), b.spec.get(k)] for k in ("seed", "size", "dedup", "components")
                         if a.spec.get(k) != b.spec.get(k)},
        "composition": comp,
        "not_recorded": not_recorded,
        "membership": {"a_unique": ia.len(), "b_unique": ib.len(), "kept": kept, "added": added.len(), "removed": removed.len()},
        "length": length, "response_chars_histogram": {"edges": ha.edges, "a": ha.counts, "b": hb.counts},
        "dedup": _dedup(a, b, da, db, added, removed),
        "examples": {"added": _examples(b, added, examples), "removed": _examples(a, removed, examples)},
    }
