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
    from mixwise.evaluate.judge_run import JudgeSettings, estimate_judge
    from mixwise.evaluate.judge_run import judge_model as run_judge_eval  # the --judge-model option is named judge_model
    from mixwise.views.judge import render_summary

    settings = JudgeSettings(
        baseline=baseline, prompts=prompts, judge=judge_name, judge_base_url=judge_base_url, judge_model_name=judge_model,
        judge_api_key=judge_api_key, judge_temperature=judge_temperature, data_dir=data_dir, limit=limit, repeats=repeats,
        concurrency=concurrency, max_retries=max_retries, timeout=timeout, max_requests=max_requests, max_tokens=max_tokens,
        cache=cache, out=out, max_new_tokens=max_new_tokens, seed=seed)
    progress = lambda what, total: progress_bar(what, total=total)  # noqa: E731
    if dry_run:
        est = estimate_judge(model, settings, ws=workspace(), progress=progress, warn=warn)
        if as_json:
            emit_json(est)
        else:
            console.print(f"dry run: {est['jobs']} judgments, {est['cached']} cached -> {est['calls']} calls "
                          f"(at most {est['max_calls_with_reasks']} with re-asks), ~{est['prompt_tokens']:,} prompt tokens, "
                          f"<= {est['max_completion_tokens']:,} completion tokens, judge {est['judge_model']}", highlight=False)
        return
    outcome = run_judge_eval(model, settings, ws=workspace(), progress=progress, warn=warn)
    if as_json:
        emit_json(outcome.summary.to_dict())
        return
    render_summary(outcome.summary, console)
    console.print(f"[dim]per-item judgments: {outcome.items_path}[/]")


def register(app: typer.Typer) -> None:
    try:
        from mixwise.cli.eval import eval_app
    except ImportError:  # pragma: no cover - eval.py ships with the package
        raise
    eval_app.command("judge", rich_help_panel="Evaluate")(judge)
