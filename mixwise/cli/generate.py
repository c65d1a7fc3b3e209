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
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (beyond loopback, set --api-key)."),
    port: int = typer.Option(8000, "--port", help="Port (0 picks a free one)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="MIXWISE_SERVE_API_KEY", show_envvar=True,
                                          help="Require 'Authorization: Bearer KEY' on every route but /health."),
    max_tokens_cap: int = typer.Option(2048, "--max-tokens-cap", min=1,
                                       help="Largest max_tokens a request may ask for; above it is a 400."),
    max_request_bytes: int = typer.Option(2 * 1024 * 1024, "--max-request-bytes", min=1,
                                          help="Largest request body; above it is a 413."),
    context_length: Optional[int] = typer.Option(None, "--context-length", min=2,
                                                 help="Lower the model's context (prompt + answer, in tokens)."),
    max_batch: int = typer.Option(8, "--max-batch", min=1, help="Requests generated together in one batch."),
    max_queue: int = typer.Option(64, "--max-queue", min=1,
                                  help="Requests queued or running at once; beyond it is a 503 with Retry-After."),
) -> None:
    """Serve a model as an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models, /health).

    Concurrent requests are batched (up to --max-batch per forward pass; a long answer is paused every
    64 tokens while others wait, so short requests are not stuck behind it). Bad requests get 400s in
    OpenAI's error shape; a prompt beyond the model's context (config max_position_embeddings, or the
    tokenizer's model_max_length when smaller) is a 400. It is a small CPU-friendly server for judging
    and tests: for throughput use vLLM or llama.cpp's server.

    Point the judge (or any OpenAI client) at it: --judge-base-url http://HOST:PORT/v1.

    Example: MIXWISE_SERVE_API_KEY=secret mixwise serve gemma3-270m --port 8011
    """
    import logging
    import sys

    from mixwise.evaluate.serve import ModelBackend, check_api_key, exposure_warning, make_server

    check_api_key(api_key)  # before the minute a model can take to load
    if warning := exposure_warning(host, api_key):
        err_console.print(f"WARNING: {warning}", style="bold red", markup=False, highlight=False, soft_wrap=True)
    handler = logging.StreamHandler(sys.stderr)  # disconnects and failures, one line each
    handler.setFormatter(logging.Formatter("%(asctime)s mixwise serve: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("mixwise.serve")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    backend = ModelBackend(model, device=device, max_tokens_cap=max_tokens_cap, context_length=context_length,
                           max_batch=max_batch, max_queue=max_queue)
    server = make_server(backend, host, port, api_key=api_key, max_request_bytes=max_request_bytes)
    h, p = server.server_address[:2]
    err_console.print(f"serving [bold]{model}[/] at http://{h}:{p}/v1 (context {backend.context_length} tokens from "
                      f"{backend.context_source}; {'API key required' if api_key else 'no API key'}; Ctrl-C to stop)",
                      highlight=False, soft_wrap=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        backend.close()


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluate")(generate)
    app.command(rich_help_panel="Evaluate")(serve)
