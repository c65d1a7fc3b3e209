"""A tiny real study for the tests: three project-written sources, a project-written mc task, tiny-random."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from mixwise.evaluate.tasks import TASKS_DIR
from tests.mix_fixtures import add_stage_columns, build_workspace

REPO = Path(__file__).resolve().parent.parent


def write_task(root: Path, n: int = 16) -> Path:
    """An addition task in llm-foundry's multiple-choice format (4 choices, chance 0.25), and its YAML."""
    rng = random.Random(0)
    rows = []
    for _ in range(n):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        wrong = rng.sample([d for d in range(a + b - 6, a + b + 7) if d != a + b and d > 0], 3)
        choices = [a + b, *wrong]
        rng.shuffle(choices)
        rows.append({"query": f"Question: What is {a} + {b}?", "choices": [str(c) for c in choices], "gold": choices.index(a + b)})
    (root / "data" / "symbolic").mkdir(parents=True, exist_ok=True)
    (root / "data" / "symbolic" / "add.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = root / "add.yaml"
    task.write_text(f"include: {TASKS_DIR / 'gauntlet' / '_mc.yaml'}\ntask: add\nversion: 1\ncategory: symbolic_problem_solving\n"
                    "random_baseline: 0.25\nnum_fewshot: 0\ndataset: {local: symbolic/add.jsonl}\n")
    return task


def make_study(root: Path, *, name: str = "tiny", levels: str = "[0.25, 0.75]", replicates: int = 2, max_steps: int = 2,
               checkpoint_every: int | None = None, recipe_overrides: str = "{}") -> Path:
    """A workspace (chef/coder/stars with style and cluster columns), a base mixture and a sweep study over it."""
    from mixwise.workspace import Workspace

    ws = Workspace(root / "ws")
    if not ws.source_names():
        build_workspace(ws, root)
        add_stage_columns(ws)
        write_task(root)
    (root / "base.yaml").write_text("# base mixture of the test study\nname: basemix\nseed: 3\ncomponents:\n"
                                    "  - {name: chef, filter: {source: chef}, count: 6}\n"
                                    "  - {name: coder, filter: {source: coder}, count: 6}\n")
    ckpt = f", checkpoint_every: {checkpoint_every}" if checkpoint_every else ""
    spec = root / f"{name}.yaml"
    spec.write_text(f"# test study: sweep of chef\nname: {name}\nseed: 1\nbase: base.yaml\n"
                    f"vary: {{design: sweep, component: chef, levels: {levels}}}\nreplicates: {replicates}\n"
                    f"train: {{model: tiny-random, recipe: quick, max_steps: {max_steps}{ckpt}, overrides: {recipe_overrides}}}\n"
                    "eval:\n  - {name: arith, kind: mc, tasks: [add.yaml], data_dir: data}\n")
    return spec


def mixwise(root: Path, *args: str, timeout: int = 900, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (cwd = root, workspace root/ws, studies root/studies)."""
    env = {**os.environ, "MIXWISE_HOME": str(root / "ws"), "MIXWISE_STUDIES": str(root / "studies"),
           "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "mixwise", *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def popen(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MIXWISE_HOME": str(root / "ws"), "MIXWISE_STUDIES": str(root / "studies"),
           "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "mixwise", *args], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
