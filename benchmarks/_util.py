"""Helpers shared by benchmark scripts: run a child process and measure its wall time and peak RSS."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_measured(code: str, env: dict | None = None) -> dict:
    """Run ``python -c code`` in a fresh process; return wall seconds, peak RSS (bytes) and its stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise RuntimeError(f"benchmark child failed:\n{err[-3000:]}")
    return {"seconds": wall, "peak_rss_bytes": usage.ru_maxrss * 1024, "stdout": out.strip(),
            "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
