"""The ``judge`` step of ``mixwise demo``: serve a model on 127.0.0.1, judge answers against the data's own, re-run from cache.

The served judge is the tiny random model, so nearly every judgment is
unparsable: the step shows the plumbing (real HTTP, both orders, re-asking,
parse accounting, a cached re-run with zero calls), not a meaningful score.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import polars as pl

from mixwise.errors import MixwiseError

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def run(ctx: DemoContext) -> None:
    """Judge tiny-random's answers to three short prompts against the dataset's answers."""
    from mixwise.evaluate.generate import GenSettings, generate_chats
    from mixwise.evaluate.judge import Pair, run_judge
    from mixwise.evaluate.judge_cache import JudgeCache
    from mixwise.evaluate.judge_client import JudgeClient
    from mixwise.evaluate.judge_report import summary_record
    from mixwise.evaluate.judges import load_judge
    from mixwise.evaluate.serve import ModelBackend, make_server, serve_in_thread
    from mixwise.records import JudgeRunInfo
    from mixwise.views.judge import render_summary

    rows = (ctx.ws.samples(columns=["id", "prompt", "response", "prompt_chars"])
            .filter(pl.col("prompt_chars").is_between(20, 300)).head(3).to_dicts())
    try:
        backend = ModelBackend("tiny-random", device="cpu")
    except (MixwiseError, ImportError) as e:
        ctx.console.print(f"[yellow]skipped: the tiny model is unavailable ({e})[/]")
        return
    answers = generate_chats(backend.model, backend.tokenizer, [[{"role": "user", "content": r["prompt"]}] for r in rows],
                             GenSettings(max_new_tokens=24, seed=ctx.seed))
    pairs = [Pair(r["id"], "sharegpt", r["prompt"], a.text, r["response"]) for r, a in zip(rows, answers)]
    judge = dataclasses.replace(load_judge("pairwise"), id="pairwise-demo", max_tokens=16, reask=1)
    server = make_server(backend, "127.0.0.1", 0)
    url = serve_in_thread(server)
    try:
        for attempt in ("first run", "re-run"):
            client = JudgeClient(model="tiny-random", base_url=url, api_key="local",
                                 cache=JudgeCache(ctx.ws.cache_dir("judge") / "demo.sqlite"), concurrency=1, timeout=600)
            _, summary = run_judge(judge, pairs, client, bootstrap=200, seed=ctx.seed)
            record = summary_record(summary, JudgeRunInfo(model="tiny-random", baseline="sharegpt answers",
                                                          prompts="3 sharegpt prompts", judge_folder=str(judge.folder),
                                                          out="(not written)"))
            ctx.console.print(f"[bold]{attempt}[/] (judge served at {url})")
            render_summary(record, ctx.console)
    finally:
        server.shutdown()
        server.server_close()
    ctx.console.print("[dim]a random 2-layer model cannot follow the verdict format: its answers are re-asked, then counted as "
                      "unparsable (never dropped); serve a real judge and pass --judge-base-url to `mixwise eval judge`[/]")
    ctx.notes["judge"] = {"parse": summary["parse"], "server_requests": backend.requests}
