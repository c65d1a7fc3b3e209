"""LLM-as-a-judge: judge a model's answers against a baseline's, item by item, then aggregate.

    pairs = make_pairs(model_generations, baseline_generations)
    items, summary = run_judge(load_judge("pairwise"), pairs, client, repeats=1)

A *job* is one question to the judge: for a pairwise judge, every pair is asked
twice (model's answer as A, then as B) so position bias cancels; for a
single-answer judge, each answer is graded on its own. A job whose answer
cannot be parsed is re-asked (the judge sees its own answer and a short
reminder of the format) up to ``judge.reask`` times, then recorded as
``unparsable`` -- counted in the summary, never silently dropped. Jobs stopped
by the budget are ``budget``; calls that failed after every retry are ``error``.
Re-judging (``repeats > 1``) puts the repeat index into the cache key, so each
repeat is a fresh sample and the spread across repeats is reported.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mixwise.errors import InputError, MixwiseError
from mixwise.evaluate import judge_stats as st
from mixwise.evaluate.judge_client import BudgetExhausted, CallFailed, JudgeClient
from mixwise.evaluate.judges import Judge


@dataclass
class Pair:
    """One prompt with the model's answer, the baseline's answer (optional) and a reference (optional)."""

    id: str
    category: str
    prompt: str
    output: str
    baseline: str | None = None
    reference: str | None = None


@dataclass
class Job:
    item: int
    repeat: int
    role: str  # pairwise: model_first | baseline_first; single: model | baseline
    messages: list[dict]


def make_pairs(model_gens: list[dict], baseline_gens: list[dict] | None = None, references: dict[str, str] | None = None) -> list[Pair]:
    """Align two generation sets by id (the model's order); every model id must have a baseline answer."""
    base = {str(g["id"]): g for g in baseline_gens or []}
    if baseline_gens is not None:
        missing = [str(g["id"]) for g in model_gens if str(g["id"]) not in base]
        if missing:
            raise InputError(f"{len(missing)} of {len(model_gens)} prompts have no baseline answer (first: {missing[0]!r})",
                             "generate both sides on the same prompt set (same --prompts and --limit)")
    refs = references or {}
    return [Pair(str(g["id"]), str(g.get("category") or "all"), g["prompt"], g["output"],
                 base[str(g["id"])]["output"] if baseline_gens is not None else None,
                 refs.get(str(g["id"])) or g.get("reference"))
            for g in model_gens]


def params(judge: Judge, repeat: int) -> dict:
    """Sampling parameters of a job; all of them are part of the cache key."""
    return {"temperature": judge.temperature, "max_tokens": judge.max_tokens, "repeat": repeat}


def plan(judge: Judge, pairs: list[Pair], repeats: int = 1) -> list[Job]:
    """Every judge question the evaluation needs (before re-asks)."""
    jobs = []
    for r in range(repeats):
        for i, p in enumerate(pairs):
            if judge.kind == "pairwise":
                if p.baseline is None:
                    raise InputError("a pairwise judge needs a baseline", "pass --baseline OTHER, or use --judge likert/single")
                jobs.append(Job(i, r, "model_first", judge.messages(p.prompt, output_a=p.output, output_b=p.baseline)))
                jobs.append(Job(i, r, "baseline_first", judge.messages(p.prompt, output_a=p.baseline, output_b=p.output)))
            else:
                jobs.append(Job(i, r, "model", judge.messages(p.prompt, output=p.output, reference=p.reference)))
                if p.baseline is not None:
                    jobs.append(Job(i, r, "baseline", judge.messages(p.prompt, output=p.baseline, reference=p.reference)))
    return jobs


def estimate(judge: Judge, jobs: list[Job], client: JudgeClient) -> dict:
    """What a run will cost: calls not in the cache, and rough prompt/completion tokens (4 chars per token)."""
    todo = [j for j in jobs if not client.cached(judge.id, judge.version, j.messages, params(judge, j.repeat))]
    prompt_tokens = sum(len(m["content"]) for j in todo for m in j.messages) // 4
    return {"jobs": len(jobs), "cached": len(jobs) - len(todo), "calls": len(todo),
            "max_calls_with_reasks": len(todo) * (1 + judge.reask), "prompt_tokens": prompt_tokens,
            "max_completion_tokens": len(todo) * judge.max_tokens, "judge_model": client.model, "base_url": client.base_url}


async def _ask(client: JudgeClient, judge: Judge, job: Job) -> dict:
    messages, texts = job.messages, []
    for attempt in range(judge.reask + 1):
        try:
            ans = await client.complete(judge.id, judge.version, messages, params(judge, job.repeat))
        except BudgetExhausted:
            return {"status": "budget", "attempts": attempt, "raw": texts}
        except CallFailed as e:
            return {"status": "error", "error": str(e), "attempts": attempt, "raw": texts}
        texts.append(ans.text)
        value = judge.parse(ans.text)
        if value is not None:
            return {"status": "ok", "value": value, "attempts": attempt + 1, "raw": texts}
        messages = messages + [{"role": "assistant", "content": ans.text}, {"role": "user", "content": judge.reask_prompt}]
    return {"status": "unparsable", "attempts": judge.reask + 1, "raw": texts}


async def _ask_all(client: JudgeClient, judge: Judge, jobs: list[Job], progress: Callable[[int], None] | None) -> list[dict]:
    results: list[dict | None] = [None] * len(jobs)
    done = 0

    async def one(k: int) -> None:
        nonlocal done
        results[k] = await _ask(client, judge, jobs[k])
        done += 1
        if progress:
            progress(done)

    try:
        async with asyncio.TaskGroup() as tg:
            for k in range(len(jobs)):
                tg.create_task(one(k))
    except ExceptionGroup as eg:  # a non-retryable error (bad key, unknown model): surface the first
        first = next((e for e in eg.exceptions if isinstance(e, MixwiseError)), eg.exceptions[0])
        raise first from None
    finally:
        await client.aclose()
    return results  # type: ignore[return-value]


def run_judge(judge: Judge, pairs: list[Pair], client: JudgeClient, *, repeats: int = 1, bootstrap: int = 2000, seed: int = 0,
              progress: Callable[[int], None] | None = None) -> tuple[list[dict], dict]:
    """Judge every pair (``repeats`` times); returns (per-item records, summary)."""
    jobs = plan(judge, pairs, repeats)
    answers = asyncio.run(_ask_all(client, judge, jobs, progress))
    items = [{"id": p.id, "category": p.category, "prompt": p.prompt, "model_output": p.output, "baseline_output": p.baseline,
              "len_diff": len(p.output) - len(p.baseline or ""), "judgments": []} for p in pairs]
    for job, ans in zip(jobs, answers):
        rec = {"repeat": job.repeat, "role": job.role, **ans}
        if judge.kind == "pairwise":
            slot = "A" if job.role == "model_first" else "B"
            rec["model_pref"] = st.pairwise_pref(_value(ans), slot)
        items[job.item]["judgments"].append(rec)
    summary = summarize(judge, items, repeats=repeats, bootstrap=bootstrap, seed=seed)
    summary["client"] = {**client.stats.__dict__, "budget_exhausted": client.budget.exhausted,
                         "judge_model": client.model, "base_url": client.base_url}
    return items, summary


def _value(judgment: dict) -> str | float | None:
    """The parsed verdict or score of a judgment; None unless it parsed (only parsed answers carry a value)."""
    return judgment["value"] if judgment["status"] == "ok" else None


def _item_prefs(judge: Judge, item: dict, repeats: int) -> list[float]:
    """Per-repeat preference of one item for the model (NaN where not judged)."""
    per_repeat = []
    for r in range(repeats):
        js = [j for j in item["judgments"] if j["repeat"] == r]
        if judge.kind == "pairwise":
            vals = [j["model_pref"] for j in js if j["model_pref"] is not None]
            per_repeat.append(float(np.mean(vals)) if vals else np.nan)
        else:
            m = [j["value"] for j in js if j["role"] == "model" and j["status"] == "ok"]
            b = [j["value"] for j in js if j["role"] == "baseline" and j["status"] == "ok"]
            per_repeat.append(float(np.sign(m[0] - b[0]) / 2 + 0.5) if m and b else np.nan)
    return per_repeat


def summarize(judge: Judge, items: list[dict], *, repeats: int = 1, bootstrap: int = 2000, seed: int = 0) -> dict:
    """Win rate (ties half) with bootstrap CI, length-controlled win rate, categories, parse and position stats."""
    per_repeat = np.array([_item_prefs(judge, it, repeats) for it in items], dtype=float).T.reshape(repeats, len(items))
    counts = np.isfinite(per_repeat).sum(axis=0)
    item_pref = np.where(counts > 0, np.nansum(per_repeat, axis=0) / np.maximum(counts, 1), np.nan)
    for it, pref in zip(items, item_pref):
        it["pref"] = None if np.isnan(pref) else float(pref)
    ok = np.isfinite(item_pref)
    prefs, diffs = item_pref[ok], np.array([it["len_diff"] for it in items], dtype=float)[ok]
    cats = [it["category"] for it, k in zip(items, ok) if k]
    statuses = Counter(j["status"] for it in items for j in it["judgments"])
    n_jobs = sum(statuses.values())
    first_try = sum(1 for it in items for j in it["judgments"] if j["status"] == "ok" and j["attempts"] == 1)
    answered = statuses["ok"] + statuses["unparsable"]
    summary: dict = {
        "judge": {"id": judge.id, "version": judge.version, "kind": judge.kind, "scale": judge.scale},
        "n_items": len(items), "n_scored": int(ok.sum()),
        "parse": {"jobs": n_jobs, **{s: statuses.get(s, 0) for s in ("ok", "unparsable", "budget", "error")},
                  "ok_first_try": first_try, "ok_after_reask": statuses["ok"] - first_try,
                  "parse_rate": statuses["ok"] / answered if answered else float("nan")},
    }
    if prefs.size:
        slope = st.fit_length_model(prefs, diffs)[1]
        summary.update({
            "win_rate": st.win_rate(prefs), "win_rate_ci": st.bootstrap_ci(prefs, n=bootstrap, seed=seed),
            "lc_win_rate": st.lc_win_rate(prefs, diffs),
            "lc_win_rate_ci": st.bootstrap_ci(prefs, st.lc_win_rate, n=min(bootstrap, 500), seed=seed, extra=diffs),
            "length_slope": slope, "wins": int((prefs > 0.5).sum()), "ties": int((prefs == 0.5).sum()),
            "losses": int((prefs < 0.5).sum()), "by_category": st.by_category(prefs, cats),
        })
    if judge.kind == "pairwise":
        order_prefs, verdicts = [], []
        for it in items:
            for r in range(repeats):
                js = {j["role"]: j for j in it["judgments"] if j["repeat"] == r}  # plan() asks both orders of every pair
                mf, bf = js["model_first"], js["baseline_first"]
                order_prefs.append((mf["model_pref"], bf["model_pref"]))
                verdicts.append((_value(mf), _value(bf)))
        summary["position"] = st.position_stats(order_prefs, verdicts)
    else:
        for role in ("model", "baseline"):
            scores = np.array([j["value"] for it in items for j in it["judgments"] if j["role"] == role and j["status"] == "ok"])
            if scores.size:
                summary[f"{role}_score"] = {"mean": float(scores.mean()), "ci": st.bootstrap_ci(scores, np.mean, n=bootstrap, seed=seed),
                                            "n": int(scores.size)}
    if repeats > 1:
        summary["rejudge"] = st.repeat_spread(per_repeat)
    return summary
