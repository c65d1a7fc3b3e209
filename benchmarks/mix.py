"""Benchmark: building and diffing mixture manifests, against Hugging Face ``datasets`` doing the same by hand.

Targets (issue 6): a 10k-sample manifest from a 1M-row scored table in under
10 s; a diff of two 100k-sample manifests in under 2 s.

- build, mixwise: ``select`` + ``assemble`` + ``store`` on an in-memory synthetic
  1M-row scored table (three components: per_cluster by source+style, random
  with a length bound, top by a score; dedup drops exact+near), writing
  ``samples.parquet`` and ``manifest.json``.
- build, peer: the usual ``datasets`` recipe on the same table (as an Arrow
  ``Dataset``, conversion not timed): ``filter`` per component, ``shuffle(seed)``
  + ``select`` (no per-cluster or top strategy: the peer has none, so its
  per_cluster/top components are random), ``interleave_datasets`` to mix, and
  ``to_parquet``. It records no composition and no version.
- diff, mixwise: ``diff_manifests`` of two stored 100k-sample manifests.
- diff, peer: what a user does without it: load both ``samples.parquet`` with
  ``datasets``, Python sets of ids for kept/added/removed, and ``Counter`` per source.

Run: python benchmarks/mix.py  (``--rows 200000`` for a quick run). Writes
benchmarks/results/mix.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

import polars as pl

from mixwise.mixing.build import select
from mixwise.mixing.diff import diff_manifests
from mixwise.mixing.manifest import assemble, store
from mixwise.mixing.spec import parse_spec
from mixwise.records import Inputs, Manifest
from mixwise.mixing.synthetic import synthetic_scored

RESULTS = Path(__file__).resolve().parent / "results" / "mix.json"


def build_spec(name: str, size: int, seed: int) -> dict:
    return {"name": name, "seed": seed, "size": {"samples": size}, "dedup": {"drop": ["exact", "near"]}, "components": [
        {"name": "assistant", "filter": {"source": "alpha", "style": ["long_form", "concise"]}, "share": 0.5, "strategy": "per_cluster"},
        {"name": "instruct", "filter": {"source": ["beta", "gamma"], "response_chars": {"min": 100}}, "share": 0.3},
        {"name": "best", "filter": {"score": {"quality": {"min": 0.2}}}, "share": 0.2, "strategy": "top", "by": "quality"}]}


def ours_build(table: pl.DataFrame, data: dict, root: Path) -> tuple[float, Manifest]:
    started = time.perf_counter()
    spec = parse_spec(data)
    sel = select(spec, table)
    res = store(assemble(spec, sel, Inputs(sources={}, stages={})), sel.samples, root)
    return time.perf_counter() - started, res.manifest


def peer_build(ds, data: dict, out: Path) -> float:
    """The same mixture with datasets' own tools (filter, shuffle/select, interleave_datasets)."""
    from datasets import interleave_datasets

    started = time.perf_counter()
    drop = set(data["dedup"]["drop"])
    parts, weights = [], []
    size = data["size"]["samples"]
    cols = ["dup_kind", "dup_keep", "source", "style", "response_chars", "quality"]
    for i, c in enumerate(data["components"]):
        f = c["filter"]
        allowed = set(f["source"] if isinstance(f.get("source"), list) else [f["source"]]) if "source" in f else None
        styles = set(f.get("style", [])) or None
        min_chars = f.get("response_chars", {}).get("min", 0)
        min_q = f.get("score", {}).get("quality", {}).get("min", float("-inf"))

        def keep(kind, kp, src, sty, rc, q):
            return [not (k in drop and k2 is False) and (allowed is None or s in allowed) and (styles is None or st in styles)
                    and r >= min_chars and x >= min_q for k, k2, s, st, r, x in zip(kind, kp, src, sty, rc, q)]

        # One filter per component over the original table, reading only the columns it needs:
        # chained filters over an indices mapping are an order of magnitude slower in datasets.
        part = ds.filter(keep, batched=True, input_columns=cols)
        n = round(c["share"] * size)
        parts.append(part.shuffle(seed=data["seed"] + i).select(range(n)))
        weights.append(c["share"])
    mixed = interleave_datasets(parts, probabilities=weights, seed=data["seed"], stopping_strategy="all_exhausted")
    mixed.to_parquet(str(out))
    return time.perf_counter() - started


def peer_diff(a: Path, b: Path) -> float:
    from datasets import Dataset

    started = time.perf_counter()
    da = Dataset.from_parquet(str(a / "samples.parquet"))
    db = Dataset.from_parquet(str(b / "samples.parquet"))
    ia, ib = set(da["id"]), set(db["id"])
    _ = (len(ia & ib), len(ib - ia), len(ia - ib), Counter(da["source"]), Counter(db["source"]))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic scored table")
    p.add_argument("--sample", type=int, default=10_000, help="samples in the built manifest")
    p.add_argument("--diff-size", type=int, default=100_000, help="samples in each diffed manifest")
    args = p.parse_args(argv)

    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    t0 = time.perf_counter()
    table = synthetic_scored(args.rows, seed=0)
    print(f"synthetic scored table: {table.height:,} rows, {table.estimated_size() / 1e6:,.0f} MB, made in {time.perf_counter() - t0:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_s, manifest = ours_build(table, build_spec("bench", args.sample, 1), root / "m")
        ds = Dataset(table.drop("messages").to_arrow())
        peer_build_s = peer_build(ds, build_spec("bench", args.sample, 1), root / "peer.parquet")
        print(f"build {args.sample:,}-sample manifest from {args.rows:,} rows: mixwise {build_s:.2f}s "
              f"(target < 10s), datasets recipe {peer_build_s:.2f}s, ratio peer/mixwise {peer_build_s / build_s:.1f}x")

        _, a = ours_build(table, build_spec("big", args.diff_size, 1), root / "m")
        _, b = ours_build(table, build_spec("big", args.diff_size, 2), root / "m")
        pa, pb = root / "m" / "big" / a.version, root / "m" / "big" / b.version
        started = time.perf_counter()
        d = diff_manifests(str(pa), str(pb))
        diff_s = time.perf_counter() - started
        peer_diff_s = peer_diff(pa, pb)
        print(f"diff two {args.diff_size:,}-sample manifests: mixwise {diff_s:.2f}s (target < 2s; kept {d['membership']['kept']:,}, "
              f"added {d['membership']['added']:,}), datasets + Python sets {peer_diff_s:.2f}s (membership and per-source counts only), "
              f"ratio peer/mixwise {peer_diff_s / diff_s:.1f}x")
    result = {
        "rows": args.rows, "sample": args.sample, "diff_size": args.diff_size,
        "build_s": round(build_s, 3), "peer_build_s": round(peer_build_s, 3), "build_ratio": round(peer_build_s / build_s, 2),
        "diff_s": round(diff_s, 3), "peer_diff_s": round(peer_diff_s, 3), "diff_ratio": round(peer_diff_s / diff_s, 2),
        "build_target_met": build_s < 10, "diff_target_met": diff_s < 2,
        "peer": "datasets (filter, shuffle/select, interleave_datasets, to_parquet; from_parquet + Python sets for diff)",
        "machine": f"{platform.machine()} {platform.python_version()}, shared 2-core machine under contention",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return result


if __name__ == "__main__":
    main()
