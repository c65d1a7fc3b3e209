"""CLI: the ``mixwise eval`` group -- ``eval mc`` (log-likelihood benchmarks) and ``eval tasks``.

Other evaluation commands (``eval judge``) add themselves to :data:`eval_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mixwise.cli._common import console, emit_json, progress_bar, warn

eval_app = typer.Typer(
    help="Evaluate a model: log-likelihood benchmarks (mc) and LLM-as-a-judge.\n\nExample: mixwise eval mc tiny-random --tasks arc_easy --limit 20",
    no_args_is_help=True,
)


def mc(
    model: str = typer.Argument(..., help="Model: tiny-random, gemma3-270m, a folder, a hub id, or runs/<run>."),
    tasks: Optional[str] = typer.Option(None, "--tasks", "-t", help="Comma-separated task names or task YAML files."),
    suite: Optional[str] = typer.Option(None, "--suite", "-s", help="A task suite: gauntlet or mmlu."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Score only the first N items of each task."),
    data_dir: Optional[list[Path]] = typer.Option(
        None, "--data-dir", "-d", help="Local data in llm-foundry's layout (<category>/<task>.jsonl, mmlu/{dev,val}/); repeatable."
    ),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Results folder (a runs/<run> model writes into its own folder)."),
    batch_tokens: int = typer.Option(2048, "--batch-tokens", help="Padded tokens per forward pass (memory vs speed)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (1 is often fastest on a busy machine)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)."),
    as_json: bool = typer.Option(False, "--json", help="Print {tasks: {name: {acc, acc_norm, n}}, ...} as JSON."),
) -> None:
    """Score a model on log-likelihood benchmarks (Eval Gauntlet tasks, MMLU) at parity with lm-evaluation-harness.

    Prints a table per task (acc, acc_norm, n), the MMLU average and the Gauntlet
    composite; writes results.json and per-item records under the results folder.
    Tasks of a suite whose data is not found are skipped with a warning.

    Example: mixwise eval mc gemma3-270m --tasks arc_easy,piqa --data-dir ../shared/data/mc/gauntlet --limit 100
    """
    from mixwise.errors import InputError
    from mixwise.evaluate.mc import evaluate
    from mixwise.evaluate.tasks import load_task, resolve_tasks
    from mixwise.views.mc import render_mc

    if threads:
        import torch

        torch.set_num_threads(threads)
    dirs = [str(d) for d in data_dir or []]
    selected = resolve_tasks([t.strip() for t in tasks.split(",") if t.strip()] if tasks else None, suite)
    named = [t.strip() for t in (tasks or "").split(",") if t.strip() and t.strip() not in ("gauntlet", "mmlu")]
    explicit = {load_task(t).name for t in named}  # named tasks must run (and fail loudly without data)
    runnable = [t for t in selected if t.name in explicit or t.has_data(dirs)]
    skipped = [t.name for t in selected if t not in runnable]
    if not runnable:
        raise InputError(f"no data found for any of the {len(selected)} selected tasks",
                         "pass --data-dir DIR in llm-foundry's layout (<category>/<task>.jsonl, mmlu/{dev,val}/)")
    if skipped:
        warn(f"no local data for {len(skipped)} task(s), skipped: {', '.join(skipped)}")
    label = suite or (tasks if tasks and len(selected) == 1 else "custom")
    with progress_bar("eval mc", total=None) as update:
        done = {"n": 0}

        def tick(task: str, k: int, _total: int) -> None:
            done["n"] += k
            update(done["n"])

        result = evaluate(model, runnable, data_dir=dirs, limit=limit, out=out, label=Path(label).stem,
                          device=device, batch_tokens=batch_tokens, progress=tick)
    if as_json:
        full = result.to_dict()
        emit_json({"tasks": {n: {"acc": a.acc, "acc_norm": a.acc_norm, "n": a.n} for n, a in result.tasks.items()},
                   "groups": full["groups"], "gauntlet": full["gauntlet"], "results_dir": result.results_dir})
        return
    render_mc(result, console)


def tasks_cmd(
    suite: Optional[str] = typer.Option(None, "--suite", "-s", help="Only tasks of this suite (gauntlet, mmlu)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List the shipped evaluation tasks: type, category, few-shot, random baseline, version.

    Example: mixwise eval tasks --suite gauntlet
    """
    from mixwise.evaluate.tasks import load_task, registry, suite as suite_tasks

    names = suite_tasks(suite) if suite else list(registry())
    rows = []
    for n in names:
        t = load_task(n)
        rows.append({"task": n, "type": t.type, "category": t.category, "num_fewshot": int(t.spec.get("num_fewshot", 0)),
                     "random_baseline": t.random_baseline, "metric": t.metric, "version": t.version, "group": t.group})
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"{len(rows)} tasks")
    for col in rows[0] if rows else []:
        table.add_column(col)
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r.values()))
    console.print(table)


eval_app.command("mc")(mc)
eval_app.command("tasks")(tasks_cmd)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval", rich_help_panel="Evaluate")
