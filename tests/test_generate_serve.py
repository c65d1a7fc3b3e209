"""Prompt sets, generation with real (tiny) models, and `mixwise serve` as the judge over real HTTP."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from mixwise.errors import InputError
from mixwise.evaluate.prompts import load_prompts

REPO = Path(__file__).resolve().parent.parent


def test_named_prompt_sets(shared_data):
    judge_dir = shared_data / "judge"
    lima = load_prompts("lima_test", data=judge_dir)
    assert len(lima) == 300 and lima[0].id == "lima_test-000" and len({p.id for p in lima}) == 300
    alpaca = load_prompts("alpaca_eval", data=judge_dir)
    assert len(alpaca) == 805 and {p.category for p in alpaca} >= {"helpful_base", "oasst", "vicuna"}
    mt = load_prompts("mt_bench", data=judge_dir)
    assert len(mt) == 80 and mt[0].id == "81" and mt[0].category == "writing"
    assert all(p.prompt and not isinstance(p.prompt, list) for p in mt)  # first turns only
    assert sum(1 for p in mt if p.reference) >= 30  # math/reasoning/coding carry references
    assert len(load_prompts("mt_bench", data=judge_dir, limit=5)) == 5


def test_prompt_files_and_errors(tmp_path, monkeypatch):
    f = tmp_path / "mine.jsonl"
    f.write_text('{"instruction": "Name a colour.", "category": "easy"}\n{"turns": ["First turn", "second"], "id": 7}\n')
    ps = load_prompts(str(f))
    assert [(p.id, p.prompt, p.category) for p in ps] == [("mine-0000", "Name a colour.", "easy"), ("7", "First turn", "all")]
    with pytest.raises(InputError, match="did you mean 'lima_test'"):
        load_prompts("lima_tset")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never leave the machine: the Hub fallback must fail cleanly
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(InputError, match="--data-dir"):
        load_prompts("mt_bench", data=tmp_path / "nowhere")


@pytest.mark.slow
def test_generate_batched_greedy_and_seeded_sampling(cli, shared_data, tmp_path):
    from mixwise.evaluate.generate import GenSettings, generate_chats
    from mixwise.models import load_causal_lm

    out = tmp_path / "g.jsonl"
    r = cli("generate", "tiny-random", "--prompts", "mt_bench", "--data-dir", str(shared_data / "judge"), "--limit", "3",
            "--max-new-tokens", "8", "--batch-size", "3", "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [x["id"] for x in rows] == ["81", "82", "83"]
    s = rows[0]["settings"]
    assert s["temperature"] == 0.0 and s["max_new_tokens"] == 8 and s["seed"] == 0 and s["backend"] == "transformers"
    assert all(0 < x["n_tokens"] <= 8 and x["output"] for x in rows)
    model, tok = load_causal_lm("tiny-random", device="cpu")
    chats = [[{"role": "user", "content": p.prompt}] for p in load_prompts("mt_bench", data=shared_data / "judge", limit=3)]
    one_by_one = generate_chats(model, tok, chats, GenSettings(max_new_tokens=8, batch_size=1))
    assert [c.text for c in one_by_one] == [x["output"] for x in rows]  # left padding does not change answers
    sampled = [generate_chats(model, tok, chats, GenSettings(max_new_tokens=8, temperature=1.0, seed=s, batch_size=3))
               for s in (5, 5, 6)]
    assert [c.text for c in sampled[0]] == [c.text for c in sampled[1]]  # same seed, same answers
    assert [c.text for c in sampled[0]] != [c.text for c in sampled[2]]
    assert [c.text for c in sampled[0]] != [x["output"] for x in rows]


def _start_server(model: str):
    proc = subprocess.Popen([sys.executable, "-m", "mixwise", "serve", model, "--host", "127.0.0.1", "--port", "0"],
                            cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    found: dict = {}

    def read() -> None:
        for line in proc.stderr:
            m = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
            if m and "url" not in found:
                found["url"] = m.group(0)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 180
    while "url" not in found and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    if "url" not in found:
        proc.kill()
        pytest.fail("mixwise serve did not start")
    return proc, found["url"]


def _server_requests(url: str) -> int:
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/health", timeout=10) as r:
        return json.loads(r.read())["requests"]


def _small_judge(tmp_path, name="pairwise", max_tokens=8, reask=1):
    from mixwise.evaluate.judges import BUILTIN

    folder = tmp_path / f"judge-{name}"
    shutil.copytree(BUILTIN / name, folder)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    cfg.update(max_tokens=max_tokens, reask=reask, id=f"{name}-small")
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    return folder


@pytest.mark.slow
def test_serve_tiny_random_as_judge_end_to_end(cli, shared_data, tmp_path):
    import openai

    proc, url = _start_server("tiny-random")
    try:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["tiny-random"]
        resp = client.chat.completions.create(model="tiny-random", messages=[{"role": "user", "content": "Hello"}],
                                              max_tokens=5, temperature=0)
        assert resp.choices[0].finish_reason in ("stop", "length") and 0 < resp.usage.completion_tokens <= 5
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="tiny-random", messages=[], max_tokens=5)
        before = _server_requests(url)

        data = str(shared_data / "judge")
        base = tmp_path / "base.jsonl"
        assert cli("generate", "tiny-random", "--prompts", "mt_bench", "--data-dir", data, "--limit", "2", "--max-new-tokens", "6",
                   "--temperature", "1.0", "--seed", "3", "--out", str(base)).exit_code == 0
        args = ["eval", "judge", "tiny-random", "--baseline", str(base), "--prompts", "mt_bench", "--data-dir", data, "--limit", "2",
                "--max-new-tokens", "6", "--judge", str(_small_judge(tmp_path)), "--judge-base-url", url, "--judge-model", "tiny-random",
                "--concurrency", "2", "--judge-timeout", "300", "--cache", str(tmp_path / "cache.sqlite"), "--out", str(tmp_path / "out"), "--json"]
        r = cli(*args)
        assert r.exit_code == 0, r.output
        s = json.loads(r.stdout)
        p = s["parse"]
        assert p["jobs"] == 4 and p["ok"] + p["unparsable"] == 4 and p["budget"] == p["error"] == 0
        # a random 2-layer model cannot follow the format: its answers are re-asked, then counted, not dropped
        assert s["client"]["calls"] == _server_requests(url) - before == sum(
            j["attempts"] for it in map(json.loads, (tmp_path / "out" / "items.jsonl").read_text().splitlines()) for j in it["judgments"])
        assert (tmp_path / "out" / "generations" / "tiny-random.jsonl").is_file()
        again = json.loads(cli(*args).stdout)
        assert again["client"]["calls"] == 0 and _server_requests(url) - before == s["client"]["calls"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_gemma_270m_as_judge_reports_parse_rate(shared_data, tmp_path, capsys):
    """A 270M base model is a weak judge; this checks the plumbing and reports its parse rate as measured."""
    from mixwise.evaluate.generate import GenSettings, generations_for
    from mixwise.evaluate.judge import make_pairs, run_judge
    from mixwise.evaluate.judge_cache import JudgeCache
    from mixwise.evaluate.judge_client import JudgeClient
    from mixwise.evaluate.judges import load_judge
    from mixwise.evaluate.serve import ModelBackend, make_server, serve_in_thread

    backend = ModelBackend("gemma3-270m", device="cpu")
    server = make_server(backend, "127.0.0.1", 0)
    url = serve_in_thread(server)
    try:
        ae = shared_data / "judge" / "alpaca_eval"
        prompts = load_prompts("alpaca_eval", data=shared_data / "judge")
        settings = GenSettings()
        model = generations_for(str(ae / "gpt4_1106_preview_outputs.json"), prompts, settings, tmp_path)[0]
        base = generations_for(str(ae / "text_davinci_003_outputs.json"), prompts, settings, tmp_path)[0]
        assert len(model) == len(base) == 805  # AlpacaEval's outputs match the prompts by text
        # the two items with the shortest prompt + answers (of at least 150 characters) keep CPU time low
        size = [len(prompts[i].prompt) + len(model[i]["output"]) + len(base[i]["output"]) for i in range(805)]
        short = sorted((i for i in range(805) if size[i] >= 150), key=lambda i: size[i])[:2]
        model, base = [model[i] for i in short], [base[i] for i in short]
        judge = load_judge(str(_small_judge(tmp_path, max_tokens=24, reask=1)))
        # one request at a time and a long timeout: on a busy CPU a timed-out request would be cancelled and re-asked
        client = JudgeClient(model="gemma3-270m", base_url=url, api_key="unused", cache=JudgeCache(tmp_path / "c.sqlite"),
                             concurrency=1, timeout=600)
        items, s = run_judge(judge, make_pairs(model, base), client, bootstrap=200)
    finally:
        server.shutdown()
        server.server_close()
    p = s["parse"]
    assert p["jobs"] == 4 and p["ok"] + p["unparsable"] == 4 and p["error"] == p["budget"] == 0
    assert backend.requests == client.stats.calls == sum(j["attempts"] for it in items for j in it["judgments"])
    assert 0.0 <= p["parse_rate"] <= 1.0
    with capsys.disabled():
        print(f"\n[gemma3-270m as pairwise judge] parse rate {p['parse_rate']:.2f} "
              f"({p['ok_first_try']} first try, {p['ok_after_reask']} after re-ask, {p['unparsable']} unparsable of {p['jobs']}); "
              f"position consistency {s.get('position', {}).get('position_consistency')}")
