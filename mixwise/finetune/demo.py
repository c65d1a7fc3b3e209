"""The ``train`` step of ``mixwise demo``: a few steps of the tiny model on each of the demo's manifests.

Uses the manifests the mix step left in ``ctx.notes["mix"]`` when there are any;
otherwise it writes a small stand-in manifest (the first rows of the demo
workspace, in the manifest contract shape) so the step also runs on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl


def standin_manifest(ctx, rows: int = 32) -> Path:
    """A manifest folder with the first ``rows`` samples of the demo workspace."""
    folder = ctx.out / "manifests" / "demo-standin" / "v0"
    if not (folder / "manifest.json").is_file():
        df = ctx.ws.samples().head(rows).with_columns(pl.lit("all").alias("component"))
        folder.mkdir(parents=True, exist_ok=True)
        df.write_parquet(folder / "samples.parquet")
        (folder / "manifest.json").write_text(json.dumps({"schema_version": 1, "name": "demo-standin", "version": "v0",
                                                          "parent": None, "counts": {"total": df.height}}))
    return folder


def demo_step(ctx) -> None:
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
        rec = res.record
        m = rec["data"]["masking"]
        losses = " -> ".join(f"{p['loss']:.3f}" for p in rec["loss_curve"])
        ctx.console.print(f"[bold]{name}[/]: tiny-random, {rec['steps']} steps, loss {losses}; "
                          f"{rec['throughput']['tokens_per_s']:,.0f} tokens/s; masking audit: {m['trained_tokens']:,} of "
                          f"{m['tokens']:,} tokens are response tokens ({m['trained_fraction']:.0%}), template {m['template']}")
        ctx.console.print(f"  run record: {res.run_dir / 'run.json'}")
        runs[name] = str(res.run_dir)
    ctx.notes["runs"] = runs
