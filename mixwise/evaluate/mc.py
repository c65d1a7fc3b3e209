"""``eval mc``: run log-likelihood / generation tasks on a model, score items, aggregate, save.

Per item the record keeps what a parity check or an attribution needs: prompt,
choices, log-likelihoods, prediction, gold, correctness. Multiple choice
``acc`` is the argmax of summed log-likelihoods, ``acc_norm`` the argmax after
dividing by each choice's length in characters -- lm-evaluation-harness's
definitions, including its first-index tie break.

Results go to ``<run>/eval/mc/<label>/`` when the model is a ``runs/<run>``
folder, else to ``<out>/<model>/mc/<label>/``: ``results.json``
(:class:`mixwise.records.McResults`) and ``items/<task>.jsonl``
(:class:`mixwise.records.McItem` per line).

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

from mixwise.evaluate.aggregate import gauntlet_composite, group_average, mean_stderr
from mixwise.evaluate.loglik import Scorer
from mixwise.evaluate.tasks import DataDirs, Item, Task
from mixwise.records import McItem, McResults, is_run_dir, items_path, mc_results_dir, write_mc_items
from mixwise.records.base import build_part
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
    # the task's metric; acc when the items lack it (a generation task has no acc_norm)
    agg["score"] = agg[task.metric] if task.metric in agg else agg["acc"] if "acc" in agg else None
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
        if a["group"]:
            groups.setdefault(a["group"], {})[name] = a
    group_aggs = {}
    for g, members in groups.items():
        first = next(iter(members.values()))
        group_aggs[g] = {**group_average(members, "acc"), "category": first["category"],
                         "random_baseline": first["random_baseline"]}
    entries = {n: {"score": a["score"], "stderr": a[f"{a['metric']}_stderr"] if f"{a['metric']}_stderr" in a else None,
                   "category": a["category"],
                   "random_baseline": a["random_baseline"]} for n, a in task_aggs.items() if not a["group"]}
    entries.update({g: {"score": a["acc"], "stderr": a["acc_stderr"], "category": a["category"],
                        "random_baseline": a["random_baseline"]} for g, a in group_aggs.items()})
    return {"groups": group_aggs, "gauntlet": gauntlet_composite(entries)}


def results_dir(model: str, label: str, out: str | Path = "results") -> Path:
    """Where results of ``model`` go: inside a ``runs/<run>`` folder, else under ``out``."""
    p = Path(model).expanduser()
    if is_run_dir(p):
        return mc_results_dir(p, label)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.strip("/")).strip("_") or "model"
    return Path(out) / slug / "mc" / label


def evaluate(model: str, tasks: list[Task], *, data_dir: DataDirs = None, limit: int | None = None,
             out: str | Path = "results", label: str = "custom", device: str | None = None, batch_tokens: int = 2048,
             progress: Callable[[str, int, int], None] | None = None) -> McResults:
    """Run ``tasks`` on ``model``; write results.json and items/<task>.jsonl; return the results record."""
    from mixwise.models import load_causal_lm, resolve_model_path

    model_obj, tok = load_causal_lm(model, device=device)
    scorer = Scorer(model_obj, tok, batch_tokens=batch_tokens)
    dest = results_dir(model, label, out)
    task_aggs: dict[str, dict[str, Any]] = {}
    for task in tasks:
        tick = (lambda k, _t=task.name: progress(_t, k, 0)) if progress else None
        agg, records = run_task(task, scorer, data_dir, limit=limit, progress=tick)
        task_aggs[task.name] = agg
        path = items_path(dest, task.name)
        write_mc_items(path, [build_part(McItem, r, source=f"{path}:{i + 1}") for i, r in enumerate(records)])
    result = {"schema_version": McResults.SCHEMA_VERSION, "model": model, "model_path": resolve_model_path(model),
              "created": now_iso(), "label": label, "limit": limit,
              "data_dir": [str(d) for d in (data_dir if isinstance(data_dir, list) else [data_dir]) if d],
              "tasks": task_aggs, **aggregate(task_aggs), "results_dir": str(dest)}
    record = McResults.from_dict(_plain(result), path=dest / "results.json")
    record.write(dest / "results.json")
    return record


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (the records take JSON types)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value
