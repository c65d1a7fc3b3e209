"""Select a mixture from a scored table: dedup policy, components, amounts, training order.

:func:`select` is pure: a validated :class:`Spec` and a scored table in, the
selected rows (in training order, with a ``component`` column) and a record of
what happened out. Rules, in order:

1. Dedup: rows whose ``dup_kind`` is in ``dedup.drop`` and that are not the kept
   representative (``dup_keep`` when the dedup stage wrote it, else ``dup_of``
   is null) are removed before any component sees them.
2. Components are filled in spec order; a row taken by one component is not
   offered to later ones, so no row appears twice unless ``repeat`` asks.
3. ``share`` resolves against the global ``size`` (samples or tokens).
4. A component that cannot be filled raises an error saying by how much,
   unless its ``shortfall`` is ``allow`` (then the gap is recorded).
5. Each component's rows are shuffled (seeded) and the components are spread
   evenly through the final order (:func:`strategies.interleave`).

Every random choice derives from the spec seed and the component name, so
adding a component does not change what the others pick.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mixwise.errors import MixwiseError, SpecError
from mixwise.mixing import strategies as st
from mixwise.mixing.filters import TOKENS_COL, check_spec, compile_filter, with_tokens
from mixwise.mixing.spec import Amount, Component, Spec

EmbeddingLoader = Callable[[str], tuple[list[str], np.ndarray]]


@dataclass
class Selection:
    """The selected rows in training order plus per-component and dedup records."""

    samples: pl.DataFrame
    components: list[dict] = field(default_factory=list)
    dedup: dict = field(default_factory=dict)


def component_seed(seed: int, name: str) -> int:
    """A stable seed per (spec seed, component name)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\x1f{name}".encode(), digest_size=8).digest(), "little")


def resolve_amount(c: Component, size: Amount | None) -> Amount:
    """``share`` -> count or tokens of the global size; other units unchanged."""
    if c.amount.unit != "share":
        return c.amount
    assert size is not None  # parse_spec guarantees it
    value = max(1, round(c.amount.value * size.value))
    return Amount("count" if size.unit == "samples" else "tokens", value)


def dedup_mask(table: pl.DataFrame, drop: tuple[str, ...]) -> pl.Expr:
    """True for rows the dedup policy removes.

    Without the dedup stage, ``exact`` alone is still honoured: rows whose
    ``content_hash`` already occurred earlier in the table are dropped.
    """
    if "dup_kind" not in table.columns:
        return ~pl.col("content_hash").is_first_distinct() if "exact" in drop else pl.lit(False)
    if "dup_keep" in table.columns:
        kept = pl.col("dup_keep").fill_null(pl.col("dup_of").is_null() if "dup_of" in table.columns else True)
    elif "dup_of" in table.columns:
        kept = pl.col("dup_of").is_null()
    else:
        kept = pl.lit(True)
    return (pl.col("dup_kind").is_in(list(drop)) & ~kept).fill_null(False)


def _narrow(c: Component, table: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
    """Only the columns a strategy reads, for the candidate rows (never the wide text columns)."""
    cols = {"random": [], "top": [c.by], "per_cluster": ["cluster"], "diverse": ["id"]}[c.strategy]
    return table.select(cols)[rows] if cols else pl.DataFrame()


def _order(c: Component, cand: pl.DataFrame, n: int, tokens: np.ndarray, rng: np.random.Generator, amount: Amount,
           load_embeddings: EmbeddingLoader | None) -> np.ndarray:
    if c.strategy == "random":
        return st.random_order(n, rng)
    if c.strategy == "top":
        return st.top_order(cand.get_column(c.by).cast(pl.Float64).fill_null(float("nan")).to_numpy(), rng)
    if c.strategy == "per_cluster":
        return st.per_cluster_order(cand.get_column("cluster").fill_null(-1).to_numpy(), rng)
    # diverse
    if load_embeddings is None:
        raise SpecError(f"component {c.name!r}: strategy diverse needs embeddings", "run: mixwise embed")
    try:
        ids, vectors = load_embeddings(c.embed_field)
    except MixwiseError as e:
        raise SpecError(f"component {c.name!r} (strategy diverse) needs {c.embed_field} embeddings: {e.problem}", e.fix) from e
    index = pl.DataFrame({"id": ids, "_vec": np.arange(len(ids))})
    joined = cand.select("id").join(index, on="id", how="left", maintain_order="left")
    missing = joined.get_column("_vec").null_count()
    if missing:
        raise SpecError(f"component {c.name!r}: {missing} of {n} candidate rows have no {c.embed_field} embedding (stale embeddings)",
                        f"re-run: mixwise embed --field {c.embed_field}")
    vecs = vectors[joined.get_column("_vec").to_numpy()]
    if amount.unit == "tokens":
        return st.diverse_order(vecs, rng, tokens=tokens, token_budget=int(amount.value))
    return st.diverse_order(vecs, rng, k=int(amount.value))


def _mask(table: pl.DataFrame, expr: pl.Expr) -> np.ndarray:
    m = table.select(expr.alias("m")).to_series().to_numpy()
    return np.full(table.height, bool(m[0]) if len(m) else False) if len(m) != table.height else m  # a literal broadcasts


def select(spec: Spec, table: pl.DataFrame, *, load_embeddings: EmbeddingLoader | None = None) -> Selection:
    """Apply ``spec`` to a scored table; see the module docstring for the rules."""
    check_spec(spec, table)
    _check_size(spec)
    table = with_tokens(table, spec.tokenizer)
    tokens_all = table.get_column(TOKENS_COL).to_numpy()
    # `unavailable` marks rows no component may take: dropped by dedup, or taken by an earlier component.
    unavailable = np.zeros(table.height, dtype=bool)
    dedup: dict = {"drop": list(spec.dedup_drop), "dropped": {}, "dropped_total": 0}
    if spec.dedup_drop:
        unavailable = _mask(table, dedup_mask(table, spec.dedup_drop))
        if "dup_kind" in table.columns:
            kinds = table.get_column("dup_kind").filter(pl.Series(unavailable))
            dedup["dropped"] = dict(sorted(kinds.value_counts().iter_rows()))
        else:
            dedup["dropped"] = {"exact": int(unavailable.sum())} if unavailable.any() else {}
            dedup["exact_from"] = "content_hash (the dedup stage has not run)"
        dedup["dropped_total"] = int(unavailable.sum())
    picks: list[np.ndarray] = []
    records: list[dict] = []
    for c in spec.components:
        split = None
        amount = resolve_amount(c, spec.size)
        rows = np.flatnonzero(_mask(table, compile_filter(c.filter)) & ~unavailable)
        rng = np.random.default_rng(component_seed(spec.seed, c.name))
        cand_tokens = tokens_all[rows]
        if amount.unit == "repeat":
            chosen = np.concatenate([rows[rng.permutation(len(rows))] for _ in range(int(amount.value))]) if len(rows) else rows
            requested, short = len(rows) * int(amount.value), 0
        elif c.per_source is not None:
            chosen, split = _per_source(c, table, rows, int(amount.value), tokens_all, spec.seed, load_embeddings)
            requested, short = int(amount.value), max(0, int(amount.value) - len(chosen))
            chosen = chosen[rng.permutation(len(chosen))]
        else:
            order = _order(c, _narrow(c, table, rows), len(rows), cand_tokens, rng, amount, load_embeddings)
            prefix = st.take_prefix(order, amount.unit, amount.value, cand_tokens)
            chosen = rows[prefix]
            got = len(chosen) if amount.unit == "count" else int(cand_tokens[prefix].sum())
            requested, short = int(amount.value), max(0, int(amount.value) - got)
            chosen = chosen[rng.permutation(len(chosen))]  # no curriculum from the ranking
        if short and c.shortfall == "error":
            unit = "samples" if amount.unit == "count" else "tokens"
            raise SpecError(f"component {c.name!r} asks for {requested:,} {unit} but its filter leaves {requested - short:,} "
                            f"({len(rows):,} rows available after dedup and earlier components); short by {short:,}",
                            "loosen the filter, lower the amount, or allow it: shortfall: allow in the spec or mixwise mix --allow-shortfall")
        unavailable[chosen] = True
        picks.append(chosen)
        records.append({"name": c.name, "strategy": c.strategy, "requested": {c.amount.unit: c.amount.value},
                        "resolved": {amount.unit: amount.value}, "available": int(len(rows)), "selected": int(len(chosen)),
                        "tokens": int(tokens_all[chosen].sum()), "shortfall": short,
                        "shortfall_unit": "tokens" if amount.unit == "tokens" else "samples"})
        if split is not None:
            records[-1]["per_source"] = split
    _check_total(spec, records)
    comp_idx, within = st.interleave([len(p) for p in picks], np.random.default_rng(component_seed(spec.seed, "\x00interleave")))
    starts = np.cumsum([0] + [len(p) for p in picks])[:-1]
    final_rows = np.concatenate(picks)[starts[comp_idx] + within] if len(comp_idx) else np.zeros(0, dtype=np.int64)
    names = pl.Series("component", [c.name for c in spec.components], dtype=pl.String)
    samples = table[final_rows].with_columns(names.gather(comp_idx))
    return Selection(samples, records, dedup)


def _check_size(spec: Spec) -> None:
    """Explicit amounts in the size's unit must fit inside the global size."""
    if spec.size is None:
        return
    unit = "count" if spec.size.unit == "samples" else "tokens"
    total = sum(resolve_amount(c, spec.size).value for c in spec.components if resolve_amount(c, spec.size).unit == unit)
    if total > spec.size.value:
        raise SpecError(f"components ask for {total:,} {spec.size.unit} but size is {spec.size.value:,}",
                        "raise size or lower the components' amounts")


def _check_total(spec: Spec, records: list[dict]) -> None:
    if spec.size is None or spec.size.unit != "samples":
        return
    total = sum(r["selected"] for r in records)
    if total > spec.size.value:
        raise SpecError(f"the mixture has {total:,} samples but size is {spec.size.value:,} (repeat or token amounts overshoot)",
                        "raise size or lower the repeat/tokens amounts")


def source_rates(available: dict[str, int], per_source: dict) -> dict[str, float]:
    """FLAN's mixing rates: min(n, cap) (examples-proportional) or min(n, cap) ** (1 / temperature)."""
    cap = per_source.get("cap")
    capped = {s: float(min(n, cap) if cap else n) for s, n in available.items()}
    if per_source["rate"] == "temperature":
        return {s: v ** (1.0 / per_source["temperature"]) for s, v in capped.items()}
    return capped


def split_counts(available: dict[str, int], rates: dict[str, float], total: int) -> dict[str, int]:
    """Whole counts per source in proportion to ``rates``, summing to ``total`` (or to all rows when fewer).

    A source asked for more than it has gives what it has, and the rest is spread over the
    others by their rates (water-filling); remainders go to the largest fractions, ties by name.
    """
    total = min(total, sum(available.values()))
    counts = {s: 0 for s in available}
    open_ = {s for s in available if available[s] > 0 and rates[s] > 0}
    left = total
    while left > 0 and open_:
        mass = sum(rates[s] for s in open_)
        raw = {s: left * rates[s] / mass for s in sorted(open_)}
        full = {s for s in open_ if counts[s] + raw[s] >= available[s]}
        if full:  # these sources are exhausted: give them everything and spread the rest again
            for s in full:
                left -= available[s] - counts[s]
                counts[s] = available[s]
            open_ -= full
            continue
        base = {s: int(np.floor(v)) for s, v in raw.items()}
        rem = left - sum(base.values())
        for s in sorted(raw, key=lambda k: (-(raw[k] - base[k]), k))[:rem]:
            base[s] += 1
        for s, v in base.items():
            counts[s] += v
        left = 0
    return counts


def _per_source(c: Component, table: pl.DataFrame, rows: np.ndarray, total: int, tokens: np.ndarray, seed: int,
                load_embeddings: EmbeddingLoader | None) -> tuple[np.ndarray, dict]:
    """Pick ``total`` rows of a per_source component: split by FLAN rates, then the strategy within each source."""
    src = table.get_column("source").to_numpy()[rows]
    available = {s: int((src == s).sum()) for s in sorted(set(src.tolist()))}
    rates = source_rates(available, c.per_source)
    counts = split_counts(available, rates, total)
    picks = []
    for s in sorted(available):
        sub = rows[src == s]
        rng = np.random.default_rng(component_seed(seed, f"{c.name}\x1f{s}"))
        amount = Amount("count", counts[s])
        order = _order(c, _narrow(c, table, sub), len(sub), tokens[sub], rng, amount, load_embeddings)
        picks.append(sub[st.take_prefix(order, "count", counts[s], tokens[sub])])
    chosen = np.concatenate(picks) if picks else rows[:0]
    record = {**c.per_source, "available": available, "rates": {s: round(r, 6) for s, r in rates.items()}, "resolved": counts}
    return chosen, record
