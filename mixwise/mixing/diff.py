"""Diff two manifests: lineage, composition deltas, membership, length shift, dedup decisions, examples.

:func:`diff_manifests` returns a plain dict (what ``mixwise diff --json``
prints); :mod:`mixwise.mixing.diff_view` renders it with rich. Composition
comes from the manifests' recorded stats; membership from the two samples
files' ``id`` columns (a set comparison: repeats count once); example prompts
are read lazily for the few rows shown.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from mixwise.errors import MixwiseError
from mixwise.mixing.manifest import Manifest, load_manifest

DIMENSIONS = (("source", "by_source"), ("component", "by_component"), ("style", "by_style"), ("cluster", "by_cluster"),
              ("quality", "by_quality"))
LENGTH_MEASURES = ("prompt_chars", "response_chars", "n_tokens_est", "n_turns")
DUP_COLS = ("dup_kind", "dup_keep")


def _summary(m: Manifest) -> dict:
    c = m.meta["counts"]
    return {"name": m.meta["name"], "version": m.meta["version"], "parent": m.meta.get("parent"),
            "created_at": m.meta.get("created_at"), "samples": c["samples"], "tokens": c["tokens"], "path": str(m.path)}


def _ancestors(m: Manifest, limit: int = 100) -> list[str]:
    """Versions up the parent chain of ``m`` (same name), nearest first."""
    out: list[str] = []
    parent = m.meta.get("parent")
    folder = m.path.parent
    while parent and len(out) < limit:
        out.append(parent)
        p = folder / parent / "manifest.json"
        if not p.is_file():
            break
        parent = json.loads(p.read_text()).get("parent")
    return out


def relation(a: Manifest, b: Manifest) -> str:
    """How B relates to A: identical, child/descendant, ancestor, siblings, or unrelated."""
    if a.meta["version"] == b.meta["version"]:
        return "identical (same version)"
    if a.meta["name"] != b.meta["name"]:
        return "different mixtures (no lineage)"
    up_b, up_a = _ancestors(b), _ancestors(a)
    if a.meta["version"] in up_b:
        n = up_b.index(a.meta["version"]) + 1
        return "B is the next version of A" if n == 1 else f"B descends from A ({n} versions later)"
    if b.meta["version"] in up_a:
        n = up_a.index(b.meta["version"]) + 1
        return "B is the previous version of A" if n == 1 else f"B is an ancestor of A ({n} versions earlier)"
    common = next((v for v in up_a if v in up_b), None)
    return f"siblings: both derive from {common}" if common else "same name, no recorded common ancestor"


def _dimension(a: dict, b: dict) -> list[dict]:
    rows = []
    ta = sum(v["samples"] for v in a.values()) or 1
    tb = sum(v["samples"] for v in b.values()) or 1
    for key in sorted(set(a) | set(b), key=lambda k: (-(b.get(k, {}).get("samples", 0) + a.get(k, {}).get("samples", 0)), k)):
        va, vb = a.get(key, {}), b.get(key, {})
        sa, sb = va.get("samples", 0), vb.get("samples", 0)
        ka, kb = va.get("tokens", 0), vb.get("tokens", 0)
        rows.append({"key": key, "label": va.get("label") or vb.get("label"), "a_samples": sa, "b_samples": sb,
                     "a_share": sa / ta, "b_share": sb / tb, "delta_samples": sb - sa, "a_tokens": ka, "b_tokens": kb,
                     "delta_tokens": kb - ka})
    return rows


def _read(m: Manifest, columns: list[str]) -> pl.DataFrame:
    present = [c for c in columns if c in m.meta.get("columns", columns)]
    return m.samples(present)


def _examples(m: Manifest, ids: pl.Series, n: int) -> list[dict]:
    if n <= 0 or ids.len() == 0:
        return []
    wanted = ids.head(n)
    rows = (pl.scan_parquet(m.path / "samples.parquet").filter(pl.col("id").is_in(wanted.implode()))
            .select("id", "source", "prompt").unique("id", keep="first").collect())
    by_id = {r["id"]: r for r in rows.iter_rows(named=True)}
    return [by_id[i] for i in wanted.to_list() if i in by_id]


def _dedup(a: Manifest, b: Manifest, da: pl.DataFrame, db: pl.DataFrame, added: pl.Series, removed: pl.Series) -> dict:
    pa, pb = a.meta.get("dedup", {}), b.meta.get("dedup", {})
    kinds = sorted(set(pa.get("dropped", {})) | set(pb.get("dropped", {})))
    out = {"a_drop": pa.get("drop", []), "b_drop": pb.get("drop", []),
           "dropped": [{"kind": k, "a": pa.get("dropped", {}).get(k, 0), "b": pb.get("dropped", {}).get(k, 0)} for k in kinds],
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


def diff_manifests(a: Manifest | str, b: Manifest | str, root: str | Path | None = None, *, examples: int = 3) -> dict:
    """Everything ``mixwise diff`` shows, as a JSON-ready dict."""
    a = load_manifest(a, root) if isinstance(a, str) else a
    b = load_manifest(b, root) if isinstance(b, str) else b
    for m in (a, b):
        if m.meta.get("schema_version") != 1:
            raise MixwiseError(f"manifest {m.path} has schema_version {m.meta.get('schema_version')!r}", "rebuild it with this mixwise: mixwise mix SPEC")
    ca, cb = a.meta["composition"], b.meta["composition"]
    comp = {dim: _dimension(ca.get(key, {}), cb.get(key, {})) for dim, key in DIMENSIONS if key in ca or key in cb}
    da = _read(a, ["id", *DUP_COLS])
    db = _read(b, ["id", *DUP_COLS])
    ia, ib = da.get_column("id").unique(maintain_order=True), db.get_column("id").unique(maintain_order=True)
    added = ib.filter(~ib.is_in(ia.implode()))
    removed = ia.filter(~ia.is_in(ib.implode()))
    kept = ib.len() - added.len()
    la, lb = ca.get("length", {}), cb.get("length", {})
    length = {m: {"a": la.get(m, {}), "b": lb.get(m, {}),
                  "delta_p50": (lb.get(m, {}).get("p50", 0) - la.get(m, {}).get("p50", 0)),
                  "delta_mean": round(lb.get(m, {}).get("mean", 0) - la.get(m, {}).get("mean", 0), 2)} for m in LENGTH_MEASURES}
    hist = {"edges": la.get("response_chars_histogram", {}).get("edges", []),
            "a": la.get("response_chars_histogram", {}).get("counts", []), "b": lb.get("response_chars_histogram", {}).get("counts", [])}
    return {
        "a": _summary(a), "b": _summary(b), "relation": relation(a, b),
        "spec_changed": {k: [a.meta["spec"].get(k), b.meta["spec"].get(k)] for k in ("seed", "size", "dedup", "components")
                         if a.meta["spec"].get(k) != b.meta["spec"].get(k)},
        "composition": comp,
        "membership": {"a_unique": ia.len(), "b_unique": ib.len(), "kept": kept, "added": added.len(), "removed": removed.len()},
        "length": length, "response_chars_histogram": hist,
        "dedup": _dedup(a, b, da, db, added, removed),
        "examples": {"added": _examples(b, added, examples), "removed": _examples(a, removed, examples)},
    }
