"""The ``mix`` step of ``mixwise demo``: two mixtures of the ShareGPT sample and their diff.

"diverse-long" takes long answers and spreads them over topics (farthest-point
on embeddings when ``mixwise embed`` has run, else round-robin over clusters,
else random); "random" takes the same number of rows at random. The step uses
whatever stages exist (styles, clusters, duplicates, embeddings) and says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mixwise.errors import MixwiseError
from mixwise.mixing.diff import diff_manifests
from mixwise.mixing.manifest import build_manifest
from mixwise.mixing.spec import parse_spec
from mixwise.views.diff import render_diff

if TYPE_CHECKING:
    from mixwise.demo import DemoContext

LONG_CHARS = 1200


def _has_embeddings(ws) -> bool:
    from mixwise.curate.embed import load_embeddings

    try:
        load_embeddings(ws)
        return True
    except MixwiseError:
        return False


def demo_specs(ws, size: int, seed: int) -> tuple[dict, dict, list[str]]:
    """The two spec dicts for this workspace, and notes on what they could use."""
    table = ws.scored()
    notes = []
    long_filter: dict = {"response_chars": {"min": LONG_CHARS}}
    styles = set(table.get_column("style").drop_nulls().unique()) if "style" in table.columns else set()
    long_style = sorted(s for s in styles if "long" in s)
    if long_style:
        long_filter = {"style": long_style[0]}
        notes.append(f"long-form = style {long_style[0]!r}")
    else:
        notes.append(f"long-form = responses of {LONG_CHARS}+ characters (no style stage)")
    if _has_embeddings(ws):
        strategy = "diverse"
        notes.append("spread = farthest-point on embeddings")
    elif "cluster" in table.columns:
        strategy = "per_cluster"
        notes.append("spread = equal per cluster (no embeddings)")
    else:
        strategy = "random"
        notes.append("spread = random (no embeddings or clusters yet)")
    if "q_flags" in table.columns:
        long_filter = {**long_filter, "score": {"q_flags": {"max": 0}}}
        notes.append("quality: refusals and truncated answers left out")
    drop = ["exact"] + (["near"] if "dup_kind" in table.columns else [])
    notes.append(f"dedup drops {', '.join(drop)}")
    common = {"seed": seed, "dedup": {"drop": drop}}
    diverse = {"name": "sharegpt-diverse-long", **common, "components": [
        {"name": "long", "filter": long_filter, "count": size, "strategy": strategy, "shortfall": "allow"}]}
    rand = {"name": "sharegpt-random", **common, "components": [{"name": "any", "count": size, "shortfall": "allow"}]}
    return diverse, rand, notes


def run(ctx: DemoContext) -> None:
    """Build the two mixtures into <out>/manifests and show their diff."""
    size = max(50, min(400, ctx.rows // 5))
    diverse, rand, notes = demo_specs(ctx.ws, size, ctx.seed)
    ctx.console.print("mixtures: " + "; ".join(notes))
    root = ctx.out / "manifests"
    built = {}
    for data in (rand, diverse):
        res = build_manifest(parse_spec(data), ctx.ws, root)
        built[data["name"]] = res
        c = res.manifest.counts
        ctx.console.print(f"built [bold]{data['name']}@{res.manifest.version}[/]: {c.samples:,} samples, {c.tokens:,} tokens")
    d = diff_manifests(built["sharegpt-random"].path.as_posix(), built["sharegpt-diverse-long"].path.as_posix(), examples=2)
    render_diff(d, ctx.console)
    ctx.notes["mix"] = {"manifests": {k: str(v.path) for k, v in built.items()}, "membership": d["membership"], "notes": notes}
