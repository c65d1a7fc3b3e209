"""CLI: ``mixwise eval judge`` -- LLM-as-a-judge of a model against a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mixwise.cli._common import console, emit_json, progress_bar, warn, workspace


def judge(
    model: str = typer.Argument(..., help="Model to evaluate (name/folder/runs/<run>) or its generations JSONL."),
    baseline: Optional[str] = typer.Option(None, "--baseline", "-b", help="Baseline model or generations file (pairwise needs one)."),
    prompts: str = typer.Option("lima_test", "--prompts", "-p", help="Prompt set (lima_test, alpaca_eval, mt_bench) or a JSONL file."),
    judge_name: str = typer.Option("pairwise", "--judge", "-j", help="Judge: pairwise, likert, single, or a judge folder."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="OpenAI-compatible endpoint (env MIXWISE_JUDGE_BASE_URL)."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Judge model name (env MIXWISE_JUDGE_MODEL; default from the judge config)."),
    judge_api_key: Optional[str] = typer.Option(None, "--judge-api-key", envvar="MIXWISE_JUDGE_API_KEY", help="API key (or OPENAI_API_KEY)."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder with the named prompt sets (default ../shared/data/judge)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N prompts."),
    repeats: int = typer.Option(1, "--repeats", "-k", help="Judge every item k times and report the spread."),
    judge_temperature: Optional[float] = typer.Option(None, "--judge-temperature", help="Override the judge config's temperature (use > 0 with --repeats)."),
    concurrency: int = typer.Option(8, "--concurrency", help="Judge requests in flight at once."),
    max_retries: int = typer.Option(5, "--max-retries", help="Retries per call on 429/5xx/timeouts (exponential backoff)."),
    timeout: float = typer.Option(120.0, "--judge-timeout", help="Seconds before a judge call times out (then it is retried)."),
    max_requests: Optional[int] = typer.Option(None, "--max-requests", help="Budget: stop after this many HTTP requests."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Budget: stop once this many tokens were used."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite cache of judge calls (default WORKSPACE/cache/judge/calls.sqlite)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder (default: runs/<run>/eval/judge/<baseline>__<judge>__<prompts> for a run, else results/judge/<model>-vs-...)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Answer length when MODEL/OTHER must be generated."),
    seed: int = typer.Option(0, "--seed", help="Seed for generation sampling and the bootstrap."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print how many calls and roughly how many tokens the run needs."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Judge a model's answers against a baseline's with an LLM judge; write per-item JSON.

    Pairwise judgments are asked in both orders; unparsable answers are re-asked, then
    counted. Calls are cached (a re-run makes none) and an interrupted run resumes.

    Example: mixwise eval judge runs/lima-1k --baseline gemma3-270m --prompts lima_test --judge-base-url http://127.0.0.1:8011/v1 --judge-model gemma3-270m
    """
    from mixwise.evaluate.generate import GenSettings, generations_for
    from mixwise.evaluate.judge import estimate, make_pairs, plan, run_judge
    from mixwise.evaluate.judge_cache import JudgeCache
    from mixwise.evaluate.judge_client import Budget, JudgeClient, endpoint
    from mixwise.evaluate.judge_report import render_summary, results_dir, slug, write_results
    from mixwise.evaluate.judges import load_judge
    from mixwise.evaluate.prompts import load_prompts

    jd = load_judge(judge_name)
    if judge_temperature is not None:
        jd.temperature = judge_temperature
    if repeats > 1 and jd.temperature == 0:
        warn("--repeats with temperature 0: a deterministic judge repeats itself; pass --judge-temperature 0.7 to measure spread")
    items = load_prompts(prompts, data=data_dir, limit=limit)
    out = out or results_dir(model, baseline, jd.id, prompts)
    settings = GenSettings(max_new_tokens=max_new_tokens, seed=seed)
    gens = {}
    for side, spec in (("model", model), ("baseline", baseline)):
        if spec is None:
            continue
        if dry_run and not Path(spec).is_file() and not (out / "generations" / f"{slug(spec)}.jsonl").is_file():
            # not generated yet: assume answers of full length so the estimate is an upper bound
            gens[side] = [{"id": p.id, "category": p.category, "prompt": p.prompt, "output": "x" * 4 * max_new_tokens} for p in items]
            continue
        with progress_bar(f"answers of {spec}", total=len(items)) as update:
            gens[side] = generations_for(spec, items, settings, out / "generations", progress=update)[0]
    pairs = make_pairs(gens["model"], gens.get("baseline"), {p.id: p.reference for p in items if p.reference})
    base_url, api_key, judge_model_name = endpoint(judge_base_url, judge_api_key, judge_model, jd.model)
    client = JudgeClient(model=judge_model_name, base_url=base_url, api_key=api_key,
                         cache=JudgeCache(cache or workspace().cache_dir("judge") / "calls.sqlite"),
                         budget=Budget(max_requests, max_tokens), concurrency=concurrency, max_retries=max_retries, timeout=timeout)
    if dry_run:
        est = estimate(jd, plan(jd, pairs, repeats), client)
        if as_json:
            emit_json(est)
        else:
            console.print(f"dry run: {est['jobs']} judgments, {est['cached']} cached -> {est['calls']} calls "
                          f"(at most {est['max_calls_with_reasks']} with re-asks), ~{est['prompt_tokens']:,} prompt tokens, "
                          f"<= {est['max_completion_tokens']:,} completion tokens, judge {est['judge_model']}", highlight=False)
        return
    n_jobs = len(plan(jd, pairs, repeats))
    with progress_bar(f"judge {jd.id}", total=n_jobs) as update:
        results, summary = run_judge(jd, pairs, client, repeats=repeats, seed=seed, progress=update)
    summary["run"] = {"model": model, "baseline": baseline, "prompts": prompts, "judge_folder": str(jd.folder), "out": str(out)}
    items_path, _ = write_results(out, results, summary)
    if as_json:
        emit_json(summary)
        return
    render_summary(summary, console)
    console.print(f"[dim]per-item judgments: {items_path}[/]")


def register(app: typer.Typer) -> None:
    try:
        from mixwise.cli.eval import eval_app
    except ImportError:  # pragma: no cover - eval.py ships with the package
        raise
    eval_app.command("judge", rich_help_panel="Evaluate")(judge)
