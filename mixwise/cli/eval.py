"""CLI: the ``mixwise eval`` group (``eval judge`` is added by mixwise/cli/judge.py)."""

from __future__ import annotations

import typer

eval_app = typer.Typer(help="Evaluate a model: log-likelihood benchmarks and LLM-as-a-judge.\n\nExample: mixwise eval judge tiny-random --baseline gemma3-270m --prompts lima_test --dry-run",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval", rich_help_panel="Evaluate")
