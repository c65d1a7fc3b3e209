"""Cluster labels before (c-TF-IDF words) and after (embedding keyphrases + MMR), side by side, on real data.

The union of ../shared/data/instruct (LIMA, dolly_hhrlhf, Alpaca 5k, GSM8K) is
ingested, embedded (prompts, MiniLM) and clustered with mixwise's defaults
(auto k = 50, seed 0). Both labellers then name the *same* clusters, so the
table compares labels only. Per cluster it prints size, majority source and
its share (``source-pure`` = at least 90%), both labels and the head of the
most central prompt -- what a person needs to judge whether a label names the
topic (the prompt is printed, not stored: the results file holds no data
text). The judging itself is done by a person (docs/cluster.md holds the
judged table).

Timing: the keyphrase labeller cold (candidate phrases not yet in the
embedding cache) and warm (cached), against c-TF-IDF, each once, same process.

Run it: ``python benchmarks/cluster_labels.py [--workspace DIR]`` (writes
benchmarks/results/cluster_labels.json; a workspace that already holds the four
sources and their embeddings is reused).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mixwise.curate.cluster import cluster_workspace, read_clusters  # noqa: E402
from mixwise.curate.embed import default_model, embed_workspace, embeddings_meta  # noqa: E402
from mixwise.curate.ingest import ingest  # noqa: E402
from mixwise.curate.labels import cached_embedder, ctfidf_keywords, keyphrase_labels, label_from_keywords  # noqa: E402
from mixwise.workspace import Workspace  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DATA = ROOT.parent / "shared" / "data" / "instruct"
SOURCES = {"lima": "lima_train.json", "dolly_hhrlhf": "dolly_hhrlhf_small.jsonl", "alpaca": "alpaca_5000.json",
           "gsm8k": "gsm8k_train.jsonl"}


def prepare(ws: Workspace) -> None:
    for name, file in SOURCES.items():
        if name not in ws.source_names():
            ingest(str(DATA / file), ws, name=name)
    embed_workspace(ws)
    cluster_workspace(ws, seed=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, help="reuse (or create) this workspace")
    ap.add_argument("--out", type=Path, default=RESULTS / "cluster_labels.json")
    args = ap.parse_args()
    ws = Workspace.resolve(args.workspace or Path(tempfile.mkdtemp(prefix="labels-")) / "ws")
    prepare(ws)
    table = ws.scored()
    prompts, assign = table["prompt"].to_list(), table["cluster"].to_numpy().astype(np.int64)
    source = table["source"].to_numpy()
    centroids = np.load(ws.stage_dir("cluster") / "centroids.npy")
    k = len(centroids)
    emb = embeddings_meta(ws) or {}
    timings = {}
    t = time.perf_counter()
    before = ctfidf_keywords(prompts, assign, k)
    timings["ctfidf_s"] = time.perf_counter() - t
    # Cold: an empty copy of the cache folder, so every candidate phrase is embedded.
    cold_cache = Path(tempfile.mkdtemp(prefix="labels-cache-"))
    model, backend = emb.get("model") or default_model(), emb.get("backend") or "exact"
    t = time.perf_counter()
    keyphrase_labels(prompts, assign, centroids, cached_embedder(model, backend, cold_cache))
    timings["keyphrase_cold_s"] = time.perf_counter() - t
    t = time.perf_counter()
    after = keyphrase_labels(prompts, assign, centroids, cached_embedder(model, backend, cold_cache))
    timings["keyphrase_warm_s"] = time.perf_counter() - t
    shutil.rmtree(cold_cache, ignore_errors=True)
    stored = {c["id"]: c for c in read_clusters(ws)}
    rows, central = [], {}
    for c in range(k):
        src, counts = np.unique(source[assign == c], return_counts=True)
        top = int(np.argmax(counts))
        rows.append({"id": c, "size": int(counts.sum()), "source": str(src[top]), "source_share": round(float(counts[top] / counts.sum()), 3),
                     "before": label_from_keywords(before[c]), "after": label_from_keywords(after[c]), "keyphrases": after[c]})
        # The central prompt is printed for the person judging, never stored: results stay free of the data's text.
        central[c] = " ".join((stored[c].get("central_prompts") or [""])[0].split())[:70]
    out = {"rows": int(len(prompts)), "k": k, "seconds": {key: round(v, 2) for key, v in timings.items()}, "clusters": rows,
           "conditions": "2-core machine shared with other jobs; one run each, same process"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(prompts):,} prompts, k={k}; c-TF-IDF {timings['ctfidf_s']:.1f}s, keyphrases cold {timings['keyphrase_cold_s']:.1f}s, "
          f"warm {timings['keyphrase_warm_s']:.1f}s")
    print("| id | size | source (share) | before: c-TF-IDF | after: keyphrases | most central prompt |")
    print("|---:|---:|---|---|---|---|")
    for r in rows:
        print(f"| {r['id']} | {r['size']} | {r['source']} {r['source_share']:.0%} | {r['before']} | {r['after']} | {central[r['id']]} |")


if __name__ == "__main__":
    main()
