"""``mixwise eval mc`` / ``eval tasks`` end to end on the tiny random model."""

from __future__ import annotations

import json
import shutil

import pytest

from mixwise.errors import SpecError


def test_eval_tasks_lists_the_suite(cli):
    r = cli("eval", "tasks", "--suite", "gauntlet", "--json")
    rows = json.loads(r.stdout)
    by = {x["task"]: x for x in rows}
    assert by["arc_easy"]["random_baseline"] == 0.25 and by["arc_easy"]["num_fewshot"] == 3
    assert by["lambada_openai"]["type"] == "language_modeling" and "mmlu_anatomy" in by


def test_unknown_task_fails_with_did_you_mean(cli):
    with pytest.raises(SpecError, match="did you mean 'winogrande'"):
        cli("eval", "mc", "tiny-random", "--tasks", "winogrand")


@pytest.mark.slow
def test_eval_mc_json_and_files(cli, tmp_path, shared_data):
    out = tmp_path / "res"
    r = cli("eval", "mc", "tiny-random", "--tasks", "arc_easy,lambada_openai", "--limit", "3",
            "--data-dir", str(shared_data / "mc" / "gauntlet"), "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data["tasks"]) == {"arc_easy", "lambada_openai"}
    assert all(v["n"] == 3 and 0 <= v["acc"] <= 1 for v in data["tasks"].values())
    res = out / "tiny-random" / "mc" / "custom"
    saved = json.loads((res / "results.json").read_text())
    assert saved["tasks"]["arc_easy"]["acc"] == data["tasks"]["arc_easy"]["acc"]
    items = [json.loads(x) for x in (res / "items" / "arc_easy.jsonl").read_text().splitlines()]
    assert len(items) == 3 and {"prompt", "choices", "loglik", "pred", "gold", "acc", "acc_norm"} <= set(items[0])
    assert set(saved["gauntlet"]["categories"]) == {"world_knowledge", "language_understanding"}


@pytest.mark.slow
def test_suite_skips_tasks_without_data_and_writes_into_the_run(cli, tmp_path, shared_data):
    from tests.record_helpers import fixture_run

    data = tmp_path / "data"  # only one MMLU subject present: the other 56 are skipped with a warning
    for split in ("dev", "val"):
        (data / "mmlu" / split).mkdir(parents=True)
        shutil.copy(shared_data / "mc" / "mmlu" / split / f"anatomy_{split}.csv", data / "mmlu" / split)
    run = fixture_run(tmp_path / "runs" / "r1")
    r = cli("eval", "mc", str(run), "--suite", "mmlu", "--limit", "2", "--data-dir", str(data), "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert list(payload["tasks"]) == ["mmlu_anatomy"] and payload["groups"]["mmlu"]["n"] == 2
    assert (run / "eval" / "mc" / "mmlu" / "results.json").is_file()
