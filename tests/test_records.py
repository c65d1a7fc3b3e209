"""Records: files written by release 0.1.0 still read, manifests keep their bytes and versions, bad files fail clearly.

``tests/fixtures/records_v1/`` was written by the release's own code (see its
``generate.py``): two versions of one mixture (before and after the scoring
stages ran), a run trained on each, their ``eval mc`` results and judge sets.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mixwise.errors import InputError
from mixwise.records import (JudgeSummary, Manifest, McResults, RunRecord, read_judge_items, read_mc_items, read_run_scores)
from mixwise.records.base import json_text

V1 = Path(__file__).resolve().parent / "fixtures" / "records_v1"
SOURCE = json.loads((V1 / "SOURCE.json").read_text())
BEFORE, AFTER = SOURCE["manifests"]["before"], SOURCE["manifests"]["after"]


def test_release_manifests_read_and_keep_their_bytes_and_versions():
    for version in (BEFORE, AFTER):
        path = V1 / "manifests" / "mini" / version
        m = Manifest.read(path)
        assert m.version == version and m.content_version() == version and m.folder == path
        assert json_text(m.to_dict(), sort_keys=True) == (path / "manifest.json").read_text()  # byte for byte
    before, after = Manifest.read(V1 / "manifests" / "mini" / BEFORE), Manifest.read(V1 / "manifests" / "mini" / AFTER)
    assert after.parent == BEFORE and before.parent is None
    # built before the scoring stages ran: those axes are not recorded (None), not empty
    assert (before.composition.by_style, before.composition.by_cluster, before.composition.by_quality) == (None, None, None)
    assert before.composition.shares("style") is None and before.composition.shares("source")["chef"] == pytest.approx(0.4)
    assert after.composition.shares("style") == {"concise": pytest.approx(1 / 3), "long_form": pytest.approx(2 / 3)}
    assert after.composition.shares("cluster")["1 python code"] == pytest.approx(1 / 3)
    assert after.samples(["id"]).height == after.counts.samples == 15


def test_the_same_inputs_give_the_release_versions(ws, tmp_path):
    """Today's code rebuilds the release's manifests with the same versions (the sequence of generate.py)."""
    from mixwise.curate.quality import score_workspace
    from mixwise.mixing.manifest import build_manifest
    from mixwise.mixing.spec import parse_spec
    from tests.mix_fixtures import add_dedup_columns, add_stage_columns, build_workspace

    spec = {"name": "mini", "seed": 11, "dedup": {"drop": ["exact"]}, "components": [
        {"name": "food", "filter": {"source": "chef"}, "count": 6},
        {"name": "code", "filter": {"source": "coder"}, "count": 5},
        {"name": "space", "filter": {"source": "stars"}, "count": 4}]}
    build_workspace(ws, tmp_path)
    before = build_manifest(parse_spec(spec), ws, tmp_path / "manifests")
    assert before.manifest.version == BEFORE
    add_stage_columns(ws)
    add_dedup_columns(ws)
    score_workspace(ws)
    after = build_manifest(parse_spec(spec), ws, tmp_path / "manifests")
    # a change of the quality stage's rules changes its config hash, and so this version: then regenerate the fixtures
    assert after.manifest.version == AFTER
    assert after.manifest.to_dict() | {"created_at": "", "tool": {}} == (
        json.loads((V1 / "manifests" / "mini" / AFTER / "manifest.json").read_text()) | {"created_at": "", "tool": {}})


def test_release_run_records_migrate_on_read():
    for name, version in (("before", BEFORE), ("after", AFTER)):
        raw = json.loads((V1 / "runs" / name / "run.json").read_text())
        assert "schema_version" not in raw  # release 0.1.0 wrote none
        rec = RunRecord.read(V1 / "runs" / name)
        assert rec.schema_version == 1 and rec.manifest.ref == f"mini@{version}" and rec.steps == 2
        assert rec.final_loss == rec.loss_curve[-1].loss and rec.data.masking.per_source["chef"].samples == 6
        assert rec.to_dict() == {"schema_version": 1, **raw}  # nothing lost, nothing invented


def test_release_eval_results_read(tmp_path):
    after = McResults.read(V1 / "runs" / "after" / "eval" / "mc" / "demo")
    assert after.schema_version == 1 and after.limit == 8
    assert after.tasks["demo_addition"].metric == "acc_norm" and after.tasks["demo_sum_words"].acc_norm is None
    items = read_mc_items(V1 / "runs" / "after" / "eval" / "mc" / "demo" / "items" / "demo_sum_words.jsonl")
    assert len(items) == 8 and items[0].generation is not None and items[0].choices is None
    pairwise = JudgeSummary.read(V1 / "runs" / "after" / "eval" / "judge" / "base__pairwise__prompts")
    likert = JudgeSummary.read(V1 / "runs" / "after" / "eval" / "judge" / "base__likert__prompts")
    assert pairwise.position is not None and pairwise.model_score is None
    assert likert.position is None and likert.model_score is not None and likert.judge.kind == "single"
    judged = read_judge_items(V1 / "runs" / "after" / "eval" / "judge" / "base__pairwise__prompts")
    assert [it.id for it in judged] == [f"q{i}" for i in range(9)] and judged[0].judgments[0].model_pref == 0.0
    # a record written by this release reads back equal
    again = tmp_path / "results.json"
    after.write(again)
    assert McResults.read(again) == after


def test_one_view_of_mc_and_judge_scores():
    before = read_run_scores(V1 / "runs" / "before")
    after = read_run_scores(V1 / "runs" / "after")
    assert set(after.tasks) == {"demo_addition", "demo_sum_words", "judge:base__pairwise__prompts", "judge:base__likert__prompts"}
    mc, judge = after.tasks["demo_addition"], after.tasks["judge:base__pairwise__prompts"]
    assert (mc.metric, mc.n, sorted(mc.items)) == ("acc_norm", 8, list(range(8)))
    assert mc.score == pytest.approx(sum(mc.items.values()) / 8)
    assert (judge.metric, judge.n, judge.score) == ("win_rate", 9, 0.0) and set(judge.items) == {f"q{i}" for i in range(9)}
    assert before.tasks["demo_addition"].n == 12


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "v1"
    shutil.copytree(V1, dest)
    return dest


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_missing_or_wrong_field_names_file_field_and_fix(tmp_path):
    root = _copy(tmp_path)
    folder = root / "manifests" / "mini" / AFTER
    _edit(folder / "manifest.json", lambda d: d["composition"]["by_style"]["long_form"].pop("samples"))
    with pytest.raises(InputError) as e:
        Manifest.read(folder)
    msg = e.value.line()
    assert str(folder / "manifest.json") in msg and "'composition.by_style.long_form.samples' is missing" in msg
    assert "mixwise mix SPEC.yaml" in msg
    _edit(folder / "manifest.json", lambda d: d["composition"]["by_style"]["long_form"].update(samples="10"))
    with pytest.raises(InputError, match=r"'composition.by_style.long_form.samples' is a string \('10'\), expected an integer"):
        Manifest.read(folder)
    _edit(folder / "manifest.json", lambda d: d["composition"]["by_style"]["long_form"].update(samples=10, share=0.5))
    with pytest.raises(InputError, match="'composition.by_style.long_form.share' is not part of this schema"):
        Manifest.read(folder)
    def newer(d: dict) -> None:
        d["composition"]["by_style"]["long_form"].pop("share")
        d["schema_version"] = 2

    _edit(folder / "manifest.json", newer)
    with pytest.raises(InputError, match="schema_version 2, newer than this mixwise reads"):
        Manifest.read(folder)
    run = root / "runs" / "after" / "run.json"
    _edit(run, lambda d: d["manifest"].pop("version"))
    with pytest.raises(InputError, match=r"run record field 'manifest.version' is missing; re-create the run with: mixwise train"):
        RunRecord.read(run)


def test_a_missing_metric_in_an_item_is_an_error_not_a_zero(tmp_path):
    root = _copy(tmp_path)
    items = root / "runs" / "after" / "eval" / "mc" / "demo" / "items" / "demo_addition.jsonl"
    lines = items.read_text().splitlines()
    record = json.loads(lines[2])
    del record["acc_norm"]
    items.write_text("\n".join(lines[:2] + [json.dumps(record)] + lines[3:]) + "\n")
    with pytest.raises(InputError, match=r"demo_addition.jsonl:3: eval mc item field 'acc_norm' is missing"):
        read_run_scores(root / "runs" / "after")
    items.write_text("\n".join(lines[:5]) + "\n")  # fewer items than results.json says were scored
    with pytest.raises(InputError, match=r"holds 5 distinct items but results.json says n=8"):
        read_run_scores(root / "runs" / "after")
    judged = root / "runs" / "before" / "eval" / "judge" / "base__pairwise__prompts" / "items.jsonl"
    lines = judged.read_text().splitlines()
    record = json.loads(lines[0])
    del record["pref"]
    judged.write_text("\n".join([json.dumps(record)] + lines[1:]) + "\n")
    with pytest.raises(InputError, match=r"items.jsonl:1: judge item field 'pref' is missing; re-run: mixwise eval judge"):
        read_run_scores(root / "runs" / "before")
