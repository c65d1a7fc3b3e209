"""``mixwise demo`` end to end, as the README's first command runs it (fewer rows): every step, then its next commands."""

from __future__ import annotations

import io
import json
import shlex

import pytest
from rich.console import Console
from typer.testing import CliRunner


@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_its_next_commands_work(tmp_path, monkeypatch):
    from mixwise.cli import app
    from mixwise.demo import STEPS, run_demo

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIXWISE_HOME", raising=False)
    monkeypatch.delenv("MIXWISE_MANIFESTS", raising=False)
    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    ctx = run_demo(tmp_path / "demo", rows=150, seed=0, console=console)
    text = console.export_text()
    for name, _ in STEPS:
        assert f"{name} took" in text, f"step {name} did not finish"

    # two mixtures -> two runs -> both evaluated -> attributed
    runs = ctx.notes["runs"]
    assert list(runs) == ["sharegpt-random", "sharegpt-diverse-long"]
    assert set(ctx.notes["eval_mc"]) == set(runs)
    report = ctx.notes["attribute"]
    assert report["baseline"]["run"] == "sharegpt-random"
    comp = report["comparisons"][0]
    assert comp["run"] == "sharegpt-diverse-long"
    # the diverse mixture takes only long-form answers, so that style's share must rise
    assert comp["composition"]["style"]["long_form"] > 0.2
    assert "quality: refusals and truncated answers left out" in ctx.notes["mix"]["notes"]
    s = comp["scores"]["demo_addition"]
    assert s["n"] == 24 and s["lo"] <= s["delta"] <= s["hi"]
    assert s["delta"] == pytest.approx(s["score"] - s["base"])
    for name, run in runs.items():
        record = json.loads((tmp_path / "demo" / "runs" / name / "run.json").read_text())
        assert record["manifest"]["name"] == name and record["steps"] == 3

    # every suggested command runs against what the demo wrote (paths are relative to the current folder)
    block = text[text.index("next"):]
    cmds = [line.split(": ", 1)[1] for line in block.splitlines() if ": mixwise " in line]
    assert len(cmds) == 7, block
    runner = CliRunner()
    for cmd in cmds:
        args = shlex.split(cmd)
        assert args[0] == "mixwise"
        res = runner.invoke(app, args[1:], catch_exceptions=False)
        assert res.exit_code == 0, f"{cmd}\n{res.output}"
    attribute_out = runner.invoke(app, shlex.split(cmds[-1])[1:] + ["--json"], catch_exceptions=False).output
    assert json.loads(attribute_out)["comparisons"][0]["composition"] == comp["composition"]
    assert "open demo/map.html in a browser" in text
