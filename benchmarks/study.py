"""Benchmark: the study fit at scale, and the runner's overhead per step.

1. ``fit``: :func:`mixwise.evaluate.mixture_fit.fit_study` with 2,000 bootstrap
   draws (items and replicates resampled, the Scheffé fit per draw) over 64
   cells x 3 replicates x 20 tasks x 500 items of synthetic per-item scores.
   Target: under 10 s on 2 cores. Repeated ``--repeat`` times after a warm-up;
   median, min and max.
2. ``overhead``: a real one-cell study (tiny-random, 20 optimizer steps, one
   small mc task) through ``mixwise ablate``; the runner's own time (building
   the base mixture, reconciling, writing the record, fingerprints) is the wall
   time of ``ablate`` minus the time inside its steps. Target: under 5% of the
   20-step training. Reported as the median over ``--repeat`` fresh studies.

    python benchmarks/study.py --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mixwise.evaluate.mixture_fit import TaskObs, fit_study  # noqa: E402


def synthetic(cells=64, replicates=3, tasks=20, items=500, seed=0):
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.ones(5), size=cells)
    beta = rng.uniform(0.3, 0.7, size=(tasks, 5))
    obs = []
    for t in range(tasks):
        item = rng.normal(0, 0.15, items)
        mu = shares @ beta[t]
        y = (np.repeat(mu, replicates)[:, None] + item + rng.normal(0, 0.01, (cells * replicates, 1))
             + rng.normal(0, 0.3, (cells * replicates, items)))
        obs.append(TaskObs(f"t{t}", (y > 0.5).astype(float), np.repeat(np.arange(cells), replicates)))
    return shares, [f"c{i}" for i in range(5)], obs


def bench_fit(repeat: int) -> dict:
    shares, comps, obs = synthetic()
    fit_study(shares, comps, obs[:2], draws=200, seed=0)  # warm-up
    times = []
    for r in range(repeat):
        t0 = time.perf_counter()
        fit = fit_study(shares, comps, obs, draws=2000, seed=r)
        times.append(time.perf_counter() - t0)
    return {"what": "fit_study, 2000 draws, 64 cells x 3 replicates x 20 tasks x 500 items", "runs": times,
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "target_s": 10,
            "models": sorted({t.model for t in fit.tasks.values()})}


def bench_overhead(repeat: int) -> dict:
    from mixwise.records.study import StudyRecord
    from mixwise.study.runner import ablate
    from tests.study_fixtures import make_study

    rows = []
    for r in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            spec = make_study(root, levels="[0.5]", replicates=1, max_steps=20,
                              recipe_overrides="{packing: false, batch_size: 1, micro_batch_size: 1, epochs: 3}")
            t0 = time.perf_counter()
            ablate(spec, workspace=root / "ws", studies=root / "studies")
            wall = time.perf_counter() - t0
            rec = StudyRecord.read(root / "studies" / "tiny" / "study.json")
            inside = sum(s.seconds or 0 for s in rec.steps)
            train = sum(s.seconds or 0 for s in rec.steps if s.kind == "train")
            rows.append({"wall_s": wall, "steps_s": inside, "train_s": train, "overhead_s": wall - inside,
                         "overhead_pct_of_training": 100 * (wall - inside) / train})
    pct = [r["overhead_pct_of_training"] for r in rows]
    return {"what": "ablate wall time minus time inside steps, one cell, tiny-random 20 steps + one mc task", "runs": rows,
            "median_pct": statistics.median(pct), "min_pct": min(pct), "max_pct": max(pct), "target_pct": 5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", choices=("fit", "overhead"))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "study.json"))
    a = ap.parse_args()
    out = {"machine": "2 cores (see README); other processes may share it"}
    if a.only in (None, "fit"):
        out["fit"] = bench_fit(a.repeat)
        f = out["fit"]
        print(f"fit: median {f['median_s']:.2f} s (min {f['min_s']:.2f}, max {f['max_s']:.2f}) over {a.repeat} runs; target < 10 s")
    if a.only in (None, "overhead"):
        out["overhead"] = bench_overhead(a.repeat)
        o = out["overhead"]
        print(f"overhead: median {o['median_pct']:.1f}% of the training (min {o['min_pct']:.1f}, max {o['max_pct']:.1f}); target < 5%")
    Path(a.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
