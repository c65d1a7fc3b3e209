"""The ``attribute`` step of ``mixwise demo``: the score changes of the demo's runs next to their mixture changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def run(ctx: DemoContext) -> None:
    """Demo: attribute the score changes of the demo's runs to their mixtures (the first run is the baseline)."""
    from mixwise.evaluate.attribute import attribute
    from mixwise.views.attribute import render_report

    runs = ctx.evaluated_runs()
    if len(runs) < 2:
        ctx.console.print("[yellow]attribute skipped:[/] it needs two evaluated runs (the train and eval mc steps make them)")
        return
    report = attribute(runs, label="demo", bootstrap=2000, seed=ctx.seed)
    render_report(report, ctx.console)
    clear = [t for c in report["comparisons"] for t, s in c["scores"].items() if s["lo"] is not None and (s["lo"] > 0 or s["hi"] < 0)]
    verdict = (f"the interval of {', '.join(clear)} excludes 0" if clear else
               "every interval covers 0: no score moved beyond noise")
    ctx.console.print(f"[dim]{verdict} (3 steps of a random 2-layer model on 24 items: expect noise). "
                      "On real runs: mixwise attribute runs/<baseline> runs/<run> ...[/]")
    ctx.notes["attribute"] = report
