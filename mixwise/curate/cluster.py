"""Topic clusters: seeded spherical k-means over the sample embeddings, with labels.

``cluster_workspace(ws)`` reads the stored embeddings (``mixwise embed``), runs
faiss spherical k-means (cosine; deterministic for a fixed seed), numbers the
clusters by size (0 = largest), labels each with keyphrases chosen in the
embedding space (:mod:`mixwise.curate.labels`) and keeps its representatives:
the samples nearest the centroid (the first three as ``central_prompts``). It writes the stage columns ``cluster`` (Int32) and
``cluster_label`` (String), plus ``clusters.json`` and ``centroids.npy``.

Automatic k (``k=None``): ``round(sqrt(n / 2))``, clipped to [2, 50]. The
square-root rule grows the number of clusters and their size together (each
holds about ``sqrt(2n)`` rows), so clusters stay both specific and big enough
to read; the cap of 50 keeps the cluster table something a person reads in one
screen. ``benchmarks/cluster.py`` reports purity/AMI against source for this
and neighbouring k. Pass ``k`` for finer or coarser topics.

Run it: ``mixwise cluster`` then ``mixwise clusters``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from mixwise.curate.embed import default_model, embeddings_meta, load_embeddings
from mixwise.curate.labels import LABEL_METHOD, cached_embedder, central_prompts, keyphrase_labels, label_from_keywords, llm_names
from mixwise.errors import MixwiseError
from mixwise.workspace import Workspace, write_json

STAGE = "cluster"
MAX_AUTO_K = 50


def auto_k(n: int) -> int:
    """The default number of clusters for ``n`` rows: ``round(sqrt(n/2))`` clipped to [2, 50] (and <= n)."""
    return max(1, min(n, max(2, min(MAX_AUTO_K, round(math.sqrt(n / 2))))))


def spherical_kmeans(vectors: np.ndarray, k: int, *, seed: int = 0, niter: int = 25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(assign, centroids, similarity)``: faiss spherical k-means, clusters renumbered by size (0 = largest)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if not 1 <= k <= len(x):
        raise MixwiseError(f"cannot make {k} clusters from {len(x)} rows", f"pass --k between 1 and {len(x)}")
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True, nredo=1, verbose=False, max_points_per_centroid=512)
    km.train(x)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(km.centroids)
    sim, assign = index.search(x, 1)
    assign, sim = assign[:, 0], sim[:, 0]
    # Renumber by size (ties: by the first row that joined) so ids are stable and 0 is the largest.
    sizes = np.bincount(assign, minlength=k)
    first = np.full(k, len(x))
    np.minimum.at(first, assign, np.arange(len(x)))
    order = np.lexsort((first, -sizes))
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return remap[assign].astype(np.int32), km.centroids[order], sim


def representatives(assign: np.ndarray, sim: np.ndarray, k: int, n: int = 5) -> list[np.ndarray]:
    """Row indices of each cluster's ``n`` samples nearest its centroid, nearest first."""
    order = np.lexsort((-sim, assign))
    bounds = np.searchsorted(assign[order], np.arange(k + 1))
    return [order[bounds[c] : bounds[c + 1]][:n] for c in range(k)]


@dataclass
class ClusterReport:
    """What one clustering run produced."""

    k: int
    rows: int
    clusters: list[dict]
    seconds: float
    skipped: bool = False


def cluster_workspace(
    ws: Workspace, *, k: int | None = None, seed: int = 0, field: str = "prompt", model: str | None = None,
    n_representatives: int = 5, llm: dict | None = None, force: bool = False,
) -> ClusterReport:
    """Cluster the stored embeddings and write the ``cluster`` stage (skipped when already fresh)."""
    started = time.perf_counter()
    ids, vectors = load_embeddings(ws, field=field, model=model)
    k_used = k if k is not None else auto_k(len(ids))
    emb = embeddings_meta(ws, field=field, model=model) or {}
    config = {"k": k_used, "seed": seed, "field": field, "embeddings": emb.get("config_hash"), "backend": emb.get("backend"),
              "n_representatives": n_representatives, "llm": {key: v for key, v in (llm or {}).items() if key != "api_key"},
              "labels": LABEL_METHOD}
    if not force and ws.stage_is_fresh(STAGE, config) and (ws.stage_dir(STAGE) / "clusters.json").is_file():
        return ClusterReport(k_used, len(ids), read_clusters(ws), time.perf_counter() - started, skipped=True)

    assign, centroids, sim = spherical_kmeans(vectors, k_used, seed=seed)
    df = ws.samples(columns=["id", "prompt", "response"])
    if df["id"].to_list() != ids:
        raise MixwiseError("embeddings are not aligned with the sample table", f"run: mixwise embed --field {field} --force")
    prompts = df["prompt"].to_list()
    # Keyphrases from the prompts, embedded with the model (and precision) of the clustered vectors, via its cache.
    embed = cached_embedder(emb.get("model") or default_model(), emb.get("backend") or "exact", ws.cache_dir("embeddings"))
    keywords = keyphrase_labels(prompts, assign, centroids, embed)
    reps = representatives(assign, sim, k_used, max(n_representatives, 3))
    sizes = np.bincount(assign, minlength=k_used)
    clusters = [{"id": c, "label": label_from_keywords(keywords[c]), "keywords": keywords[c], "size": int(sizes[c]),
                 "representatives": [ids[i] for i in reps[c][:n_representatives]],
                 "representative_prompts": [prompts[i][:500] for i in reps[c][:n_representatives]],
                 "central_prompts": central_prompts(prompts, reps[c]),
                 "cohesion": float(sim[assign == c].mean()) if sizes[c] else 0.0} for c in range(k_used)]
    if llm:
        names = llm_names(clusters, model=llm["model"], base_url=llm.get("base_url"), cache_dir=ws.cache_dir("cluster_names"),
                          api_key=llm.get("api_key"))
        for c, name in zip(clusters, names):
            c["keyword_label"], c["label"] = c["label"], name
    stage = ws.stage_dir(STAGE)
    stage.mkdir(parents=True, exist_ok=True)
    write_json(stage / "clusters.json", clusters)
    np.save(stage / "centroids.npy", centroids)
    labels = [c["label"] for c in clusters]
    columns = pl.DataFrame({"id": ids, "cluster": assign, "cluster_label": [labels[a] for a in assign]},
                           schema={"id": pl.String, "cluster": pl.Int32, "cluster_label": pl.String})
    ws.write_columns(STAGE, columns, config, k=k_used, auto_k=k is None)
    return ClusterReport(k_used, len(ids), clusters, time.perf_counter() - started)


def read_clusters(ws: Workspace) -> list[dict]:
    """The clusters of the last run (id, label, keywords, size, representatives ...)."""
    path = ws.stage_dir(STAGE) / "clusters.json"
    if ws.stage_meta(STAGE) is None or not path.is_file():
        raise MixwiseError(f"no clusters in {ws.root}", "run: mixwise cluster (after mixwise embed)")
    return json.loads(path.read_text())


def cluster_table(ws: Workspace) -> list[dict]:
    """One row per cluster: id, label, size, sources (source -> count), median lengths, a representative prompt."""
    clusters = read_clusters(ws)
    meta = ws.stage_meta(STAGE) or {}
    if meta.get("input_fingerprint") != ws.fingerprint():
        raise MixwiseError("the clusters predate the current sources", "run: mixwise embed && mixwise cluster")
    scored = ws.samples(columns=["id", "source", "prompt_chars", "response_chars"]).join(
        ws.read_columns(STAGE), on="id", how="left")
    stats = scored.group_by("cluster").agg(
        pl.col("prompt_chars").median().alias("median_prompt_chars"),
        pl.col("response_chars").median().alias("median_response_chars"))
    by_source = scored.group_by("cluster", "source").len()
    out = []
    for c in clusters:
        s = stats.filter(pl.col("cluster") == c["id"])
        src = by_source.filter(pl.col("cluster") == c["id"]).sort(["len", "source"], descending=[True, False])
        out.append({"id": c["id"], "label": c["label"], "size": c["size"], "keywords": c["keywords"],
                    "sources": dict(zip(src["source"].to_list(), src["len"].to_list())),
                    "median_prompt_chars": float(s["median_prompt_chars"][0]) if s.height else None,
                    "median_response_chars": float(s["median_response_chars"][0]) if s.height else None,
                    "representative_prompt": (c["representative_prompts"] or [""])[0],
                    "representatives": c["representatives"], "cohesion": c.get("cohesion")})
    return out


def cluster_samples(ws: Workspace, cluster_id: int, *, offset: int = 0, limit: int = 10) -> tuple[dict, pl.DataFrame]:
    """One cluster's record and a page of its samples, representatives first, then by closeness to the centroid."""
    clusters = read_clusters(ws)
    known = [c["id"] for c in clusters]
    if cluster_id not in known:
        raise MixwiseError(f"no cluster {cluster_id}", f"cluster ids run from 0 to {max(known)}; list them with: mixwise clusters")
    ids, vectors = load_embeddings(ws, field=(ws.stage_meta(STAGE) or {})["config"]["field"])
    centroid = np.load(ws.stage_dir(STAGE) / "centroids.npy")[cluster_id]
    closeness = pl.DataFrame({"id": ids, "closeness": vectors @ centroid})
    rows = (ws.samples(columns=["id", "source", "prompt", "response", "n_turns"])
            .join(ws.read_columns(STAGE), on="id").filter(pl.col("cluster") == cluster_id)
            .join(closeness, on="id").sort(["closeness", "id"], descending=[True, False]))
    return clusters[known.index(cluster_id)], rows.slice(offset, limit)
