"""Group-level diff of two manifests, for drill-down: per axis and group, which samples were added, removed, kept.

:func:`diff_groups` reads the two manifests' ``samples.parquet`` (the small
columns only; prompts and responses are read per group on demand by
:meth:`DiffGroups.members`). For each axis -- source, component, style,
cluster, quality class, response length bucket -- it gives every group's row
counts in A and B (repeats counted, like the manifests' composition) and the
unique samples added (in B, not A), removed (in A, not B) and kept (in both).

An axis a manifest does not record (style before ``mixwise style`` ran,
quality before ``mixwise quality``) is *not recorded* on that side: its counts
are ``None``, never zeros, and :attr:`AxisDiff.note` says how to record it.
Kept rows are grouped by B's value (by A's where B does not record the axis):
a row whose group changed between the builds (the stage re-ran) counts in
B's group. Removed rows can only be grouped by A's value.

The TUI (``mixwise diff A B --tui``, :mod:`mixwise.tui.diff_app`) shows this;
so can any script: ``diff_groups("a", "b").axes["style"].rows``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from mixwise.mixing.manifest import LENGTH_EDGES, load_manifest, quality_class
from mixwise.records import Manifest

AXES = ("source", "component", "style", "cluster", "quality", "length")
#: Which composition entry records an axis, and the stage that produces it.
RECORDED_BY = {"style": ("by_style", "style"), "cluster": ("by_cluster", "cluster"), "quality": ("by_quality", "quality")}
WHICH = ("added", "removed", "kept")
#: Columns shown next to each sample when a manifest has them.
DETAIL_COLUMNS = ("component", "style", "cluster", "cluster_label", "dup_kind", "q_flags", "q_refusal", "q_truncated", "response_chars")


def length_bucket() -> pl.Expr:
    """The response-length bucket of each row, named like ``256-512`` (the edges of the manifests' histogram)."""
    edges = list(LENGTH_EDGES)
    names = [f"{lo}-{hi}" for lo, hi in zip(edges, edges[1:])] + [f"{edges[-1]}+"]
    expr = pl.lit(names[-1])
    for hi, name in zip(reversed(edges[1:]), reversed(names[:-1])):
        expr = pl.when(pl.col("response_chars") < hi).then(pl.lit(name)).otherwise(expr)
    return expr


def _order_key(axis: str, key: str) -> tuple:
    if axis == "length":
        return (int(key.split("-")[0].rstrip("+")),)
    if axis == "cluster" and key.lstrip("-").isdigit():
        return (int(key),)
    return (0,)


@dataclass
class AxisDiff:
    """One axis: whether each side records it, and one row per group."""

    axis: str
    recorded_a: bool
    recorded_b: bool
    rows: list[dict] = field(default_factory=list)
    note: str = ""


def _recorded(m: Manifest, axis: str, columns: list[str]) -> bool:
    if axis not in RECORDED_BY:
        return True
    key, _stage = RECORDED_BY[axis]
    need = {"style": ["style"], "cluster": ["cluster"], "quality": ["q_refusal", "q_truncated"]}[axis]
    return m.composition.axis(key.removeprefix("by_")) is not None and all(c in columns for c in need)


def _group_expr(axis: str) -> pl.Expr:
    if axis == "quality":
        return quality_class()
    if axis == "length":
        return length_bucket()
    return pl.col(axis).cast(pl.String).fill_null("(none)")


class DiffGroups:
    """The group-level diff of manifests A and B (see the module docstring)."""

    def __init__(self, a: Manifest, b: Manifest):
        self.a, self.b = a, b
        self._cols = {side: pl.read_parquet_schema(m.samples_path()).names() for side, m in (("a", a), ("b", b))}
        self._rows = {side: self._small(side) for side in ("a", "b")}
        ia = self._rows["a"].get_column("id").unique()
        ib = self._rows["b"].get_column("id").unique()
        self.added = set(ib.filter(~ib.is_in(ia.implode())).to_list())
        self.removed = set(ia.filter(~ia.is_in(ib.implode())).to_list())
        self.kept = set(ib.filter(ib.is_in(ia.implode())).to_list())
        self.axes = {axis: self._axis(axis) for axis in AXES}

    def _manifest(self, side: str) -> Manifest:
        return self.a if side == "a" else self.b

    def _small(self, side: str) -> pl.DataFrame:
        """Every row's id plus one group column per axis this side records (``g_<axis>``)."""
        cols = self._cols[side]
        wanted = [c for c in ("id", "source", "component", "style", "cluster", "cluster_label", "q_refusal", "q_truncated",
                              "response_chars") if c in cols]
        df = pl.read_parquet(self._manifest(side).samples_path(), columns=wanted)
        exprs = [_group_expr(axis).alias(f"g_{axis}") for axis in AXES if self.records(side, axis, cols)]
        return df.with_columns(exprs)

    def records(self, side: str, axis: str, columns: list[str] | None = None) -> bool:
        """Whether manifest ``side`` ("a"/"b") records ``axis``."""
        columns = columns if columns is not None else self._cols[side]
        if axis in ("source", "component"):
            return axis in columns
        if axis == "length":
            return "response_chars" in columns
        return _recorded(self._manifest(side), axis, columns)

    def _axis(self, axis: str) -> AxisDiff:
        ra, rb = self.records("a", axis), self.records("b", axis)
        out = AxisDiff(axis, ra, rb)
        missing = [name for name, ok in (("A", ra), ("B", rb)) if not ok]
        if missing:
            stage = RECORDED_BY.get(axis, (None, axis))[1]
            out.note = (f"{axis} not recorded in {' and '.join(missing)} (built before `mixwise {stage}` ran); "
                        f"re-run `mixwise mix` after `mixwise {stage}` to record it")
        if not ra and not rb:
            return out
        g = f"g_{axis}"
        counts: dict[str, dict] = {}

        def bump(df: pl.DataFrame, name: str) -> None:
            for key, n in df.group_by(g).len().iter_rows():
                counts.setdefault(key, {})[name] = int(n)

        a_rows, b_rows = self._rows["a"], self._rows["b"]
        if ra:
            bump(a_rows, "a_samples")
            bump(a_rows.unique("id", keep="first").filter(pl.col("id").is_in(list(self.removed))), "removed")
        if rb:
            bump(b_rows, "b_samples")
            bump(b_rows.unique("id", keep="first").filter(pl.col("id").is_in(list(self.added))), "added")
        kept_side = b_rows if rb else a_rows
        bump(kept_side.unique("id", keep="first").filter(pl.col("id").is_in(list(self.kept))), "kept")
        labels = {}
        if axis == "cluster":
            for side_rows, ok in ((a_rows, ra), (b_rows, rb)):
                if ok and "cluster_label" in side_rows.columns:
                    labels.update(dict(side_rows.select(g, "cluster_label").unique(g, keep="first").iter_rows()))
        ta, tb = a_rows.height or 1, b_rows.height or 1
        for key in sorted(counts, key=lambda k: (_order_key(axis, k), -counts[k].get("b_samples", 0) - counts[k].get("a_samples", 0), k)):
            c = counts[key]
            a_n = c.get("a_samples", 0) if ra else None
            b_n = c.get("b_samples", 0) if rb else None
            out.rows.append({
                "key": key, "label": labels.get(key),
                "a_samples": a_n, "b_samples": b_n,
                "a_share": a_n / ta if a_n is not None else None, "b_share": b_n / tb if b_n is not None else None,
                "delta_samples": b_n - a_n if a_n is not None and b_n is not None else None,
                "added": c.get("added", 0) if rb else None, "removed": c.get("removed", 0) if ra else None,
                "kept": c.get("kept", 0),
            })
        return out

    def counts(self) -> dict:
        """Unique samples kept, added and removed overall."""
        return {"kept": len(self.kept), "added": len(self.added), "removed": len(self.removed)}

    def members(self, axis: str, key: str, which: str) -> pl.DataFrame | None:
        """The unique samples of group ``key`` on ``axis`` that were ``which`` (added/removed/kept), with their text.

        ``None`` when the side that holds them does not record ``axis``.
        """
        if which not in WHICH:
            raise ValueError(f"which must be one of {WHICH}, not {which!r}")
        side = "a" if which == "removed" else ("b" if which == "added" or self.records("b", axis) else "a")
        if not self.records(side, axis):
            return None
        ids = {"added": self.added, "removed": self.removed, "kept": self.kept}[which]
        rows = self._rows[side].unique("id", keep="first")
        chosen = rows.filter(pl.col(f"g_{axis}") == key, pl.col("id").is_in(list(ids))).get_column("id")
        cols = self._cols[side]
        extra = [c for c in DETAIL_COLUMNS if c in cols]
        texts = (pl.scan_parquet(self._manifest(side).samples_path())
                 .filter(pl.col("id").is_in(chosen.implode()))
                 .select("id", "source", "prompt", "response", *extra).unique("id", keep="first", maintain_order=True).collect())
        return texts


def diff_groups(a: Manifest | str, b: Manifest | str, root: str | Path | None = None) -> DiffGroups:
    """The group-level diff of two manifests (``NAME``, ``NAME@VERSION`` or folders)."""
    a = load_manifest(a, root) if isinstance(a, str) else a
    b = load_manifest(b, root) if isinstance(b, str) else b
    return DiffGroups(a, b)
