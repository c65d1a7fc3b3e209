"""Load on ``mixwise serve``: requests/s and p50/p95 latency, batched against single-stream, over real HTTP.

One model is loaded once and served by two in-process servers on 127.0.0.1 that
differ only in ``max_batch`` (the default 8, and 1 = one request at a time).
Each round sends the same N requests (C concurrent clients, distinct short
prompts, greedy, T new tokens each) to one server and then the other, the order
alternating between rounds so that a shared machine's load swings hit both
alike; a warm-up round is not counted. Latency is per request (send to full
answer, on the client); requests/s is N over the round's wall time. Prints and
saves medians over rounds with min/max.

Run:
    python benchmarks/serve_load.py                      # tiny-random, 50 requests, 10 clients, 4 tokens
    python benchmarks/serve_load.py --model gemma3-270m --requests 20 --tokens 16
Writes benchmarks/results/serve_load.json (or --out).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._util import machine, save  # noqa: E402


def one_round(port: int, n: int, clients: int, tokens: int, tag: str) -> dict:
    """N requests from `clients` threads; per-request latency, statuses, wall time."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    todo = iter(range(n))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)  # keep-alive, as OpenAI clients do
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                break
            body = json.dumps({"messages": [{"role": "user", "content": f"{tag} question {i}: name a colour."}],
                               "max_tokens": tokens, "temperature": 0})
            started = time.perf_counter()
            conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            with lock:
                latencies.append(time.perf_counter() - started)
                statuses.append(r.status)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20)  # 19 cut points: [9] is the median, [18] the 95th percentile
    return {"requests_per_s": n / wall, "p50_s": q[9], "p95_s": q[18], "wall_s": wall,
            "ok": sum(s == 200 for s in statuses), "n": n}


def summary(rounds: list[dict]) -> dict:
    out = {}
    for key in ("requests_per_s", "p50_s", "p95_s"):
        values = [r[key] for r in rounds]
        out[key] = {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
                    "max": round(max(values), 3)}
    out["ok"] = f"{sum(r['ok'] for r in rounds)}/{sum(r['n'] for r in rounds)}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny-random")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="serve_load")
    args = ap.parse_args()

    from mixwise.evaluate.serve import ModelBackend, make_server, serve_in_thread
    from mixwise.models import load_causal_lm

    loaded = load_causal_lm(args.model, device="cpu")
    servers = {}
    for label, max_batch in (("batched (max_batch 8)", 8), ("single-stream (max_batch 1)", 1)):
        backend = ModelBackend(args.model, loaded=loaded, max_batch=max_batch, max_tokens_cap=max(args.tokens, 1))
        server = make_server(backend, "127.0.0.1", 0)
        serve_in_thread(server)
        servers[label] = (server.server_address[1], backend)
    for label, (port, _) in servers.items():  # warm-up, not counted
        one_round(port, min(args.requests, 10), args.clients, args.tokens, "warm-up")
    results: dict[str, list] = {label: [] for label in servers}
    labels = list(servers)
    for r in range(args.rounds):
        for label in labels if r % 2 == 0 else labels[::-1]:
            results[label].append(one_round(servers[label][0], args.requests, args.clients, args.tokens, f"r{r}"))
            print(f"round {r} {label}: {results[label][-1]['requests_per_s']:.2f} req/s, "
                  f"p50 {results[label][-1]['p50_s']:.2f}s, p95 {results[label][-1]['p95_s']:.2f}s", flush=True)
    report = {"model": args.model, "requests": args.requests, "clients": args.clients, "max_tokens": args.tokens,
              "rounds": args.rounds, "results": {label: summary(rs) for label, rs in results.items()},
              "batches": {label: b.batcher.stats["batches"] for label, (_, b) in servers.items()},
              "machine": {**machine(), "note": "shared 2-core machine, other engineers' jobs running"}}
    for _, backend in servers.values():
        backend.close()
    print(json.dumps(report["results"], indent=2))
    print(f"-> {save(args.out, report)}")


if __name__ == "__main__":
    main()
