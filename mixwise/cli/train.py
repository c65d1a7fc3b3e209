"""CLI: ``mixwise train`` (finetune a model on a manifest, or ``--check`` a recipe)."""

from __future__ import annotations

from typing import List, Optional

import typer

from mixwise.cli._common import console, emit_json
from mixwise.errors import MixwiseError


def train(
    manifest: Optional[str] = typer.Argument(None, help="Manifest: NAME, NAME@VERSION or a folder."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Hub id, folder, runs/<run>, tiny-random or gemma3-270m."),
    recipe: str = typer.Option("lima", "--recipe", "-r", help="Recipe name (lima, quick) or a YAML file."),
    set_: List[str] = typer.Option([], "--set", "-s", help="Override a recipe key: --set lr=2e-5 (repeatable)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after N optimizer steps (the schedule keeps the recipe's length)."),
    out: str = typer.Option("runs", "--out", "-o", help="Folder for runs/<run>/."),
    run_name: Optional[str] = typer.Option(None, "--run-name", help="Name of the run folder (default: manifest-version-model-time)."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Resume exactly from a checkpoint folder or a run folder."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda when available)."),
    manifests: Optional[str] = typer.Option(None, "--manifests", envvar="MIXWISE_MANIFESTS", help="Manifests folder (default ./manifests)."),
    check: bool = typer.Option(False, "--check", help="Validate the recipe (and, given MANIFEST and --model, the masking audit); train nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the run record (or the check) as JSON."),
) -> None:
    """Finetune a causal LM on a manifest; writes runs/<run>/ (checkpoint + run.json).

    Loss is on response tokens only; the run fails loudly when no response
    token would be trained. Multi-GPU: torchrun --nproc_per_node N -m mixwise train ...

    Example: mixwise train chat-mix --model tiny-random --recipe quick --max-steps 20
    """
    from mixwise.finetune.recipe import parse_overrides
    from mixwise.finetune.train import check as run_check
    from mixwise.finetune.train import train as run_train

    overrides = parse_overrides(set_)
    if check:
        report = run_check(manifest, model, recipe=recipe, overrides=overrides, manifests_root=manifests)
        if as_json:
            emit_json(report)
            return
        console.print(f"[green]recipe ok[/]: {recipe} ({len(report['recipe'])} keys)")
        if "masking" in report:
            m = report["masking"]
            console.print(f"masking audit ok: {m['trained_tokens']:,} of {m['tokens']:,} tokens trained "
                          f"({m['trained_fraction']:.1%}), template {m['template']}, {report['sequences']} sequences")
            for name, s in m["per_source"].items():
                console.print(f"  {name}: {s['samples']} samples, trained fraction {s['trained_fraction']:.1%}")
        return
    if manifest is None or model is None:
        raise MixwiseError("train needs a MANIFEST and --model", "e.g. mixwise train chat-mix --model tiny-random --recipe quick")

    def on_step(p: dict) -> None:
        if not as_json:
            console.print(f"step {p['step']}/{p['total_steps']}  epoch {p['epoch']:.2f}  loss {p['loss']:.4f}  lr {p['lr']:.2e}",
                          highlight=False)

    result = run_train(manifest, model, recipe=recipe, overrides=overrides, max_steps=max_steps, out=out,
                       run_name=run_name, resume=resume, device=device, manifests_root=manifests, on_step=on_step)
    rec = result.run
    if as_json:
        emit_json(rec.to_dict())
        return
    t = rec.throughput
    console.print(f"[green]trained[/] {rec.manifest.name}@{rec.manifest.version[:12]} on {model}: "
                  f"{rec.steps} steps, final loss {rec.final_loss}, {t.tokens_per_s:,.0f} tokens/s "
                  f"({t.trained_tokens_per_s:,.0f} trained/s)")
    console.print(f"run: {result.run_dir}  checkpoint: {rec.checkpoint_dir(result.run_dir)}")


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Train")(train)
