"""The ``eval mc`` step of ``mixwise demo``: score each trained run on generated arithmetic (project-written items)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mixwise.demo import DemoContext


def run(ctx: DemoContext) -> None:
    """Demo: score each of the demo's trained runs (else Gemma 3 270M) on generated arithmetic."""
    import random as _random

    import orjson

    from mixwise.errors import MixwiseError
    from mixwise.evaluate.mc import evaluate
    from mixwise.evaluate.tasks import TASKS_DIR, load_task

    rng = _random.Random(ctx.seed)
    data = ctx.out / "eval_data" / "symbolic_problem_solving"
    data.mkdir(parents=True, exist_ok=True)
    rows = []
    for _ in range(24):  # project-written items: "a + b" with three wrong answers close by
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        wrong = rng.sample([d for d in range(a + b - 6, a + b + 7) if d != a + b and d > 0], 3)
        choices = [a + b, *wrong]
        rng.shuffle(choices)
        rows.append({"query": f"Question: What is {a} + {b}?", "choices": [str(c) for c in choices], "gold": choices.index(a + b)})
    (data / "demo_addition.jsonl").write_text("".join(orjson.dumps(r).decode() + "\n" for r in rows))
    spec = ctx.out / "eval_data" / "demo_addition.yaml"
    spec.write_text(f"include: {TASKS_DIR / 'gauntlet' / '_mc.yaml'}\ntask: demo_addition\nversion: 1\n"
                    "category: symbolic_problem_solving\nrandom_baseline: 0.25\nnum_fewshot: 3\n"
                    "dataset: {local: symbolic_problem_solving/demo_addition.jsonl}\ndelimiter: \"\\nAnswer: \"\n")
    models = ctx.notes.get("runs") or {"gemma3-270m": "gemma3-270m"}
    done = {}
    for name, model in models.items():
        try:
            result = evaluate(str(model), [load_task(str(spec))], data_dir=ctx.out / "eval_data", out=ctx.out / "results", label="demo")
        except MixwiseError as e:
            ctx.console.print(f"[yellow]eval mc skipped for {name}:[/] {e.line()}")
            continue
        a = result.tasks["demo_addition"]
        done[name] = result.results_dir
        ctx.console.print(f"eval mc on [bold]{name}[/]: demo_addition (3-shot, 4 choices, chance 0.25) acc {a.acc:.3f} "
                          f"± {a.acc_stderr:.3f}, acc_norm {a.acc_norm:.3f}, {a.n} items in {a.seconds:.1f}s")
        ctx.console.print(f"  records in {result.results_dir}")
    ctx.notes["eval_mc"] = done
