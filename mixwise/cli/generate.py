"""CLI: ``mixwise generate`` (answers to a prompt set) and ``mixwise serve`` (a local OpenAI-compatible endpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mixwise.cli._common import console, emit_json, err_console, progress_bar


def generate(
    model: str = typer.Argument(..., help="Model: hub id, folder, runs/<run>, tiny-random or gemma3-270m."),
    prompts: str = typer.Option("lima_test", "--prompts", "-p", help="Prompt set (lima_test, alpaca_eval, mt_bench) or a JSONL file."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output JSONL (default results/generations/<model>__<prompts>.jsonl)."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder with the named sets (default ../shared/data/judge)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N prompts."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Longest answer, in tokens."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 = greedy; above 0 samples with --seed."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling (with --temperature > 0)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (recorded in the output)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts per batch (left-padded)."),
    backend: str = typer.Option("auto", "--backend", help="auto (vLLM if installed and a GPU is present), transformers or vllm."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Answer a prompt set with a model, in its chat format; write JSONL with the settings.

    Example: mixwise generate tiny-random --prompts lima_test --limit 8 --out gens.jsonl
    """
    from mixwise.evaluate.generate import GenSettings, generate as run_generate, write_jsonl
    from mixwise.evaluate.judge_report import slug
    from mixwise.evaluate.prompts import load_prompts

    items = load_prompts(prompts, data=data_dir, limit=limit)
    settings = GenSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
                           batch_size=batch_size, backend=backend, device=device)
    with progress_bar(f"generate {model}", total=len(items)) as update:
        rows = run_generate(model, items, settings, progress=update)
    path = write_jsonl(rows, out or Path("results") / "generations" / f"{slug(model)}__{slug(prompts)}.jsonl")
    s = rows[0]["settings"] if rows else {}
    if as_json:
        emit_json({"out": str(path), "n": len(rows), "settings": s})
        return
    console.print(f"[green]generated[/] {len(rows)} answers with {model} ({s.get('backend')}, {s.get('seconds')}s) -> {path}")


def serve(
    model: str = typer.Argument(..., help="Model: hub id, folder, runs/<run>, tiny-random or gemma3-270m."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="Port (0 picks a free one)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
) -> None:
    """Serve a model as an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models).

    Point the judge (or any OpenAI client) at it: --judge-base-url http://HOST:PORT/v1.

    Example: mixwise serve gemma3-270m --port 8011
    """
    from mixwise.evaluate.serve import ModelBackend, make_server

    backend = ModelBackend(model, device=device)
    server = make_server(backend, host, port)
    h, p = server.server_address[:2]
    err_console.print(f"serving [bold]{model}[/] at http://{h}:{p}/v1 (Ctrl-C to stop)", highlight=False)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluate")(generate)
    app.command(rich_help_panel="Evaluate")(serve)
