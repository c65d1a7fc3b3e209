"""``eval judge`` as a Python function: prompts -> answers of both sides -> LLM judge -> records written.

    from mixwise.evaluate.judge_run import judge_model
    outcome = judge_model("runs/lima-1k", baseline="gemma3-270m", prompts="lima_test",
                          judge_base_url="http://127.0.0.1:8011/v1", judge_model_name="gemma3-270m")
    outcome.summary.win_rate, outcome.items_path

:func:`judge_model` loads the judge and the prompt set, gets both sides'
answers (a generations file, or generated and cached beside the results),
pairs them by prompt id, asks the judge (cached, budgeted, retried; see
:mod:`mixwise.evaluate.judge`) and writes ``summary.json``
(:class:`mixwise.records.JudgeSummary`) and ``items.jsonl``
(:class:`mixwise.records.JudgeItem`). For a ``runs/<run>`` model the folder is
``runs/<run>/eval/judge/<baseline>__<judge>__<prompts>/``, where ``mixwise
attribute`` finds it. :func:`estimate_judge` answers the dry run: how many
calls and tokens the same arguments would need. ``mixwise eval judge`` is a
thin wrapper over both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from mixwise.evaluate.judge import Pair
from mixwise.evaluate.judge_client import JudgeClient
from mixwise.evaluate.judges import Judge
from mixwise.records import JudgeSummary
from mixwise.workspace import Workspace

#: ``progress(description, total)`` -> a context manager yielding ``update(done)``, e.g. the CLI's progress bar.
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def _no_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda done: None


@dataclass(frozen=True, kw_only=True)
class JudgeSettings:
    """Everything :func:`judge_model` and :func:`estimate_judge` take besides the model (flat, keyword-only)."""

    baseline: str | None = None
    prompts: str = "lima_test"
    judge: str = "pairwise"
    judge_base_url: str | None = None
    judge_model_name: str | None = None
    judge_api_key: str | None = None
    judge_temperature: float | None = None
    data_dir: str | None = None
    limit: int | None = None
    repeats: int = 1
    concurrency: int = 8
    max_retries: int = 5
    timeout: float = 120.0
    max_requests: int | None = None
    max_tokens: int | None = None
    cache: Path | None = None
    out: Path | None = None
    max_new_tokens: int = 256
    seed: int = 0


@dataclass(frozen=True)
class JudgeOutcome:
    """What :func:`judge_model` wrote: the summary record and where the per-prompt records are."""

    summary: JudgeSummary
    summary_path: Path
    items_path: Path


@dataclass
class _Prepared:
    judge: Judge
    pairs: list[Pair]
    client: JudgeClient
    out: Path


def _prepare(model: str, s: JudgeSettings, ws: Workspace | None, *, dry_run: bool, progress: ProgressFactory,
             warn: Callable[[str], None]) -> _Prepared:
    from mixwise.evaluate.generate import GenSettings, generations_for
    from mixwise.evaluate.judge import make_pairs
    from mixwise.evaluate.judge_cache import JudgeCache
    from mixwise.evaluate.judge_client import Budget, endpoint
    from mixwise.evaluate.judge_report import results_dir, slug
    from mixwise.evaluate.judges import load_judge
    from mixwise.evaluate.prompts import load_prompts

    jd = load_judge(s.judge)
    if s.judge_temperature is not None:
        jd.temperature = s.judge_temperature
    if s.repeats > 1 and jd.temperature == 0:
        warn("--repeats with temperature 0: a deterministic judge repeats itself; pass --judge-temperature 0.7 to measure spread")
    items = load_prompts(s.prompts, data=s.data_dir, limit=s.limit)
    out = s.out or results_dir(model, s.baseline, jd.id, s.prompts)
    settings = GenSettings(max_new_tokens=s.max_new_tokens, seed=s.seed)
    gens = {}
    for side, spec in (("model", model), ("baseline", s.baseline)):
        if spec is None:
            continue
        if dry_run and not Path(spec).is_file() and not (out / "generations" / f"{slug(spec)}.jsonl").is_file():
            # not generated yet: assume answers of full length so the estimate is an upper bound
            gens[side] = [{"id": p.id, "category": p.category, "prompt": p.prompt, "output": "x" * 4 * s.max_new_tokens}
                          for p in items]
            continue
        with progress(f"answers of {spec}", len(items)) as update:
            gens[side] = generations_for(spec, items, settings, out / "generations", progress=update)[0]
    pairs = make_pairs(gens["model"], gens.get("baseline"), {p.id: p.reference for p in items if p.reference})
    base_url, api_key, judge_name = endpoint(s.judge_base_url, s.judge_api_key, s.judge_model_name, jd.model)
    cache = s.cache or (ws or Workspace.resolve()).cache_dir("judge") / "calls.sqlite"
    client = JudgeClient(model=judge_name, base_url=base_url, api_key=api_key, cache=JudgeCache(cache),
                         budget=Budget(s.max_requests, s.max_tokens), concurrency=s.concurrency, max_retries=s.max_retries,
                         timeout=s.timeout)
    return _Prepared(jd, pairs, client, out)


def estimate_judge(model: str, settings: JudgeSettings = JudgeSettings(), *, ws: Workspace | None = None,
                   progress: ProgressFactory = _no_progress, warn: Callable[[str], None] = lambda m: None) -> dict:
    """The dry run: judgments, cached ones, calls and rough token counts; asks the judge nothing."""
    from mixwise.evaluate.judge import estimate, plan

    p = _prepare(model, settings, ws, dry_run=True, progress=progress, warn=warn)
    return estimate(p.judge, plan(p.judge, p.pairs, settings.repeats), p.client)


def judge_model(model: str, settings: JudgeSettings = JudgeSettings(), *, ws: Workspace | None = None,
                progress: ProgressFactory = _no_progress, warn: Callable[[str], None] = lambda m: None) -> JudgeOutcome:
    """Judge ``model``'s answers (a model or a generations file) against ``settings.baseline``'s; write the records.

    ``ws`` holds the default judge cache (``--cache`` overrides it). An
    interrupted run resumes from the cache; a re-run makes no calls.
    """
    from mixwise.evaluate.judge import plan, run_judge
    from mixwise.evaluate.judge_report import write_results
    from mixwise.records import JudgeRunInfo

    p = _prepare(model, settings, ws, dry_run=False, progress=progress, warn=warn)
    with progress(f"judge {p.judge.id}", len(plan(p.judge, p.pairs, settings.repeats))) as update:
        items, summary = run_judge(p.judge, p.pairs, p.client, repeats=settings.repeats, seed=settings.seed, progress=update)
    run = JudgeRunInfo(model=model, baseline=settings.baseline, prompts=settings.prompts, judge_folder=str(p.judge.folder),
                       out=str(p.out))
    record = write_results(p.out, items, summary, run)
    return JudgeOutcome(record, p.out / "summary.json", p.out / "items.jsonl")


__all__ = ["JudgeOutcome", "JudgeSettings", "estimate_judge", "judge_model"]
