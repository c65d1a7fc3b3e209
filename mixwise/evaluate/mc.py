"""``eval mc``: run log-likelihood / generation tasks on a model, score items, aggregate, save.

Per item the record keeps what a parity check or an attribution needs: prompt,
choices, log-likelihoods, prediction, gold, correctness. Multiple choice
``acc`` is the argmax of summed log-likelihoods, ``acc_norm`` the argmax after
dividing by each choice's length in characters -- lm-evaluation-harness's
definitions, including its first-index tie break.

Results go to ``<run>/eval/mc/<label>/`` when the model is a ``runs/<run>``
folder, else to ``<out>/<model>/mc/<label>/``: ``results.json`` (aggregates)
and ``items/<task>.jsonl`` (per-item records).

Example: ``evaluate("tiny-random", resolve_tasks(["arc_easy"]), data_dir="../shared/data/mc/gauntlet", limit=20)``.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mixwise.evaluate.aggregate import gauntlet_composite, group_average, mean_stderr
from mixwise.evaluate.loglik import Scorer
from mixwise.evaluate.tasks import DataDirs, Item, Task
from mixwise.workspace import now_iso


def normalize_answer(text: str) -> str:
    """SQuAD-style normalization: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def score_choices(lls: list[float], choices: list[str], gold: int) -> dict[str, Any]:
    """acc / acc_norm of one multiple-choice item from its summed log-likelihoods."""
    arr = np.array(lls)
    pred = int(np.argmax(arr))
    pred_norm = int(np.argmax(arr / np.array([float(len(c)) for c in choices])))
    return {"pred": pred, "pred_norm": pred_norm, "acc": float(pred == gold), "acc_norm": float(pred_norm == gold)}


def run_task(task: Task, scorer: Scorer, data_dir: DataDirs = None, *, limit: int | None = None,
             progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(aggregate, per-item records) for one task."""
    t0 = time.perf_counter()
    items = task.items(data_dir, limit=limit)
    if task.type == "generation":
        records = _generation(task, scorer, items, progress)
    else:
        scored = scorer.loglikelihood([it.requests for it in items], progress=progress)
        records = []
        for it, res in zip(items, scored):
            rec = {"idx": it.idx, "prompt": it.prompt, "choices": it.choices, "gold": it.gold,
                   "loglik": [r.loglik for r in res], "is_greedy": [r.is_greedy for r in res]}
            if task.type == "language_modeling":
                rec.update(pred=0, pred_norm=0, acc=float(res[0].is_greedy), acc_norm=float(res[0].is_greedy))
            else:
                rec.update(score_choices(rec["loglik"], it.choices, it.gold))
            records.append(rec)
    agg: dict[str, Any] = {"n": len(records), "version": task.version, "type": task.type, "metric": task.metric,
                           "category": task.category, "random_baseline": task.random_baseline, "group": task.group}
    for m in ("acc", "acc_norm"):
        if records and m in records[0]:
            agg[m], agg[f"{m}_stderr"] = mean_stderr([r[m] for r in records])
    agg["score"] = agg.get(task.metric, agg.get("acc"))
    agg["seconds"] = round(time.perf_counter() - t0, 3)
    return agg, records


def _generation(task: Task, scorer: Scorer, items: list[Item], progress) -> list[dict[str, Any]]:
    stop = task.spec.get("stop", ["\n"])
    outs = scorer.generate([it.prompt for it in items], stop=stop, max_new_tokens=int(task.spec.get("max_new_tokens", 32)),
                           progress=progress)
    cot = task.spec.get("cot_delimiter")
    records = []
    for it, out in zip(items, outs):
        answer = out.split(cot.strip())[-1] if cot and cot.strip() in out else out
        gold = {normalize_answer(a) for a in it.answers}
        records.append({"idx": it.idx, "prompt": it.prompt, "generation": out, "extracted": answer.strip(),
                        "answers": it.answers, "acc": float(normalize_answer(answer) in gold)})
    return records


def aggregate(task_aggs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Groups (e.g. ``mmlu``) and, when tasks carry categories, the Gauntlet composite."""
    groups: dict[str, dict[str, Any]] = {}
    for name, a in task_aggs.items():
        if a.get("group"):
            groups.setdefault(a["group"], {})[name] = a
    group_aggs = {}
    for g, members in groups.items():
        first = next(iter(members.values()))
        group_aggs[g] = {**group_average(members, "acc"), "category": first["category"],
                         "random_baseline": first["random_baseline"]}
    entries = {n: {"score": a["score"], "stderr": a.get(f"{a['metric']}_stderr"), "category": a["category"],
                   "random_baseline": a["random_baseline"]} for n, a in task_aggs.items() if not a.get("group")}
    entries.update({g: {"score": a["acc"], "stderr": a["acc_stderr"], "category": a["category"],
                        "random_baseline": a["random_baseline"]} for g, a in group_aggs.items()})
    return {"groups": group_aggs, "gauntlet": gauntlet_composite(entries)}


def results_dir(model: str, label: str, out: str | Path = "results") -> Path:
    """Where results of ``model`` go: inside a ``runs/<run>`` folder, else under ``out``."""
    p = Path(model).expanduser()
    if (p / "run.json").is_file():
        return p / "eval" / "mc" / label
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.strip("/")).strip("_") or "model"
    return Path(out) / slug / "mc" / label


def evaluate(model: str, tasks: list[Task], *, data_dir: DataDirs = None, limit: int | None = None,
             out: str | Path = "results", label: str = "custom", device: str | None = None, batch_tokens: int = 2048,
             progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run ``tasks`` on ``model``; write results.json and items/<task>.jsonl; return the results."""
    from mixwise.models import load_causal_lm, resolve_model_path

    model_obj, tok = load_causal_lm(model, device=device)
    scorer = Scorer(model_obj, tok, batch_tokens=batch_tokens)
    dest = results_dir(model, label, out)
    (dest / "items").mkdir(parents=True, exist_ok=True)
    task_aggs: dict[str, dict[str, Any]] = {}
    for task in tasks:
        tick = (lambda k, _t=task.name: progress(_t, k, 0)) if progress else None
        agg, records = run_task(task, scorer, data_dir, limit=limit, progress=tick)
        task_aggs[task.name] = agg
        (dest / "items" / f"{task.name}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    result = {"model": model, "model_path": resolve_model_path(model), "created": now_iso(), "label": label,
              "limit": limit, "data_dir": [str(d) for d in (data_dir if isinstance(data_dir, list) else [data_dir]) if d],
              "tasks": task_aggs, **aggregate(task_aggs), "results_dir": str(dest)}
    (dest / "results.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return result


def demo_step(ctx) -> None:
    """Demo: score each of the demo's trained runs (else Gemma 3 270M) on generated arithmetic."""
    import random as _random

    from mixwise.errors import MixwiseError
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
        a = result["tasks"]["demo_addition"]
        done[name] = result["results_dir"]
        ctx.console.print(f"eval mc on [bold]{name}[/]: demo_addition (3-shot, 4 choices, chance 0.25) acc {a['acc']:.3f} "
                          f"± {a['acc_stderr']:.3f}, acc_norm {a['acc_norm']:.3f}, {a['n']} items in {a['seconds']:.1f}s")
        ctx.console.print(f"  records in {result['results_dir']}")
    ctx.notes["eval_mc"] = done
