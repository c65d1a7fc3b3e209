"""``eval judge`` as a Python function (:func:`mixwise.evaluate.judge_run.judge_model`), over real HTTP to a rule judge."""

from __future__ import annotations

import pytest

from mixwise.evaluate.judge_run import JudgeSettings, estimate_judge, judge_model
from mixwise.records import JudgeSummary, read_judge_items
from tests.test_judge_http import EXPECTED_WIN_RATE, _gens, rule_judge  # noqa: F401 - rule_judge is a fixture


def test_judge_model_writes_the_records_and_a_rerun_makes_no_calls(rule_judge, tmp_path, ws):
    url, state = rule_judge
    prompts, model, base = _gens(tmp_path)
    settings = JudgeSettings(baseline=str(base), prompts=str(prompts), judge_base_url=url, judge_model_name="rule-judge",
                             out=tmp_path / "out")
    est = estimate_judge(str(model), settings, ws=ws)
    assert (est["jobs"], est["calls"], state["requests"]) == (18, 18, 0)
    outcome = judge_model(str(model), settings, ws=ws)
    assert state["requests"] == 18 and outcome.summary.win_rate == pytest.approx(EXPECTED_WIN_RATE)
    assert (ws.cache_dir("judge") / "calls.sqlite").is_file()  # the workspace's cache, as the CLI's default
    stored = JudgeSummary.read(outcome.summary_path)
    assert stored.win_rate == outcome.summary.win_rate and stored.run.baseline == str(base) and stored.schema_version == 1
    items = read_judge_items(outcome.items_path)
    assert len(items) == 9 and sum(it.pref for it in items) / 9 * 100 == pytest.approx(EXPECTED_WIN_RATE)
    again = judge_model(str(model), settings, ws=ws)
    assert state["requests"] == 18 and again.summary.client.cache_hits == 18
