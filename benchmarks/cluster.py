"""Cluster quality against source, and the speed of k-means and UMAP at scale.

Quality: the union of ../shared/data/instruct (LIMA, dolly_hhrlhf, Alpaca 5k,
GSM8K) is embedded (prompts, MiniLM) and clustered with mixwise's default k and
a few others. Reported per k: purity (share of rows in their cluster's majority
source) and adjusted mutual information (AMI) against source; and for GSM8K,
whether its math word problems land in clusters that are (almost) all GSM8K.

Speed: faiss spherical k-means (mixwise) vs scikit-learn KMeans (the peer,
n_init=1, same k and iterations) on 100k x 384 synthetic unit vectors; UMAP
(mixwise's settings) on 10k real vectors, and on 100k (fit on 20k, transform the
rest) when ``--umap-100k`` is given.

Run it: ``python benchmarks/cluster.py [--umap-100k]`` (writes benchmarks/results/cluster.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mixwise.curate.cluster import auto_k, cluster_workspace, spherical_kmeans  # noqa: E402
from mixwise.curate.cluster_map import project  # noqa: E402
from mixwise.curate.embed import embed_workspace, load_embeddings  # noqa: E402
from mixwise.curate.ingest import ingest  # noqa: E402
from mixwise.workspace import Workspace  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DATA = ROOT.parent / "shared" / "data" / "instruct"
SOURCES = {"lima": "lima_train.json", "dolly_hhrlhf": "dolly_hhrlhf_small.jsonl", "alpaca": "alpaca_5000.json",
           "gsm8k": "gsm8k_train.jsonl"}


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Share of rows whose source is their cluster's most common source."""
    total = 0
    for c in np.unique(clusters):
        _, counts = np.unique(labels[clusters == c], return_counts=True)
        total += counts.max()
    return total / len(labels)


def gsm8k_report(source: np.ndarray, clusters: np.ndarray, labels: dict[int, str]) -> dict:
    """Where GSM8K rows land: the GSM8K share of their clusters."""
    is_g = source == "gsm8k"
    share = {int(c): float(is_g[clusters == c].mean()) for c in np.unique(clusters)}
    row_share = np.array([share[int(c)] for c in clusters[is_g]])
    holding = sorted({int(c) for c in clusters[is_g]}, key=lambda c: -int((clusters[is_g] == c).sum()))
    return {
        "gsm8k_rows": int(is_g.sum()),
        "share_in_clusters_at_least_90pct_gsm8k": round(float((row_share >= 0.9).mean()), 4),
        "share_in_clusters_at_least_99pct_gsm8k": round(float((row_share >= 0.99).mean()), 4),
        "mean_gsm8k_share_of_own_cluster": round(float(row_share.mean()), 4),
        "clusters": [{"id": c, "label": labels.get(c, ""), "gsm8k_rows": int((clusters[is_g] == c).sum()),
                      "size": int((clusters == c).sum()), "gsm8k_share": round(share[c], 4)} for c in holding[:12]],
    }


def quality(ws: Workspace, ks: list[int | None]) -> dict:
    from sklearn.metrics import adjusted_mutual_info_score

    out = {}
    for k in ks:
        rep = cluster_workspace(ws, k=k, seed=0)
        table = ws.scored()
        src, cl = table["source"].to_numpy(), table["cluster"].to_numpy()
        name = f"auto (k={rep.k})" if k is None else f"k={k}"
        out[name] = {"k": rep.k, "purity": round(purity(src, cl), 4),
                     "ami_vs_source": round(float(adjusted_mutual_info_score(src, cl)), 4),
                     "gsm8k": gsm8k_report(src, cl, {c["id"]: c["label"] for c in rep.clusters}),
                     "seconds": round(rep.seconds, 2)}
        g = out[name]["gsm8k"]
        print(f"{name:14s} purity {out[name]['purity']:.3f}  AMI {out[name]['ami_vs_source']:.3f}  "
              f"GSM8K rows in >=90%-GSM8K clusters {g['share_in_clusters_at_least_90pct_gsm8k']:.1%}  "
              f"mean GSM8K share of own cluster {g['mean_gsm8k_share_of_own_cluster']:.1%}", flush=True)
    return out


def kmeans_speed(n: int, dim: int, k: int) -> dict:
    """faiss spherical k-means (mixwise) vs sklearn KMeans on the same synthetic unit vectors."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    x = centres[rng.integers(0, 200, n)] + rng.normal(scale=1.5, size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    start = time.perf_counter()
    spherical_kmeans(x, k, seed=0, niter=25)
    faiss_s = time.perf_counter() - start
    start = time.perf_counter()
    KMeans(n_clusters=k, n_init=1, max_iter=25, random_state=0, tol=0.0).fit(x)
    sk_s = time.perf_counter() - start
    print(f"k-means {n:,} x {dim}, k={k}, 25 iterations: faiss {faiss_s:.1f}s, sklearn KMeans {sk_s:.1f}s "
          f"({sk_s / faiss_s:.1f}x)", flush=True)
    return {"n": n, "dim": dim, "k": k, "faiss_s": round(faiss_s, 2), "sklearn_s": round(sk_s, 2),
            "faiss_speedup": round(sk_s / faiss_s, 2),
            "note": "faiss trains on at most 512 points per centroid (its default subsampling), then assigns every row"}


def umap_speed(vectors: np.ndarray, n: int, fit_max: int) -> dict:
    rng = np.random.default_rng(0)
    if n > len(vectors):  # jitter real vectors to reach n points
        base = vectors[rng.integers(0, len(vectors), n)]
        x = base + rng.normal(scale=0.02, size=base.shape).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    else:
        x = vectors[rng.choice(len(vectors), n, replace=False)]
    start = time.perf_counter()
    project(x, seed=0, fit_max=fit_max)
    sec = time.perf_counter() - start
    print(f"UMAP {n:,} points (fit on {min(n, fit_max):,}): {sec:.1f}s", flush=True)
    return {"n": n, "fit_on": min(n, fit_max), "seconds": round(sec, 1)}


def main(argv: list[str] | None = None) -> dict:
    """Quality on the four instruct sources, then k-means and UMAP timings; print and save."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default=str(ROOT / "benchmarks" / "out" / "cluster-ws"), help="kept between runs (embedding cache)")
    ap.add_argument("--umap-100k", action="store_true", help="also time UMAP on 100k points (fit 20k + transform 80k)")
    ap.add_argument("--kmeans-n", type=int, default=100_000)
    args = ap.parse_args(argv)
    ws = Workspace.resolve(args.workspace)
    for name, file in SOURCES.items():
        ingest(str(DATA / file), ws, name=name)
    rep = embed_workspace(ws)
    print(f"embedded {rep.rows:,} prompts ({rep.computed:,} computed, backend {rep.backend}) in {rep.seconds:.1f}s", flush=True)
    res: dict = {"rows": rep.rows, "sources": {s: int(n) for s, n in ws.samples(columns=["source"])["source"].value_counts().iter_rows()},
                 "auto_k": auto_k(rep.rows), "embed_seconds": round(rep.seconds, 1)}
    res["note"] = "2-core machine shared with other jobs (timings under contention; ratios are from one run)"
    res["quality"] = quality(ws, [None, 4, 20, 100])
    save(res)  # each phase is saved as it finishes: a crowded machine may not let the run end
    cluster_workspace(ws, seed=0)  # leave the workspace at the default
    res["kmeans"] = kmeans_speed(args.kmeans_n, 384, 50)
    save(res)
    _, vectors = load_embeddings(ws)
    project(vectors[:300], seed=0)  # numba compiles UMAP on first use: keep that out of the timings
    res["umap"] = [umap_speed(vectors, 10_000, 20_000)]
    save(res)
    if args.umap_100k:
        res["umap"].append(umap_speed(vectors, 100_000, 20_000))
        save(res)
    return res


def save(res: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cluster.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
