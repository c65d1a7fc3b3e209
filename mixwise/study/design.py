"""Study designs -> cells: the mixtures a study trains, each a child spec of the base mixture.

Pure functions: the base mixture's per-component counts (from its manifest) and
the study's :class:`~mixwise.study.spec.Vary` in, a list of :class:`CellPlan`
out. Shares become whole counts at the cell's total by largest remainder, so
every cell has exactly ``total`` samples; a component with no samples is left
out of the cell's spec. A cell's spec keeps the base's seed, so a component
drawn at a smaller count takes a prefix of the same seeded order (cells are
nested where their filters allow, which keeps their comparison about amounts,
not about which rows were drawn).

Example: ``design_cells(spec, {"assistant": 400, "instruct": 600})``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from mixwise.errors import SpecError
from mixwise.mixing.spec import Amount, Spec
from mixwise.study.spec import StudySpec


@dataclass(frozen=True)
class CellPlan:
    """One cell: its id, how it came about, its nominal shares and counts, and its mixture spec."""

    id: str
    origin: str  # base, design or proposed
    shares: dict[str, float]  # nominal share per component
    counts: dict[str, int]
    spec: Spec
    param: dict | None = None  # a swept per-source parameter ({component, cap|temperature: value})

    def label(self) -> str:
        return self.id


def largest_remainder(shares: dict[str, float], total: int) -> dict[str, int]:
    """Whole counts summing to ``total`` in proportion to ``shares`` (ties to the earlier name)."""
    names = list(shares)
    raw = np.array([shares[n] for n in names], dtype=float)
    raw = raw / raw.sum() * total if raw.sum() > 0 else raw
    base = np.floor(raw + 1e-9).astype(int)
    left = total - int(base.sum())
    order = sorted(range(len(names)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[:left]:
        base[i] += 1
    return {n: int(c) for n, c in zip(names, base)}


def _fmt(x: float) -> str:
    return f"{x:g}"


def child_spec(study: StudySpec, cell_id: str, counts: dict[str, int], param: dict | None = None) -> Spec:
    """The base spec with every component's amount set to its count (zero-count components left out)."""
    comps = []
    for c in study.base.components:
        n = counts.get(c.name, 0)
        if n <= 0:
            continue
        c2 = replace(c, amount=Amount("count", n))
        if param and param["component"] == c.name:
            ps = dict(c.per_source or {})
            ps[param["param"]] = param["value"]
            c2 = replace(c2, per_source=ps)
        comps.append(c2)
    if not comps:
        raise SpecError(f"study {study.name}: cell {cell_id!r} has no samples", "check the design's levels and bounds")
    return replace(study.base, name=f"{study.name}--{cell_id}", components=tuple(comps), size=None,
                   description=f"cell {cell_id} of study {study.name}")


def _scaled(base: dict[str, float], fixed: dict[str, float]) -> dict[str, float]:
    """Shares with ``fixed`` set and the others keeping their base proportions over what is left."""
    left = 1 - sum(fixed.values())
    rest = {k: v for k, v in base.items() if k not in fixed}
    mass = sum(rest.values())
    if left > 1e-12 and mass <= 0:
        raise SpecError(f"the components other than {sorted(fixed)} have no share in the base mixture to scale",
                        "give them samples in the base, or use a list design with explicit shares")
    out = dict(fixed)
    out.update({k: (v / mass * left if mass > 0 else 0.0) for k, v in rest.items()})
    return {k: out[k] for k in base}


def design_shares(study: StudySpec, base_shares: dict[str, float], total: int) -> list[tuple[str, dict[str, float], dict | None]]:
    """(cell id, shares, swept parameter) for every design cell (the base cell is added by :func:`design_cells`)."""
    v = study.vary
    if v.design == "leave_one_out":
        return [(f"without-{c}", _scaled(base_shares, {c: 0.0}), None) for c in v.components]
    if v.design == "sweep":
        if v.param == "share":
            return [(f"{v.component}-{_fmt(x)}", _scaled(base_shares, {v.component: x}), None) for x in v.levels]
        return [(f"{v.component}-{v.param}-{_fmt(x)}", dict(base_shares), {"component": v.component, "param": v.param, "value": x})
                for x in v.levels]
    if v.design == "list":
        return [(c["name"], {k: c["shares"].get(k, 0.0) for k in base_shares}, None) for c in v.cells]
    return _distinct_simplex(study, base_shares, total)


def simplex_draws(study: StudySpec, base_shares: dict[str, float], names: list[str], mass: float):
    """Seeded Dirichlet draws over ``names`` inside the min/max bounds, without end.

    The listed components share what they hold in the base (``mass``); the others keep their shares.
    """
    v = study.vary
    rng = np.random.default_rng(_design_seed(study.seed, "simplex"))
    lo = np.array([v.min.get(c, 0.0) for c in names]) / mass
    hi = np.array([v.max.get(c, 1.0) for c in names]) / mass
    k = 0
    while True:
        x = rng.dirichlet(np.full(len(names), v.concentration))
        if (x < lo - 1e-12).any() or (x > hi + 1e-12).any():
            continue
        shares = dict(base_shares)
        shares.update({c: float(xi * mass) for c, xi in zip(names, x)})
        yield (f"mix-{k:02d}", shares, None)
        k += 1


def _design_seed(seed: int, what: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x1f{what}".encode(), digest_size=8).digest(), "little")


def design_cells(study: StudySpec, base_counts: dict[str, int]) -> list[CellPlan]:
    """The base cell plus every design cell, at the study's total; a design cell equal to the base is the base."""
    total = study.vary.total or sum(base_counts.values())
    base_total = sum(base_counts.values())
    if base_total <= 0:
        raise SpecError(f"study {study.name}: the base mixture selected no samples", "check the base spec's filters")
    base_shares = {c.name: base_counts.get(c.name, 0) / base_total for c in study.base.components}
    base_counts_t = largest_remainder(base_shares, total)
    cells = [CellPlan("base", "base", base_shares, base_counts_t, child_spec(study, "base", base_counts_t))]
    seen = {tuple(sorted(base_counts_t.items())): "base"}
    for cid, shares, param in design_shares(study, base_shares, total):
        counts = largest_remainder(shares, total)
        key = tuple(sorted(counts.items()))
        if param is None and key in seen:
            continue  # the same mixture as an earlier cell (e.g. a sweep level equal to the base share)
        seen[key] = cid
        cells.append(CellPlan(cid, "design", shares, counts, child_spec(study, cid, counts, param), param))
    return cells


def _distinct_simplex(study: StudySpec, base_shares: dict[str, float], total: int) -> list[tuple[str, dict[str, float], None]]:
    """``cells`` simplex draws whose whole counts differ from each other and from the base (at a small total,
    nearby draws round to the same mixture, which would be trained twice)."""
    names = list(study.vary.components)
    mass = sum(base_shares[c] for c in names)
    if mass <= 0:
        raise SpecError(f"the simplex components {names} have no share in the base mixture", "list components the base gives samples to")
    seen = {tuple(sorted(largest_remainder(base_shares, total).items()))}
    out = []
    for tries, (_, shares, _) in enumerate(simplex_draws(study, base_shares, names, mass)):
        if tries > 100_000:
            raise SpecError(f"could not draw {study.vary.cells} distinct mixtures of {total} samples inside the bounds",
                            "loosen the bounds, ask for fewer cells, or raise vary.total")
        key = tuple(sorted(largest_remainder(shares, total).items()))
        if key in seen:
            continue
        seen.add(key)
        out.append((f"mix-{len(out):02d}", shares, None))
        if len(out) == study.vary.cells:
            return out
    return out
