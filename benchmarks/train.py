"""Benchmark: ``mixwise train`` vs TRL's ``SFTTrainer`` on the same manifest, model, lengths and batch.

    python benchmarks/train.py                                   # CPU, tiny-random, a few minutes
    python benchmarks/train.py --model gemma3-270m --device cuda --samples 512 --max-length 1024

Both trainers get the *same token ids and loss masks* (mixwise's tokenization,
handed to TRL as a pre-tokenized dataset with ``labels``), the same optimiser
(AdamW, betas 0.9/0.95, weight decay 0.1, clip 1.0), the same linear schedule to 0
with no warmup, one epoch, the same sequence length, micro-batch and accumulation,
fp32 on CPU / bf16 autocast on GPU, SDPA attention, in manifest order
(TRL: ``train_sampling_strategy="sequential"``). Packing is compared off and on
(TRL: best-fit-decreasing packing, padding-free; mixwise: greedy in-order packing,
both with per-sample position ids).

Every trainer runs in its own subprocess (clean peak memory). Reported per run:
tokens/s (all non-padding tokens, and trained response tokens) over the training
loop, end-to-end seconds, peak memory (GPU allocated, or process max RSS on CPU),
the loss curve, and the final loss measured the same way for both: the mean
response-token loss of the final model over the whole manifest. On CUDA also the
model-FLOPs utilisation (6 x non-embedding params per token + the LM head on the
trained tokens, against the GPU's dense bf16 peak).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data" / "instruct"
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0}


def build_manifest(out: Path, samples: int) -> Path:
    """A manifest of half LIMA (long answers), half dolly_hhrlhf (short) rows, interleaved, as a real manifest record."""
    import polars as pl

    from mixwise.curate.ingest import ingest
    from mixwise.mixing.manifest import store_rows
    from mixwise.workspace import Workspace

    ws = Workspace(out / "ws")
    ingest(str(SHARED / "lima_train.json"), ws, name="lima", limit=samples // 2)
    ingest(str(SHARED / "dolly_hhrlhf_small.jsonl"), ws, name="dolly", limit=samples - samples // 2)
    rows = ws.samples()
    rows = pl.concat([rows.filter(pl.col("source") == s).with_row_index("k") for s in ("lima", "dolly")]).sort("k").drop("k")
    return store_rows("bench", rows, out / "manifests", description="train benchmark: LIMA and dolly_hhrlhf interleaved").path


def settings(a) -> dict:
    return {"max_length": a.max_length, "batch_size": a.batch, "micro_batch_size": a.micro, "lr": a.lr, "lr_end": 0.0,
            "epochs": 1, "shuffle": False, "residual_dropout": 0.0, "weight_decay": 0.1, "betas": [0.9, 0.95],
            "max_grad_norm": 1.0, "warmup_steps": 0, "small_batch_size": None, "small_residual_dropout": None,
            "bf16": "auto"}


def eval_loss(model_dir: str, manifest: Path, a) -> float:
    """Mean response-token loss of a saved model over the whole manifest (same code for both trainers)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixwise.finetune.data import load_rows, tokenize
    from mixwise.records import Manifest
    from mixwise.finetune.model import TrainedTokenLoss
    from mixwise.finetune.packing import collate

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").to(a.device).eval()
    data = tokenize(load_rows(Manifest.read(manifest)), tok, max_length=a.max_length)
    loss, total, n = TrainedTokenLoss(model), 0.0, 0
    with torch.no_grad():
        for i in range(0, len(data), a.micro):
            b = collate(data, [[j] for j in range(i, min(i + a.micro, len(data)))], pad_id=tok.pad_token_id, packed=False).to(a.device)
            s, k = loss(b.input_ids, b.position_ids, b.attention_mask, b.targets)
            total, n = total + float(s), n + int(k)
    return total / n


def peak_memory(device: str) -> float:
    from mixwise.finetune.record import peak_memory_mib

    return peak_memory_mib(device)


def worker_mixwise(a, manifest: Path, out: Path) -> dict:
    from mixwise.finetune.train import train

    t0 = time.perf_counter()
    res = train(manifest, a.model, recipe="quick", overrides={**settings(a), "packing": a.packing == "on"},
                out=out, run_name="mixwise", device=a.device)
    wall = time.perf_counter() - t0
    r, t = res.record, res.record["throughput"]
    return {"tokens_per_s": t["tokens_per_s"], "trained_tokens_per_s": t["trained_tokens_per_s"], "loop_seconds": t["seconds"],
            "end_to_end_seconds": round(wall, 2), "tokens": t["tokens"], "trained_tokens": t["trained_tokens"],
            "peak_memory_mib": peak_memory(a.device), "steps": r["steps"], "loss_curve": [p["loss"] for p in r["loss_curve"]],
            "model_dir": str(res.run_dir / "checkpoint")}


def worker_trl(a, manifest: Path, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from mixwise.finetune.data import load_rows, tokenize
    from mixwise.records import Manifest
    from mixwise.models import resolve_model_path

    t0 = time.perf_counter()
    path = resolve_model_path(a.model)
    tok = AutoTokenizer.from_pretrained(path)
    data = tokenize(load_rows(Manifest.read(manifest)), tok, max_length=a.max_length)
    labels = [[int(t) if m else -100 for t, m in zip(ids, mask)] for ids, mask in zip(data.input_ids, data.trained)]
    ds = Dataset.from_dict({"input_ids": [ids.tolist() for ids in data.input_ids], "labels": labels})
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    cuda = a.device.startswith("cuda")
    cfg = SFTConfig(output_dir=str(out / "trl"), per_device_train_batch_size=a.micro, gradient_accumulation_steps=a.batch // a.micro,
                    num_train_epochs=1, learning_rate=a.lr, lr_scheduler_type="linear", warmup_steps=0, adam_beta1=0.9,
                    adam_beta2=0.95, weight_decay=0.1, max_grad_norm=1.0, logging_steps=1, save_strategy="no", report_to=[],
                    bf16=cuda, use_cpu=not cuda, optim="adamw_torch_fused" if cuda else "adamw_torch", max_length=a.max_length,
                    packing=a.packing == "on", packing_strategy="bfd", train_sampling_strategy="sequential", seed=0,
                    dataloader_num_workers=0, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    metrics = trainer.train().metrics
    wall = time.perf_counter() - t0
    peak = peak_memory(a.device)
    trainer.save_model(str(out / "trl-final"))
    tokens = sum(len(x) for x in data.input_ids)
    trained = sum(int(m[1:].sum()) for m in data.trained)
    secs = metrics["train_runtime"]
    return {"tokens_per_s": round(tokens / secs, 1), "trained_tokens_per_s": round(trained / secs, 1), "loop_seconds": secs,
            "end_to_end_seconds": round(wall, 2), "tokens": tokens, "trained_tokens": trained, "peak_memory_mib": peak,
            "steps": trainer.state.global_step, "loss_curve": [h["loss"] for h in trainer.state.log_history if "loss" in h],
            "model_dir": str(out / "trl-final")}


def model_flops_per_s(a, result: dict) -> float | None:
    """Useful model FLOPs/s: 6 x non-embedding params per token + 6 x vocab x hidden per trained token (the LM head)."""
    from transformers import AutoConfig

    from mixwise.models import resolve_model_path

    c = AutoConfig.from_pretrained(resolve_model_path(a.model))
    c = getattr(c, "text_config", c)
    d, v, L = c.hidden_size, c.vocab_size, c.num_hidden_layers
    hd = getattr(c, "head_dim", d // c.num_attention_heads)
    per_layer = d * hd * (2 * c.num_attention_heads + 2 * c.num_key_value_heads) + 3 * d * c.intermediate_size
    flops = 6 * L * per_layer * result["tokens"] + 6 * v * d * result["trained_tokens"]
    return flops / result["loop_seconds"]


def run_worker(a) -> None:
    out = Path(a.out_dir)
    manifest = Path(a.manifest)
    res = (worker_mixwise if a.worker == "mixwise" else worker_trl)(a, manifest, out)
    res["final_loss"] = round(eval_loss(res.pop("model_dir"), manifest, a), 5)
    if a.device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        fps = model_flops_per_s(a, res)
        res.update(gpu=name, model_tflops_per_s=round(fps / 1e12, 2), mfu=round(fps / (peak * 1e12), 4) if peak else None)
    Path(a.result).write_text(json.dumps(res))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny-random")
    p.add_argument("--device", default="cpu")
    p.add_argument("--samples", type=int, default=48)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--micro", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--packing", choices=["off", "on", "both"], default="both")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "train.json"))
    p.add_argument("--worker", choices=["mixwise", "trl"], help=argparse.SUPPRESS)
    p.add_argument("--manifest", help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        run_worker(a)
        return {}
    tmp = Path(tempfile.mkdtemp(prefix="mixwise-bench-train-"))
    manifest = build_manifest(tmp, a.samples)
    results: dict = {"settings": {k: v for k, v in vars(a).items() if k not in ("worker", "manifest", "out_dir", "result")},
                     "note": "both trainers measured in the same run, alternating; ratios are mixwise / TRL", "runs": {}}
    for packing in (["off", "on"] if a.packing == "both" else [a.packing]):
        for who in ("mixwise", "trl"):
            res_file = tmp / f"{who}-{packing}.json"
            cmd = [sys.executable, __file__, "--worker", who, "--manifest", str(manifest), "--out-dir", str(tmp / f"{who}-{packing}"),
                   "--result", str(res_file), "--packing", packing, "--model", a.model, "--device", a.device,
                   "--max-length", str(a.max_length), "--batch", str(a.batch), "--micro", str(a.micro), "--lr", str(a.lr)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{who} (packing {packing}) failed:\n{proc.stderr[-4000:]}")
            r = json.loads(res_file.read_text())
            results["runs"][f"{who}/packing-{packing}"] = r
            print(f"{who:8s} packing {packing:3s}: {r['tokens_per_s']:9.1f} tok/s  {r['trained_tokens_per_s']:9.1f} trained tok/s  "
                  f"peak {r['peak_memory_mib']:8.1f} MiB  steps {r['steps']}  final loss {r['final_loss']:.4f}"
                  + (f"  MFU {r['mfu']:.1%}" if r.get("mfu") is not None else ""), flush=True)
        m, t = results["runs"][f"mixwise/packing-{packing}"], results["runs"][f"trl/packing-{packing}"]
        ratio = {"tokens_per_s": round(m["tokens_per_s"] / t["tokens_per_s"], 3),
                 "peak_memory": round(m["peak_memory_mib"] / t["peak_memory_mib"], 3),
                 "final_loss_rel_diff": round(abs(m["final_loss"] - t["final_loss"]) / t["final_loss"], 4)}
        results[f"ratio/packing-{packing}"] = ratio
        print(f"ratio mixwise/TRL packing {packing}: throughput x{ratio['tokens_per_s']}, peak memory x{ratio['peak_memory']}, "
              f"final loss differs by {ratio['final_loss_rel_diff']:.2%}", flush=True)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(results, indent=2))
    print(f"wrote {a.json}")
    return results


if __name__ == "__main__":
    main()
