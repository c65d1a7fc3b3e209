"""Near-duplicate benchmark: mixwise's numpy MinHash+LSH vs datasketch's MinHashLSH, same data, same run.

Builds a labelled set (real rows from ../shared/data/instruct and ShareGPT +
generated edits; see ``dedup_data.py``), then runs each engine in its own
subprocess (so peak memory is its own) on the same normalized texts, with the
same threshold, permutations, bands x rows and word 3-gram shingles:

- ``mixwise``: ``near_pairs`` (vectorized shingling, seeded permutations,
  banding, signature verification, prompt/response half check) + union-find.
- ``datasketch``: ``MinHash.update_batch`` per row, ``MinHashLSH`` query then
  insert, union-find over the candidates (its documented use); and
  ``datasketch+verify``: the same candidates kept only when
  ``MinHash.jaccard >= threshold`` (timed as the LSH run plus verification).

Metrics are pairwise precision / recall / F1 over "same cluster" pairs against
two truths (edited copies always belong to their original's cluster; real rows
are joined by exact shingle Jaccard, see ``dedup_data.real_clusters``):
``instruction_truth`` (pair >= 0.7 and each half >= 0.5, what mixwise's near
kind means) and ``pair_truth`` (pair >= 0.7 only, what a pair-text MinHashLSH
aims at; compare ``mixwise pair-only`` with datasketch there). Also wall time
and peak RSS (VmHWM) per engine. ``--stage`` also times the whole dedup stage
(``find_duplicates``: normalization, exact, near and key passes) on the rows.

Run: ``python benchmarks/dedup.py --rows 100000`` (about a few minutes on 2
cores); memory at scale: ``python benchmarks/dedup.py --rows 1000000 --no-peer --stage``.
Results go to benchmarks/results/dedup_<rows>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

SHINGLE, NUM_PERM, THRESHOLD, HALF = 3, 128, 0.7, 0.3
TRUTH_HALF = 0.5  # the instruction truth's own (exact-Jaccard) half threshold; independent of HALF
SEEDS = int(os.environ.get("DEDUP_BENCH_SEEDS", "1"))  # extra MinHash seeds for mixwise: how much F1 moves by chance


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    """Peak RSS of this process (VmHWM; unlike ru_maxrss it is not inherited across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _labels_from_pairs(n: int, u, v) -> np.ndarray:
    from mixwise.curate.dedup_minhash import components

    return components(n, np.asarray(u, np.int64), np.asarray(v, np.int64))


def run_mixwise(df: pl.DataFrame, bands: tuple[int, int]) -> dict:
    from mixwise.curate.dedup_minhash import near_pairs

    out = {}
    near_pairs(df["p"].head(1000), df["r"].head(1000), bands=bands)  # warm-up: imports, cached powers
    runs = [("mixwise", HALF, 0), ("mixwise pair-only", 0.0, 0)]
    runs += [(f"{name} seed {s}", half, s) for s in range(1, SEEDS) for name, half, _ in runs[:2]]
    for name, half, seed in runs:
        started = time.perf_counter()
        res = near_pairs(df["p"], df["r"], threshold=THRESHOLD, half_threshold=half, num_perm=NUM_PERM, shingle=SHINGLE, seed=seed,
                         bands=bands)
        labels = _labels_from_pairs(df.height, res.u, res.v)
        out[name] = {"labels": labels, "seconds": time.perf_counter() - started, "candidates": res.candidates}
    return out


def run_datasketch(df: pl.DataFrame, bands: tuple[int, int]) -> dict:
    from datasketch import MinHash, MinHashLSH

    from dedup_data import shingle_set

    started = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    assert (lsh.b, lsh.r) == tuple(bands), ((lsh.b, lsh.r), bands)
    hashes: dict[int, MinHash] = {}
    us, vs = [], []
    for i, (p, r) in enumerate(zip(df["p"].to_list(), df["r"].to_list())):
        shingles = [("p:" + s).encode() for s in shingle_set(p, SHINGLE)] + [("r:" + s).encode() for s in shingle_set(r, SHINGLE)]
        if not shingles:
            continue
        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch(shingles)
        for j in lsh.query(m):
            us.append(j)
            vs.append(i)
        lsh.insert(i, m)
        hashes[i] = m
    lsh_seconds = time.perf_counter() - started
    labels = _labels_from_pairs(df.height, us, vs)
    lsh_seconds = time.perf_counter() - started
    t1 = time.perf_counter()
    keep = [k for k, (a, b) in enumerate(zip(us, vs)) if hashes[a].jaccard(hashes[b]) >= THRESHOLD]
    verified = _labels_from_pairs(df.height, [us[k] for k in keep], [vs[k] for k in keep])
    verify_seconds = time.perf_counter() - t1
    return {
        "datasketch": {"labels": labels, "seconds": lsh_seconds, "candidates": len(us)},
        "datasketch+verify": {"labels": verified, "seconds": lsh_seconds + verify_seconds, "candidates": len(us)},
    }


def run_stage(df: pl.DataFrame, bands: tuple[int, int]) -> dict:
    from mixwise.curate.dedup import DedupConfig, find_duplicates

    turn = lambda role, col: pl.struct(pl.lit(role).alias("role"), pl.col(col).alias("content"))  # noqa: E731
    samples = df.select(
        pl.int_range(pl.len()).cast(pl.String).str.zfill(16).alias("id"), "source", "prompt", "response",
        pl.concat_list(turn("user", "prompt"), turn("assistant", "response")).alias("messages"),
        pl.col("response").str.len_chars().cast(pl.Int32).alias("response_chars"),
    )
    del df
    baseline = _rss_mb()
    started = time.perf_counter()
    cols, stats = find_duplicates(samples, DedupConfig(semantic="off"))
    seconds = time.perf_counter() - started
    return {"stage": {"seconds": seconds, "baseline_rss_mb": baseline, "passes": {s.kind: s.seconds for s in stats},
                      "duplicates": int(cols["dup_kind"].is_not_null().sum())}}


def _slug(name: str) -> str:
    return name.replace("+", "_").replace(" ", "_")


WORKERS = {"mixwise": run_mixwise, "datasketch": run_datasketch, "stage": run_stage}
COLUMNS = {"mixwise": ["p", "r"], "datasketch": ["p", "r"], "stage": ["source", "prompt", "response"]}


def worker(engine: str, data: Path, out: Path, bands: tuple[int, int]) -> None:
    """Subprocess body: load the data, run one engine, write labels, time and memory."""
    df = pl.read_parquet(data, columns=COLUMNS[engine])
    baseline = _rss_mb()
    results = WORKERS[engine](df, bands)
    record = {"baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(_peak_mb(), 1)}
    for name, res in results.items():
        if "labels" in res:
            np.save(out.parent / f"{out.stem}_{_slug(name)}.npy", res.pop("labels"))
        record[name] = res
    out.write_text(json.dumps(record))


def pair_scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Pairwise precision / recall / F1 of a clustering against the true clusters."""
    t = pl.DataFrame({"p": pred, "t": truth})

    def pairs(counts: pl.Series) -> int:
        c = counts.cast(pl.Int64).to_numpy()
        return int((c * (c - 1) // 2).sum())

    cells = t.group_by("p", "t").len()
    tp = pairs(cells["len"])
    # B-cubed: per-row precision/recall of its predicted vs true cluster, averaged over rows. Unlike pair
    # counts it is not dominated by the largest cluster (one giant merge swings pairwise scores a lot).
    sizes = cells.join(t.group_by("p").len().rename({"len": "np"}), on="p").join(t.group_by("t").len().rename({"len": "nt"}), on="t")
    n = len(pred)
    b3p = float((sizes["len"].cast(pl.Float64) ** 2 / sizes["np"]).sum()) / n
    b3r = float((sizes["len"].cast(pl.Float64) ** 2 / sizes["nt"]).sum()) / n
    predicted, actual = pairs(t.group_by("p").len()["len"]), pairs(t.group_by("t").len()["len"])
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "bcubed_precision": round(b3p, 4), "bcubed_recall": round(b3r, 4), "bcubed_f1": round(2 * b3p * b3r / (b3p + b3r), 4),
            "true_pairs": actual,
            "predicted_pairs": predicted, "rows_flagged": int((t.group_by("p").len().filter(pl.col("len") > 1)["len"].sum() or 0))}


def edit_recall(pred: np.ndarray, df: pl.DataFrame) -> dict:
    """Per edit type: the share of edited copies predicted in the same group as their original."""
    t = df.select("edit", "orig").with_columns(pred=pl.Series(pred))
    real = t.filter(pl.col("edit") == "real").select("orig", pl.col("pred").alias("orig_pred"))
    hit = t.filter(pl.col("edit") != "real").join(real, on="orig").group_by("edit").agg((pl.col("pred") == pl.col("orig_pred")).mean())
    return {k: round(v, 4) for k, v in sorted(hit.iter_rows())}


def _spawn(engine: str, data: Path, tmp: Path, bands: tuple[int, int]) -> dict:
    out = tmp / f"{engine}.json"
    cmd = [sys.executable, __file__, "--worker", engine, "--data", str(data), "--out", str(out), "--bands", f"{bands[0]},{bands[1]}"]
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> dict:
    """Build the labelled set, run every engine in its own process, print and save the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-peer", action="store_true", help="Skip datasketch (it takes long at 1M rows).")
    ap.add_argument("--stage", action="store_true", help="Also time the whole dedup stage (find_duplicates).")
    ap.add_argument("--seeds", type=int, default=1, help="Also run mixwise with MinHash seeds 1..N-1 (seed noise).")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--bands", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "build":
        from dedup_data import build

        rows, seed = (int(x) for x in args.bands.split(","))
        build(rows, seed=seed, threshold=THRESHOLD, half=TRUTH_HALF).write_parquet(args.data)
        Path(args.out).write_text(json.dumps({"peak_rss_mb": round(_peak_mb(), 1)}))
        return {}
    if args.worker:
        worker(args.worker, Path(args.data), Path(args.out), tuple(int(x) for x in args.bands.split(",")))
        return {}

    from mixwise.curate.dedup_minhash import optimal_bands

    os.environ["DEDUP_BENCH_SEEDS"] = str(args.seeds)
    bands = optimal_bands(THRESHOLD, NUM_PERM)
    tmp_dir = tempfile.TemporaryDirectory()
    tmp = Path(tmp_dir.name)
    data = tmp / "data.parquet"
    t0 = time.perf_counter()
    # Built in a subprocess too, so this process never holds the text (it matters at 1M rows).
    subprocess.run([sys.executable, __file__, "--worker", "build", "--data", str(data), "--out", str(tmp / "build.json"),
                    "--bands", f"{args.rows},{args.seed}"], check=True)
    build_seconds = time.perf_counter() - t0
    build_peak = json.loads((tmp / "build.json").read_text())["peak_rss_mb"]
    df = pl.read_parquet(data, columns=["edit", "orig", "cluster_pair", "cluster_instruction"])
    print(f"built {df.height:,} rows in {build_seconds:.0f}s: "
          + ", ".join(f"{k} {v:,}" for k, v in df.group_by("edit").len().sort("edit").iter_rows()), flush=True)
    engines = ["mixwise"] + ([] if args.no_peer else ["datasketch"]) + (["stage"] if args.stage else [])
    results: dict = {"rows": df.height, "threshold": THRESHOLD, "num_perm": NUM_PERM, "bands": bands[0], "band_rows": bands[1],
                     "shingle": SHINGLE, "half_threshold": HALF, "truth_half_threshold": TRUTH_HALF, "cpus": os.cpu_count(), "build_seconds": round(build_seconds, 1),
                     "build_peak_rss_mb": build_peak,
                     "edits": dict(df.group_by("edit").len().iter_rows()), "engines": {}}
    truth_instr, truth_pair = df["cluster_instruction"].to_numpy(), df["cluster_pair"].to_numpy()
    with tmp_dir:
        for engine in engines:
            rec = _spawn(engine, data, tmp, bands)
            for name, res in rec.items():
                if not isinstance(res, dict):
                    continue
                labels_file = tmp / f"{engine}_{_slug(name)}.npy"
                entry = {"seconds": round(res["seconds"], 2), "peak_rss_mb": rec["peak_rss_mb"],
                         "peak_over_baseline_mb": round(rec["peak_rss_mb"] - rec["baseline_rss_mb"], 1),
                         **{k: v for k, v in res.items() if k not in ("seconds",)}}
                if labels_file.is_file():
                    pred = np.load(labels_file)
                    entry["instruction_truth"] = pair_scores(pred, truth_instr)
                    entry["pair_truth"] = pair_scores(pred, truth_pair)
                    entry["edit_recall"] = edit_recall(pred, df)
                results["engines"][name] = entry
                scores = "".join(f"  [{t.split('_')[0]}] pairs P {entry[t]['precision']:.3f} R {entry[t]['recall']:.3f} "
                                 f"F1 {entry[t]['f1']:.3f}, B3 F1 {entry[t]['bcubed_f1']:.4f}"
                                 for t in ("instruction_truth", "pair_truth") if t in entry)
                print(f"{name:>18}: {entry['seconds']:8.1f}s  peak RSS {entry['peak_rss_mb']:7.0f} MB{scores}", flush=True)
                if "edit_recall" in entry:
                    print(" " * 20 + "edit recall: " + ", ".join(f"{k} {v:.3f}" for k, v in entry["edit_recall"].items()), flush=True)
    eng = results["engines"]
    if "datasketch" in eng:
        results["speedup_vs_datasketch"] = round(eng["datasketch"]["seconds"] / eng["mixwise"]["seconds"], 2)
        results["memory_ratio_vs_datasketch"] = round(eng["mixwise"]["peak_rss_mb"] / eng["datasketch"]["peak_rss_mb"], 2)
        f1 = {t: {k: eng[k][t]["f1"] for k in eng if t in eng[k]} for t in ("instruction_truth", "pair_truth")}
        results["f1"] = f1
        results["bcubed_f1"] = {t: {k: eng[k][t]["bcubed_f1"] for k in eng if t in eng[k]} for t in ("instruction_truth", "pair_truth")}
        print(f"mixwise vs datasketch: {results['speedup_vs_datasketch']}x faster, peak memory x{results['memory_ratio_vs_datasketch']}; "
              f"F1 (instruction truth) {f1['instruction_truth']['mixwise']:.3f} vs {f1['instruction_truth']['datasketch']:.3f}; "
              f"F1 (pair truth) pair-only {f1['pair_truth']['mixwise pair-only']:.3f} vs {f1['pair_truth']['datasketch']:.3f}")
    out = HERE / "results" / f"dedup_{results['rows']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
