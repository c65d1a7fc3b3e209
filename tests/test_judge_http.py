"""The judge over real HTTP on 127.0.0.1: end to end, cache, resume, retries, budget, re-asking.

The judge endpoint here is a small rule-following OpenAI-compatible server
written for the tests: it prefers the longer answer (so every expected number
is known), can fail its first N requests with 500/429, and can answer in an
unparsable way. It counts requests server-side.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mixwise.evaluate.judge import make_pairs, run_judge
from mixwise.evaluate.judge_cache import JudgeCache
from mixwise.evaluate.judge_client import Budget, JudgeClient
from mixwise.evaluate.judges import load_judge


class RuleJudgeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state = self.server.state
        with state["lock"]:
            state["requests"] += 1
            n = state["requests"]
        if n <= state["fail_first"]:
            status = 500 if n % 2 else 429
            self._send(status, {"error": {"message": "try again", "type": "server_error", "code": None, "param": None}})
            return
        msgs = body["messages"]
        user = next(m["content"] for m in msgs if m["role"] == "user")
        reasked = msgs[-1]["role"] == "user" and len([m for m in msgs if m["role"] == "user"]) > 1
        if "[Assistant answer]" in user:  # single-answer judges: one point per 100 characters, capped
            answer = user.split("[Assistant answer]\n", 1)[1].split("\n\nGive your reasons", 1)[0]
            text = f"Reasonable.\nScore: {min(6, len(answer) // 100 + 1)}"
        else:
            a = user.split("[Answer A]\n", 1)[1].split("\n\n[Answer B]", 1)[0]
            b = user.split("[Answer B]\n", 1)[1].split("\n\nGive your reasons", 1)[0]
            verdict = "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie"
            text = f"The longer answer covers more.\nVerdict: {verdict}"
        if "NEVER_PARSE" in user or ("PARSE_ON_REASK" in user and not reasked):
            text = "Both answers have merit and I cannot decide."
        self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": len(user) // 4, "completion_tokens": 10, "total_tokens": len(user) // 4 + 10}})


@pytest.fixture()
def rule_judge():
    """A running rule judge: yields (base_url, state); state['fail_first'] makes it flaky."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuleJudgeHandler)
    server.state = {"lock": threading.Lock(), "requests": 0, "fail_first": 0}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", server.state
    server.shutdown()
    server.server_close()


# model answer length, baseline answer length: model longer on 6, baseline longer on 2, one equal
LENGTHS = [(300, 100)] * 6 + [(50, 400)] * 2 + [(120, 120)]
EXPECTED_WIN_RATE = 100 * (6 + 0.5) / 9


def _gens(tmp_path: Path, lengths=LENGTHS, marks: dict[int, str] | None = None) -> tuple[Path, Path, Path]:
    marks = marks or {}
    prompts, model, base = [], [], []
    for i, (lm, lb) in enumerate(lengths):
        text = f"Question {i} {marks.get(i, '')}".strip()
        cat = "long" if i < 6 else "short"
        prompts.append({"id": f"q{i}", "prompt": text, "category": cat})
        model.append({"id": f"q{i}", "prompt": text, "category": cat, "output": "m" * lm})
        base.append({"id": f"q{i}", "prompt": text, "category": cat, "output": "b" * lb})
    paths = []
    for name, rows in (("prompts", prompts), ("model", model), ("base", base)):
        p = tmp_path / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(p)
    return tuple(paths)


def _client(url: str, cache: Path, **kw) -> JudgeClient:
    return JudgeClient(model="rule-judge", base_url=url, api_key="test", cache=JudgeCache(cache), backoff=0.01, **kw)


def _pairs(model: Path, base: Path):
    read = lambda p: [json.loads(l) for l in p.read_text().splitlines()]  # noqa: E731
    return make_pairs(read(model), read(base))


def test_end_to_end_cli_then_cache_makes_zero_calls(cli, rule_judge, tmp_path):
    url, state = rule_judge
    prompts, model, base = _gens(tmp_path)
    args = ["eval", "judge", str(model), "--baseline", str(base), "--prompts", str(prompts), "--judge-base-url", url,
            "--judge-model", "rule-judge", "--cache", str(tmp_path / "cache.sqlite"), "--out", str(tmp_path / "out"), "--json"]
    dry = cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    est = json.loads(dry.stdout)
    assert est["calls"] == 18 and est["cached"] == 0 and state["requests"] == 0  # a dry run sends nothing

    first = cli(*args)
    assert first.exit_code == 0, first.output
    s = json.loads(first.stdout)
    assert state["requests"] == 18  # 9 pairs x 2 orders
    assert s["win_rate"] == pytest.approx(EXPECTED_WIN_RATE)
    assert s["position"]["position_consistency"] == 1.0
    assert s["by_category"]["long"]["win_rate"] == 100.0 and s["by_category"]["short"]["win_rate"] == pytest.approx(100 * 0.5 / 3)
    assert s["length_slope"] > 0  # this judge rewards length, and the regression sees it
    assert s["lc_win_rate"] < s["win_rate"]
    lo, hi = s["win_rate_ci"]
    assert lo <= s["win_rate"] <= hi
    items = [json.loads(l) for l in (tmp_path / "out" / "items.jsonl").read_text().splitlines()]
    assert len(items) == 9 and {j["role"] for j in items[0]["judgments"]} == {"model_first", "baseline_first"}
    assert items[0]["judgments"][0]["raw"][0].endswith("Verdict: A") or items[0]["judgments"][0]["raw"][0].endswith("Verdict: B")

    second = cli(*args)
    s2 = json.loads(second.stdout)
    assert state["requests"] == 18  # counted server-side: the re-run made zero calls
    assert s2["client"]["calls"] == 0 and s2["client"]["cache_hits"] == 18
    assert s2["win_rate"] == s["win_rate"]
    assert json.loads(cli(*args, "--dry-run").stdout)["calls"] == 0

    shown = cli(*args[:-1])  # the rich summary
    assert "win rate" in shown.output and "position consistency" in shown.output and "0 unparsable" in shown.output


def test_retries_on_500_and_429(rule_judge, tmp_path):
    url, state = rule_judge
    state["fail_first"] = 4  # 500, 429, 500, 429 then healthy
    _, model, base = _gens(tmp_path)
    client = _client(url, tmp_path / "c.sqlite", concurrency=2)
    items, s = run_judge(load_judge("pairwise"), _pairs(model, base), client, bootstrap=100)
    assert client.stats.retries == 4 and client.stats.failures == 0
    assert client.stats.errors == {"InternalServerError": 2, "RateLimitError": 2}
    assert state["requests"] == 18 + 4
    assert s["parse"]["ok"] == 18 and s["win_rate"] == pytest.approx(EXPECTED_WIN_RATE)


def test_retries_give_up_and_are_counted(rule_judge, tmp_path):
    url, state = rule_judge
    state["fail_first"] = 10_000
    _, model, base = _gens(tmp_path, lengths=LENGTHS[:1])
    client = _client(url, tmp_path / "c.sqlite", max_retries=2, concurrency=1)
    items, s = run_judge(load_judge("pairwise"), _pairs(model, base), client, bootstrap=100)
    assert s["parse"]["error"] == 2 and s["n_scored"] == 0 and "win_rate" not in s
    assert state["requests"] == 2 * 3  # two jobs, each tried 1 + 2 times


def test_budget_stops_cleanly_and_the_run_resumes(rule_judge, tmp_path):
    url, state = rule_judge
    _, model, base = _gens(tmp_path)
    cache = tmp_path / "c.sqlite"
    client = _client(url, cache, concurrency=1, budget=Budget(max_requests=5))
    items, s = run_judge(load_judge("pairwise"), _pairs(model, base), client, bootstrap=100)
    assert state["requests"] == 5
    assert s["client"]["budget_exhausted"] and s["parse"]["budget"] == 13 and s["parse"]["ok"] == 5
    # resume: the 5 cached answers are reused, only the rest is asked
    client = _client(url, cache, concurrency=4)
    items, s = run_judge(load_judge("pairwise"), _pairs(model, base), client, bootstrap=100)
    assert state["requests"] == 18 and client.stats.cache_hits == 5 and s["parse"]["ok"] == 18
    assert s["win_rate"] == pytest.approx(EXPECTED_WIN_RATE)


def test_token_budget(rule_judge, tmp_path):
    url, state = rule_judge
    _, model, base = _gens(tmp_path)
    client = _client(url, tmp_path / "c.sqlite", concurrency=1, budget=Budget(max_tokens=300))
    _, s = run_judge(load_judge("pairwise"), _pairs(model, base), client, bootstrap=100)
    assert 0 < state["requests"] < 18 and s["parse"]["budget"] == 18 - state["requests"]
    assert client.budget.tokens >= 300


def test_unparsable_answers_are_reasked_then_counted(rule_judge, tmp_path):
    url, state = rule_judge
    _, model, base = _gens(tmp_path, lengths=LENGTHS[:3], marks={0: "NEVER_PARSE", 1: "PARSE_ON_REASK"})
    judge = load_judge("pairwise")
    client = _client(url, tmp_path / "c.sqlite")
    items, s = run_judge(judge, _pairs(model, base), client, bootstrap=100)
    p = s["parse"]
    assert p["unparsable"] == 2 and p["ok_after_reask"] == 2 and p["ok_first_try"] == 2
    assert state["requests"] == 2 * (1 + judge.reask) + 2 * 2 + 2
    assert items[0]["pref"] is None and len(items[0]["judgments"][0]["raw"]) == 1 + judge.reask
    assert s["n_scored"] == 2 and p["parse_rate"] == pytest.approx(4 / 6)


def test_rejudging_reports_spread(rule_judge, tmp_path):
    url, state = rule_judge
    _, model, base = _gens(tmp_path, lengths=LENGTHS[:4])
    client = _client(url, tmp_path / "c.sqlite")
    _, s = run_judge(load_judge("pairwise"), _pairs(model, base), client, repeats=3, bootstrap=100)
    assert state["requests"] == 4 * 2 * 3  # each repeat is its own cache entry
    assert s["rejudge"]["repeats"] == 3 and s["rejudge"]["win_rate_sd"] == 0.0  # a deterministic judge does not move


def test_likert_judge_scores_each_answer(rule_judge, tmp_path):
    url, state = rule_judge
    _, model, base = _gens(tmp_path)
    client = _client(url, tmp_path / "c.sqlite")
    items, s = run_judge(load_judge("likert"), _pairs(model, base), client, bootstrap=100)
    assert state["requests"] == 18 and s["parse"]["ok"] == 18
    # scores: model 4 (x6), 1 (x2), 2; baseline 2 (x6), 5 (x2), 2 -> wins 6, losses 2, tie 1
    assert s["model_score"]["mean"] == pytest.approx((4 * 6 + 1 * 2 + 2) / 9)
    assert s["baseline_score"]["mean"] == pytest.approx((2 * 6 + 5 * 2 + 2) / 9)
    assert s["win_rate"] == pytest.approx(EXPECTED_WIN_RATE)
    assert "position" not in s


def test_single_judge_shows_the_reference_when_there_is_one():
    judge = load_judge("single")
    with_ref = judge.messages("What is 2+2?", output="4", reference="2+2 = 4")
    without = judge.messages("What is 2+2?", output="4")
    assert "[Reference answer]\n2+2 = 4" in with_ref[-1]["content"]
    assert "Reference" not in without[-1]["content"] and without[0]["role"] == "system"


def test_unreachable_endpoint_stops_with_a_clear_error(tmp_path):
    import socket

    from mixwise.errors import MixwiseError

    with socket.socket() as sock:  # a free port on 127.0.0.1 with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _, model, base = _gens(tmp_path, lengths=LENGTHS[:2])
    client = _client(f"http://127.0.0.1:{port}/v1", tmp_path / "c.sqlite", max_retries=1)
    with pytest.raises(MixwiseError, match="cannot reach the judge endpoint"):
        run_judge(load_judge("pairwise"), _pairs(model, base), client, bootstrap=100)
