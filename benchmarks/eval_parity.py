"""Parity and speed of ``mixwise eval mc`` against lm-evaluation-harness, in one run.

Both score the same model (the same local checkpoint, float32, CPU) on the same
local files: arc_easy, piqa, winogrande, lambada_openai (0-shot variants of the
shipped Gauntlet tasks, made with ``include:``) and MMLU subjects (5-shot from
dev, lm-eval's ``first_n`` sampler). lm-eval gets custom task YAMLs written to
a temp dir at run time and runs offline through its HF backend.

Tasks run interleaved (mixwise then lm-eval, then the other way round) so that
the load swings of a shared machine hit both alike. Per task it prints: accuracy (acc, and acc_norm where defined) from each,
per-item agreement of predictions, max |log-likelihood difference| over all
requests, wall time of the scoring (model loading excluded) and the speed ratio.

Run:
    python benchmarks/eval_parity.py --quick            # tiny-random, 40 items per task
    python benchmarks/eval_parity.py --limit 50         # Gemma 3 270M
Writes benchmarks/results/eval_parity_<mode>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "mc"
GAUNTLET = {"arc_easy": "world_knowledge/arc_easy.jsonl", "piqa": "commonsense_reasoning/piqa.jsonl",
            "winogrande": "language_understanding/winogrande.jsonl", "lambada_openai": "language_understanding/lambada_openai.jsonl"}
MMLU = ["abstract_algebra", "anatomy", "astronomy", "marketing"]


def lm_eval_yaml(task: str, tmp: Path, data: Path) -> str:
    """An lm-eval task file over the same local data and with the same prompt as mixwise's task."""
    from mixwise.evaluate.tasks import load_task

    if task.startswith("mmlu_"):
        sub = task[5:]
        desc = json.dumps(f"The following are multiple choice questions (with answers) about {sub.replace('_', ' ')}.\n\n")
        return f"""task: lmeval_{task}
dataset_path: csv
dataset_kwargs:
  data_files: {{test: {data / 'mmlu' / 'val' / f'{sub}_val.csv'}, dev: {data / 'mmlu' / 'dev' / f'{sub}_dev.csv'}}}
  column_names: [question, A, B, C, D, answer]
test_split: test
fewshot_split: dev
fewshot_config: {{sampler: first_n}}
num_fewshot: 5
output_type: multiple_choice
description: {desc}
doc_to_text: "{{{{question.strip()}}}}\\nA. {{{{A}}}}\\nB. {{{{B}}}}\\nC. {{{{C}}}}\\nD. {{{{D}}}}\\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: "{{{{['A', 'B', 'C', 'D'].index(answer.strip())}}}}"
target_delimiter: " "
fewshot_delimiter: "\\n\\n"
metric_list: [{{metric: acc}}, {{metric: acc_norm}}]
"""
    t = load_task(task)
    head = f"""task: lmeval_{task}
dataset_path: json
dataset_kwargs: {{data_files: {{test: {data / 'gauntlet' / GAUNTLET[task]}}}}}
test_split: test
num_fewshot: 0
target_delimiter: {json.dumps(t.delimiter)}
"""
    if t.type == "multiple_choice":
        return head + """output_type: multiple_choice
doc_to_text: "{{query}}"
doc_to_choice: "{{choices}}"
doc_to_target: gold
metric_list: [{metric: acc}, {metric: acc_norm}]
"""
    if t.type == "schema":
        return head + """output_type: multiple_choice
doc_to_text: gold
doc_to_choice: "{{context_options}}"
doc_to_target: "{{continuation}}"
metric_list: [{metric: acc}, {metric: acc_norm}]
"""
    # lm-eval adds no target_delimiter to loglikelihood requests: the delimiter goes into the target
    return head + f"""output_type: loglikelihood
doc_to_text: "{{{{context}}}}"
doc_to_target: {json.dumps("{{ " + repr(t.delimiter) + " + continuation }}")}
metric_list: [{{metric: acc}}]
"""


def mixwise_task(task: str, tmp: Path):
    """The shipped task, as a 0-shot variant for the Gauntlet ones (a file that includes it)."""
    from mixwise.evaluate.tasks import load_task, registry

    if task.startswith("mmlu_"):
        return load_task(task)
    variant = tmp / f"{task}_0shot.yaml"
    variant.write_text(f"include: {registry()[task]}\ntask: {task}_0shot\nnum_fewshot: 0\n")
    return load_task(str(variant))


def lm_eval_runner(model_path: str, tmp: Path, batch_size: int):
    """A function scoring one task with lm-eval (model loaded once)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model_path, batch_size=batch_size, device="cpu", dtype="float32")
    tm = TaskManager(include_path=str(tmp / "lmeval"))

    def run(task: str, limit: int) -> dict:
        t0 = time.perf_counter()
        res = lm_eval.simple_evaluate(model=lm, tasks=[f"lmeval_{task}"], task_manager=tm, limit=limit, log_samples=True,
                                      verbosity="ERROR", bootstrap_iters=0)
        secs = time.perf_counter() - t0
        print(f"lm-eval {task}: {secs:.1f}s", file=sys.stderr, flush=True)
        samples = sorted(res["samples"][f"lmeval_{task}"], key=lambda s: s["doc_id"])
        metrics = res["results"][f"lmeval_{task}"]
        return {"seconds": secs, "acc": metrics.get("acc,none"), "acc_norm": metrics.get("acc_norm,none"),
                "loglik": [[float(r[0]) for r in s["filtered_resps"]] for s in samples],
                "acc_items": [s["acc"] for s in samples]}

    return run


def mixwise_runner(model_name: str, tmp: Path, batch_tokens: int):
    """A function scoring one task with mixwise (model loaded once)."""
    from mixwise.evaluate.loglik import Scorer
    from mixwise.evaluate.mc import run_task
    from mixwise.models import load_causal_lm

    model, tok = load_causal_lm(model_name, device="cpu")
    scorer = Scorer(model, tok, batch_tokens=batch_tokens)

    def run(task: str, limit: int) -> dict:
        t0 = time.perf_counter()
        agg, records = run_task(mixwise_task(task, tmp), scorer, [DATA / "gauntlet", DATA], limit=limit)
        secs = time.perf_counter() - t0
        print(f"mixwise {task}: {secs:.1f}s", file=sys.stderr, flush=True)
        return {"seconds": secs, "acc": agg["acc"], "acc_norm": agg["acc_norm"] if "acc_norm" in agg else None,
                "loglik": [r["loglik"] for r in records], "acc_items": [r["acc"] for r in records]}

    return run


def compare(a: dict, b: dict) -> dict:
    """Agreement of per-item correctness and predictions, and the largest log-likelihood gap."""
    n = min(len(a["loglik"]), len(b["loglik"]))
    agree_pred = sum(
        (max(range(len(x)), key=x.__getitem__) == max(range(len(y)), key=y.__getitem__)) if len(x) > 1 else (p == q)
        for x, y, p, q in zip(a["loglik"], b["loglik"], a["acc_items"], b["acc_items"])
    )
    gap = max(abs(u - v) for x, y in zip(a["loglik"], b["loglik"]) for u, v in zip(x, y))
    return {"n": n, "agreement": agree_pred / n, "max_abs_loglik_diff": gap}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny-random model, 40 items per task")
    ap.add_argument("--model", default=None, help="model alias or path (default gemma3-270m; tiny-random with --quick)")
    ap.add_argument("--limit", type=int, default=None, help="items per task (default 40 quick, 50 full)")
    ap.add_argument("--mmlu", default=",".join(MMLU), help="comma-separated MMLU subjects")
    ap.add_argument("--mmlu-limit", type=int, default=None, help="items per MMLU subject (default: --limit)")
    ap.add_argument("--tasks", default=",".join(GAUNTLET), help="comma-separated Gauntlet tasks")
    ap.add_argument("--lm-eval-batch-size", type=int, default=4)
    ap.add_argument("--batch-tokens", type=int, default=2048, help="mixwise's padded tokens per forward")
    ap.add_argument("--threads", type=int, default=None, help="torch threads for both (1 is far faster on a contended machine)")
    args = ap.parse_args(argv)

    import torch

    from mixwise.models import resolve_model_path

    if args.threads:
        torch.set_num_threads(args.threads)

    model = args.model or ("tiny-random" if args.quick else "gemma3-270m")
    limit = args.limit or (40 if args.quick else 50)
    tasks = [t for t in args.tasks.split(",") if t] + [f"mmlu_{s}" for s in args.mmlu.split(",") if s]
    path = resolve_model_path(model)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "lmeval").mkdir()
        for t in tasks:
            (tmp / "lmeval" / f"{t}.yaml").write_text(lm_eval_yaml(t, tmp, DATA))
        limits = {"gauntlet": limit, "mmlu": args.mmlu_limit or limit}
        ours_run = mixwise_runner(model, tmp, args.batch_tokens)
        theirs_run = lm_eval_runner(path, tmp, args.lm_eval_batch_size)
        ours, theirs = {}, {}
        for i, t in enumerate(tasks):  # interleaved, alternating who goes first: load swings hit both alike
            lim = limits["mmlu"] if t.startswith("mmlu_") else limits["gauntlet"]
            if i % 2 == 0:
                ours[t], theirs[t] = ours_run(t, lim), theirs_run(t, lim)
            else:
                theirs[t], ours[t] = theirs_run(t, lim), ours_run(t, lim)
    rows = {}
    print(f"model {model} ({path}); {limit} items per task ({limits['mmlu']} per MMLU subject); torch threads {torch.get_num_threads()}; "
          f"lm-eval batch size {args.lm_eval_batch_size}, mixwise batch tokens {args.batch_tokens}")
    print(f"{'task':<28}{'acc lm-eval':>12}{'acc mixwise':>12}{'norm lm-eval':>13}{'norm mixwise':>13}"
          f"{'agree':>8}{'max|dll|':>10}{'s lm-eval':>10}{'s mixwise':>10}{'speedup':>9}")
    for t in tasks:
        c = compare(ours[t], theirs[t])
        row = {"lm_eval": {k: theirs[t][k] for k in ("acc", "acc_norm", "seconds")},
               "mixwise": {k: ours[t][k] for k in ("acc", "acc_norm", "seconds")}, **c,
               "speedup": theirs[t]["seconds"] / ours[t]["seconds"]}
        rows[t] = row
        f = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
        print(f"{t:<28}{f(row['lm_eval']['acc']):>12}{f(row['mixwise']['acc']):>12}{f(row['lm_eval']['acc_norm']):>13}"
              f"{f(row['mixwise']['acc_norm']):>13}{c['agreement']:>8.3f}{c['max_abs_loglik_diff']:>10.2e}"
              f"{theirs[t]['seconds']:>10.1f}{ours[t]['seconds']:>10.1f}{row['speedup']:>8.2f}x")
    tot_l = sum(theirs[t]["seconds"] for t in tasks)
    tot_m = sum(ours[t]["seconds"] for t in tasks)
    n_items = sum(r["n"] for r in rows.values())
    agree = sum(r["agreement"] * r["n"] for r in rows.values()) / n_items
    max_acc_gap = max(abs(r["lm_eval"]["acc"] - r["mixwise"]["acc"]) for r in rows.values())
    print(f"total: {n_items} items, agreement {agree:.4f}, max |acc diff| {max_acc_gap * 100:.2f} points, "
          f"lm-eval {tot_l:.1f}s, mixwise {tot_m:.1f}s, speedup {tot_l / tot_m:.2f}x")
    result = {"model": model, "model_path": path, "limit": limit, "mmlu_limit": limits["mmlu"], "tasks": rows, "total_items": n_items,
              "agreement": agree, "max_acc_diff_points": max_acc_gap * 100, "seconds_lm_eval": tot_l,
              "seconds_mixwise": tot_m, "speedup": tot_l / tot_m, "lm_eval_batch_size": args.lm_eval_batch_size,
              "batch_tokens": args.batch_tokens, "torch_threads": torch.get_num_threads(), "machine": platform.platform(),
              "cpus": os.cpu_count(), "note": "CPU timings on a shared machine under contention; ratios measured in the same run"}
    out = ROOT / "benchmarks" / "results" / f"eval_parity_{'quick' if args.quick else 'full'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
