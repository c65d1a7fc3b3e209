"""Helpers for the embed / cluster / map tests: a small real workspace (Alpaca + GSM8K)."""

from __future__ import annotations

from pathlib import Path

from mixwise.curate.ingest import ingest
from mixwise.workspace import Workspace

ALPACA = "instruct/alpaca_5000.json"
GSM8K = "instruct/gsm8k_train.jsonl"
LIMA = "instruct/lima_train.json"


def small_workspace(root: Path, shared_data: Path, alpaca: int = 60, gsm8k: int = 40) -> Workspace:
    """A workspace with the first ``alpaca`` Alpaca and ``gsm8k`` GSM8K records (real data, read in place)."""
    ws = Workspace.resolve(root)
    ingest(str(shared_data / ALPACA), ws, name="alpaca", limit=alpaca)
    ingest(str(shared_data / GSM8K), ws, name="gsm8k", limit=gsm8k)
    return ws
