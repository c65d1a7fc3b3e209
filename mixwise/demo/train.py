"""The ``train`` step of ``mixwise demo``: a few steps of the tiny model on each of the demo's manifests.

Uses the manifests the mix step left in ``ctx.notes["mix"]`` when there are any;
otherwise it stores a small stand-in manifest (the first rows of the demo
workspace, as a real manifest record) so the step also runs on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def standin_manifest(ctx: DemoContext, rows: int = 32) -> Path:
    """A manifest folder with the first ``rows`` samples of the demo workspace."""
    from mixwise.mixing.manifest import store_rows

    return store_rows("demo-standin", ctx.ws.samples().head(rows), ctx.out / "manifests", seed=ctx.seed,
                      description="the demo's stand-in: the first rows of its workspace").path


def run(ctx: DemoContext) -> None:
    """Train tiny-random for a few steps on each demo mixture; show the masking audit and the loss.

    With the mix step's two manifests it trains one run per mixture
    (``ctx.notes["runs"]``: mixture name -> run folder), so the eval and
    attribute steps can compare them; on its own it trains one stand-in run.
    """
    from mixwise.finetune.train import train

    mix = ctx.notes.get("mix", {}).get("manifests") or {"demo": str(standin_manifest(ctx))}
    runs = {}
    for name, manifest in mix.items():
        res = train(manifest, "tiny-random", recipe="quick", max_steps=3, out=ctx.out / "runs", run_name=name,
                    overrides={"max_length": 128, "batch_size": 4, "micro_batch_size": 2, "seed": ctx.seed})
        rec = res.run
        m = rec.data.masking
        losses = " -> ".join(f"{p.loss:.3f}" for p in rec.loss_curve)
        ctx.console.print(f"[bold]{name}[/]: tiny-random, {rec.steps} steps, loss {losses}; "
                          f"{rec.throughput.tokens_per_s:,.0f} tokens/s; masking audit: {m.trained_tokens:,} of "
                          f"{m.tokens:,} tokens are response tokens ({m.trained_fraction:.0%}), template {m.template}")
        ctx.console.print(f"  run record: {res.run_dir / 'run.json'}")
        runs[name] = str(res.run_dir)
    ctx.notes["runs"] = runs
