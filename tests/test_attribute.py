"""Attribution: composition deltas from real manifests, score deltas from real eval mc results."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mixwise.errors import InputError
from mixwise.evaluate.attribute import RunScores, composition_fit, paired_delta
from mixwise.mixing.manifest import build_manifest, store_rows
from mixwise.mixing.spec import parse_spec
from tests.finetune_helpers import rows_from_pairs
from tests.mix_fixtures import add_stage_columns, build_workspace
from tests.record_helpers import fixture_run
from tests.test_judge_http import _gens, rule_judge  # noqa: F401 - rule_judge is a fixture
from tests.test_records import BEFORE, V1


def test_paired_delta_and_its_interval():
    a = {i: float(i % 2) for i in range(40)}
    b = {i: 1.0 for i in range(40)} | {99: 0.0}  # item 99 is not shared: ignored
    d = paired_delta(a, b, bootstrap=500, seed=1)
    assert d["p"] < 0.01 and d["n"] == 40 and d["delta"] == pytest.approx(0.5) and d["unpaired"] == {"a": 0, "b": 1}
    assert d["b_mean"] - d["a_mean"] == pytest.approx(d["delta"])
    assert 0.3 < d["lo"] < 0.5 < d["hi"] < 0.7
    same = paired_delta(a, a, bootstrap=200)
    assert (same["delta"], same["lo"], same["hi"]) == (0.0, 0.0, 0.0)
    assert paired_delta(a, {1000: 1.0})["n"] == 0


def _runs(shares, slope, *, items=400, seed=0, manifests=None):
    """Runs whose per-item scores rise with the multiple_choice share (binary items, a known slope)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.6, items)
    out = []
    for i, s in enumerate(shares):
        p = np.clip(base + slope * s, 0, 1)
        acc = {k: float(rng.random() < p[k]) for k in range(items)}
        flat = {k: float(rng.random() < base[k]) for k in range(items)}
        out.append(RunScores(f"r{i}", (manifests or [f"m{i}" for i in range(len(shares))])[i],
                             {"style": {"multiple_choice": s, "long_form": 1 - s}},
                             {"mmlu": float(np.mean(list(acc.values()))), "flat": float(np.mean(list(flat.values())))},
                             {"mmlu": "acc", "flat": "acc"}, {"mmlu": acc, "flat": flat}))
    return out


def test_the_fit_across_runs_finds_the_moved_task_and_its_direction():
    fit = composition_fit(_runs([0.0, 0.3, 0.6, 0.9], slope=0.3, seed=1), "style", draws=500)  # (seed 0 gives flat q=0.03: the 5% it should)
    assert fit["variables"] == ["long_form", "multiple_choice"] and fit["moved"] == ["mmlu"]
    mmlu = fit["tasks"]["mmlu"]
    assert mmlu["model"] in ("linear", "quadratic") and mmlu["terms"][:2] == ["long_form", "multiple_choice"]
    assert mmlu["beta"][1] - mmlu["beta"][0] == pytest.approx(0.3, abs=0.1)  # pure-multiple_choice minus pure-long_form
    assert "trained once" in fit["note"]  # one run per mixture: seed noise is not in the intervals


def test_too_few_mixtures_for_the_fit_gives_pairwise_deltas_only():
    fit = composition_fit(_runs([0.0, 0.9], slope=0.3), "style", draws=200)
    assert fit["tasks"]["mmlu"]["model"] is None and "2 distinct cells" in fit["tasks"]["mmlu"]["refused"]
    # two runs of the same manifest are replicates of one mixture, not a second mixture
    fit = composition_fit(_runs([0.0, 0.0, 0.9], slope=0.3, manifests=["a", "a", "b"]), "style", draws=200)
    assert fit["cells"] == ["a", "b"] and fit["tasks"]["mmlu"]["replicate_sd"] is not None and fit["tasks"]["mmlu"]["refused"]


@pytest.mark.slow
def test_attribute_on_real_runs(cli, ws, tmp_path, shared_data):
    """Three runs on real manifests, each evaluated by `eval mc`: same model, so every score delta is exactly 0."""
    build_workspace(ws, tmp_path)
    add_stage_columns(ws)
    runs, paths = [], []
    for name, chef, coder in (("base", 8, 2), ("more_code", 4, 6), ("all_code", 0, 8)):
        spec = parse_spec({"name": name, "seed": 3, "components": [
            {"name": "food", "filter": {"source": "chef"}, "count": chef},
            {"name": "code", "filter": {"source": "coder"}, "count": coder}] if chef else [
            {"name": "code", "filter": {"source": "coder"}, "count": coder}]})
        built = build_manifest(spec, ws, tmp_path / "manifests")
        run = fixture_run(tmp_path / "runs" / name, built.manifest)
        r = cli("eval", "mc", str(run), "--tasks", "arc_easy", "--limit", "6", "--data-dir", str(shared_data / "mc" / "gauntlet"))
        assert r.exit_code == 0, r.output
        runs.append(str(run))
        paths.append(built.manifest)
    r = cli("attribute", *runs, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["baseline"]["run"] == "base" and [c["run"] for c in rep["comparisons"]] == ["more_code", "all_code"]
    comp = rep["comparisons"][0]["composition"]["source"]
    assert comp["coder"] == pytest.approx(0.4) and comp["chef"] == pytest.approx(-0.4)
    assert rep["comparisons"][1]["composition"]["source"]["coder"] == pytest.approx(0.8)
    score = rep["comparisons"][1]["scores"]["arc_easy"]
    assert score["n"] == 6 and (score["delta"], score["lo"], score["hi"]) == (0.0, 0.0, 0.0)
    assert rep["fit"]["axis"] == "style" and rep["fit"]["tasks"]["arc_easy"]["model"] == "linear"
    assert rep["fit"]["moved"] == [] and score["q"] == 1.0
    text = cli("attribute", *runs)
    assert text.exit_code == 0 and "scores vs baseline" in text.output and "score ~ style shares across 3 mixtures" in text.output
    with pytest.raises(InputError, match="at least two runs"):
        cli("attribute", runs[0])
    from mixwise.evaluate.attribute import load_run

    bare = fixture_run(tmp_path / "runs" / "bare", paths[0])
    with pytest.raises(InputError, match="no eval results"):
        load_run(bare)
    with pytest.raises(InputError, match="no eval result set 'gauntlet'"):
        load_run(runs[0], "gauntlet")


def _run_folder(root, name: str, style_shares: dict[str, int]):
    """A run folder on the tiny-random checkpoint whose manifest has the given style composition."""
    styles = [s for s, n in style_shares.items() for _ in range(n)]
    rows = rows_from_pairs([("src", f"Question {i}?", f"Answer {i}.") for i in range(len(styles))])
    built = store_rows(name, rows.with_columns(pl.Series("style", styles)), root / "manifests")
    return fixture_run(root / "runs" / name, built.manifest)


@pytest.mark.slow
def test_judge_results_of_runs_are_attributed(cli, rule_judge, tmp_path):
    """`eval judge runs/<run>` writes into the run; attribute pairs the two runs' judge sets prompt by prompt (real HTTP)."""
    url, state = rule_judge
    prompts, _, base = _gens(tmp_path)
    run_a = _run_folder(tmp_path, "mc_heavy", {"multiple_choice": 9, "long_form": 1})
    run_b = _run_folder(tmp_path, "long_heavy", {"multiple_choice": 2, "long_form": 8})
    common = ["--baseline", str(base), "--prompts", str(prompts), "--judge-base-url", url, "--judge-model", "rule-judge",
              "--cache", str(tmp_path / "cache.sqlite"), "--json"]
    # run A: answers generated by its own checkpoint; results land in the run folder by default
    a = cli("eval", "judge", str(run_a), "--max-new-tokens", "48", *common)
    assert a.exit_code == 0, a.output
    set_name = "base__pairwise__prompts"
    summary_a = json.loads((run_a / "eval" / "judge" / set_name / "summary.json").read_text())
    assert 0 < summary_a["win_rate"] < 100  # random-token answers: longer than some baseline answers, not all
    # run B: answers from a file, all longer than the baseline's, so this judge prefers B every time
    long = tmp_path / "long.jsonl"
    long.write_text("".join(json.dumps({"id": f"q{i}", "output": "L" * 1000}) + "\n" for i in range(9)))
    b = cli("eval", "judge", str(long), *common, "--out", str(run_b / "eval" / "judge" / set_name))
    assert b.exit_code == 0, b.output
    assert json.loads(b.stdout)["win_rate"] == 100.0
    r = cli("attribute", str(run_a), str(run_b), "--json", "--bootstrap", "500")
    assert r.exit_code == 0, r.output
    score = json.loads(r.stdout)["comparisons"][0]["scores"][f"judge:{set_name}"]
    assert score["metric"] == "win_rate" and score["score"] == 1.0 and score["n"] == 9
    assert score["base"] == pytest.approx(summary_a["win_rate"] / 100)
    items_a = [json.loads(line)["pref"] for line in (run_a / "eval" / "judge" / set_name / "items.jsonl").read_text().splitlines()]
    assert score["delta"] == pytest.approx(sum(1.0 - p for p in items_a) / 9)  # paired by prompt id
    assert score["lo"] <= score["delta"] <= score["hi"]
    comp = json.loads(r.stdout)["comparisons"][0]["composition"]["style"]
    assert comp["long_form"] == pytest.approx(0.7) and comp["multiple_choice"] == pytest.approx(-0.7)
    shown = cli("attribute", str(run_a), str(run_b))
    assert shown.exit_code == 0 and "judge:base" in shown.output and "win_rate" in shown.output
    assert f"{round(score['delta'] * 100, 1):+.1f} pts" in shown.output


def _release_runs(tmp_path, monkeypatch):
    """The runs of tests/fixtures/records_v1 (release 0.1.0): 'before' the scoring stages ran, 'after' them."""
    import shutil


    root = tmp_path / "v1"
    shutil.copytree(V1, root)
    monkeypatch.setenv("MIXWISE_MANIFESTS", str(root / "manifests"))  # the paths in the run records point nowhere now
    return root / "runs" / "before", root / "runs" / "after"


def test_attribute_pairs_items_and_says_what_is_not_recorded(tmp_path, monkeypatch):
    """Release files: the baseline scored 12 items, the run its first 8; the baseline's manifest has no style axis."""
    import io

    from rich.console import Console

    from mixwise.evaluate.attribute import attribute
    from mixwise.records import read_mc_items
    from mixwise.views.attribute import render_report

    before, after = _release_runs(tmp_path, monkeypatch)
    rep = attribute([before, after], bootstrap=500)
    comp = rep["comparisons"][0]
    # style, cluster and quality were not recorded for the baseline: no invented shift from 0
    assert set(comp["not_recorded"]) == {"style", "cluster", "quality"} and "style" not in comp["composition"]
    assert comp["not_recorded"]["style"] == {"missing_in": "baseline", "manifest": f"mini@{BEFORE}",
                                             "hint": "re-run `mixwise mix` after `mixwise style`"}
    s = comp["scores"]["demo_addition"]
    items = lambda run: {it.idx: it.acc_norm for it in read_mc_items(run / "eval" / "mc" / "demo" / "items" / "demo_addition.jsonl")}  # noqa: E731
    a, b = items(before), items(after)
    assert (s["n"], s["unpaired"]) == (8, {"base": 4, "run": 0})
    assert s["base_paired"] == pytest.approx(sum(a[i] for i in range(8)) / 8) and s["score_paired"] == pytest.approx(sum(b.values()) / 8)
    assert s["delta"] == pytest.approx(s["score_paired"] - s["base_paired"]) and s["lo"] <= s["delta"] <= s["hi"]
    assert s["base"] == pytest.approx(sum(a.values()) / 12)  # the baseline's own score, over all its 12 items
    assert comp["tasks_only_in"] == {"judge:base__likert__prompts": "run"}
    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    render_report(rep, console)
    text = console.export_text()
    style_row = next(line for line in text.splitlines() if line.strip().startswith("style"))
    assert f"not recorded in baseline (mini@{BEFORE}); re-run `mixwise mix` after `mixwise style`" in style_row
    assert "demo_addition: 4 items scored only by the baseline, 0 only by this run" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("demo_addition"))
    assert f"{s['base_paired']:.3f}" in row and f"{s['score_paired']:.3f}" in row and row.split()[-2] == "8"  # n, then q
    assert "not compared: judge:base__likert__prompts (only the run has it)" in text


def test_a_missing_metric_stops_attribution(tmp_path, monkeypatch):
    from mixwise.evaluate.attribute import attribute

    before, after = _release_runs(tmp_path, monkeypatch)
    items = after / "eval" / "mc" / "demo" / "items" / "demo_addition.jsonl"
    lines = items.read_text().splitlines()
    items.write_text("\n".join(lines[:1] + [lines[1].replace('"acc_norm":', '"acc_nrom":')] + lines[2:]) + "\n")
    with pytest.raises(InputError, match=r"demo_addition.jsonl:2: eval mc item field 'acc_nrom' is not part of this schema"):
        attribute([before, after])
    items.write_text("\n".join(lines[:1] + [json.dumps({k: v for k, v in json.loads(lines[1]).items() if k != "acc_norm"})]
                               + lines[2:]) + "\n")
    with pytest.raises(InputError, match=r"demo_addition.jsonl:2: eval mc item field 'acc_norm' is missing"):
        attribute([before, after])
