"""Unknown is not zero: a composition axis a manifest did not record is named as missing, never compared from 0.

The sequence of issue 15, as a new user runs it: build a mixture, run
``mixwise style``, build the mixture again, then ``diff``, ``manifest show`` and
``attribute`` the two. Before, diff showed ``long_form 0 -> 10, +10`` and
attribute ``long_form +66.7 pts``.
"""

from __future__ import annotations

import json
import random

import pytest

from mixwise.evaluate.tasks import TASKS_DIR
from mixwise.records import Manifest
from tests.mix_fixtures import build_workspace
from tests.record_helpers import fixture_run

SPEC = """name: mini
seed: 11
components:
  - name: food
    filter: {source: chef}
    count: 6
  - name: code
    filter: {source: coder}
    count: 5
  - name: space
    filter: {source: stars}
    count: 4
"""


def addition_task(folder) -> str:
    """A project-written 4-choice arithmetic task (8 items); returns its task file."""
    rng = random.Random(0)
    rows = []
    for _ in range(8):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        choices = [a + b, a + b + 1, a + b - 1, a + b + 2]
        rng.shuffle(choices)
        rows.append({"query": f"Question: What is {a} + {b}?", "choices": [str(c) for c in choices], "gold": choices.index(a + b)})
    (folder / "symbolic_problem_solving").mkdir(parents=True)
    (folder / "symbolic_problem_solving" / "adding.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = folder / "adding.yaml"
    task.write_text(f"include: {TASKS_DIR / 'gauntlet' / '_mc.yaml'}\ntask: adding\nversion: 1\ncategory: symbolic_problem_solving\n"
                    "random_baseline: 0.25\nnum_fewshot: 0\ndataset: {local: symbolic_problem_solving/adding.jsonl}\n")
    return str(task)


@pytest.mark.slow
def test_a_style_run_between_two_mixtures_is_not_a_style_shift(cli, ws, tmp_path):
    build_workspace(ws, tmp_path)
    spec = tmp_path / "mini.yaml"
    spec.write_text(SPEC)
    first = json.loads(cli("mix", str(spec), "--json").stdout)
    assert "by_style" not in first["composition"]
    assert cli("style").exit_code == 0  # the real style stage (shipped model)
    second = json.loads(cli("mix", str(spec), "--json").stdout)
    assert second["parent"] == first["version"] and sum(g["samples"] for g in second["composition"]["by_style"].values()) == 15
    a, b = f"mini@{first['version']}", f"mini@{second['version']}"

    d = json.loads(cli("diff", a, b, "--json").stdout)
    assert "style" not in d["composition"] and "source" in d["composition"]
    assert d["not_recorded"] == {"style": {"missing_in": "A", "hint": "re-run `mixwise mix` after `mixwise style`"}}
    text = cli("diff", a, b).stdout
    assert f"by style: not recorded in A ({a}); re-run `mixwise mix` after `mixwise style`" in " ".join(text.split())
    assert "by style\n" not in text  # no table of deltas from 0
    shown = cli("manifest", "show", a).stdout.splitlines()
    styles = next(i for i, line in enumerate(shown) if "styles" in line)
    assert "styles  not recorded (the style stage had not run)" in shown[styles]
    assert "after `mixwise style`" in " ".join(shown[styles:styles + 2])

    task, runs = addition_task(tmp_path / "tasks"), []
    for name, built in (("first", first), ("second", second)):
        run = fixture_run(tmp_path / "runs" / name, Manifest.read(built["path"]))
        r = cli("eval", "mc", str(run), "--tasks", task, "--data-dir", str(tmp_path / "tasks"))
        assert r.exit_code == 0, r.output
        runs.append(str(run))
    rep = json.loads(cli("attribute", *runs, "--json").stdout)
    comp = rep["comparisons"][0]
    assert "style" not in comp["composition"] and comp["not_recorded"]["style"]["missing_in"] == "baseline"
    assert comp["scores"]["adding"]["n"] == 8 and comp["scores"]["adding"]["delta"] == 0.0  # same untrained model
    assert comp["not_recorded"]["style"]["hint"] == "re-run `mixwise mix` after `mixwise style`"
    text = cli("attribute", *runs).stdout
    assert f"not recorded in baseline ({a})" in next(line for line in text.splitlines() if line.strip().startswith("style"))
    assert "long_form" not in text and "+100.0 pts" not in text
