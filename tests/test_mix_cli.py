"""The mixing commands end to end: the LIMIT recipes on ../shared/data, --check, listing, show, diff, diverse."""

from __future__ import annotations

import json
import os

import polars as pl
import pytest

from tests.conftest import REPO
from tests.mix_fixtures import build_workspace

LIMIT = REPO / "manifests" / "limit"


def local_sources(shared) -> list[str]:
    d = shared / "instruct"
    return ["--source", f"lima={d / 'lima_train.json'}", "--source", f"dolly_hhrlhf={d / 'dolly_hhrlhf_small.jsonl'}"]


@pytest.mark.slow
def test_limit_recipes_on_local_copies(cli, shared_data, monkeypatch):
    from mixwise.cli._common import console

    monkeypatch.setattr(console, "_width", 80)  # what a default terminal shows
    src = local_sources(shared_data)
    r = cli("mix", str(LIMIT / "lima_plus_instruct.yaml"), "--check")
    assert r.exit_code == 0 and "would ingest dolly_hhrlhf, lima first" in r.output
    with pytest.raises(Exception, match="short by 4,000"):  # dolly sample has 1,000 rows, the recipe asks 5,000
        cli("mix", str(LIMIT / "lima_plus_instruct.yaml"), *src)
    r = cli("mix", str(LIMIT / "lima_1k.yaml"), *src, "--json")
    lima = json.loads(r.output)
    assert lima["counts"]["samples"] == 1000 and lima["composition"]["by_source"].keys() == {"lima"}
    r = cli("mix", str(LIMIT / "lima_plus_instruct.yaml"), *src, "--allow-shortfall", "--json")
    both = json.loads(r.output)
    inst = {c["name"]: c for c in both["counts"]["components"]}["instruct"]
    assert inst["shortfall"] == 4000 and inst["selected"] == 1000 and both["counts"]["samples"] == 2000
    samples = pl.read_parquet(os.path.join(both["path"], "samples.parquet"))
    first_half = samples.head(1000)["source"].value_counts()
    assert first_half.height == 2  # interleaved, not LIMA then dolly
    listing = json.loads(cli("manifests", "--json").output)
    assert {m["name"] for m in listing} == {"lima-1k", "lima-plus-instruct"}
    table = cli("manifests").output  # 80 columns (the fixture pins the width): nothing may be cut off
    assert "…" not in table and all(m["version"] in table for m in listing)
    assert "lima-plus-instruct" not in table and "lima-plus-i" in table and "nstruct" in table  # the name folds
    r = cli("manifest", "show", "lima-plus-instruct")
    assert r.exit_code == 0 and "short by 4,000 samples" in r.output and "fingerprint" in r.output
    d = json.loads(cli("diff", "lima-1k", "lima-plus-instruct", "--json").output)
    # The same seed and component name pick the same 1,000 LIMA rows in both recipes.
    assert d["membership"]["kept"] == 1000 and d["membership"]["added"] == 1000 and d["membership"]["removed"] == 0
    r = cli("diff", "lima-1k", "lima-plus-instruct")
    assert "different mixtures" in r.output and "dolly_hhrlhf" in r.output


def test_check_reports_spec_errors_with_fix(cli, ws, tmp_path):
    build_workspace(ws, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("# bad\nname: b\ncomponents:\n  - {name: a, filter: {source: chfe}, count: 3}\n")
    with pytest.raises(Exception, match="unknown source 'chfe'.*did you mean 'chef'"):
        cli("mix", str(bad), "--check")
    good = tmp_path / "good.yaml"
    good.write_text("# good\nname: g\nseed: 1\ncomponents:\n  - {name: a, filter: {source: chef}, count: 3}\n")
    r = cli("mix", str(good), "--check")
    assert r.exit_code == 0 and "ok" in r.output and "a: would take 3 of 13 matching rows" in r.output
    greedy = tmp_path / "greedy.yaml"
    greedy.write_text("# greedy\nname: g2\ncomponents:\n  - {name: a, filter: {source: stars}, count: 11}\n")
    with pytest.raises(Exception, match="short by 1"):
        cli("mix", str(greedy), "--check")
    assert json.loads(cli("manifests", "--json").output) == []  # --check builds nothing
    r = cli("mix", str(good))
    assert r.exit_code == 0 and "g@" in r.output and "written" in r.output
    r = cli("mix", str(good))
    assert "unchanged" in r.output
    good.write_text(good.read_text().replace("count: 3", "count: 5"))
    r = cli("mix", str(good))
    assert "kept 3, added 2, removed 0" in r.output and "mixwise diff" in r.output


def test_cli_error_is_one_line(tmp_path):
    import subprocess
    import sys

    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ncomponents:\n  - {name: a, count: 1000.0}\n")
    r = subprocess.run([sys.executable, "-m", "mixwise", "--workspace", str(tmp_path / "w"), "mix", str(spec), "--check"],
                       capture_output=True, text=True, cwd=REPO)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "write count: 1000" in lines[0]


@pytest.mark.slow
def test_diverse_covers_every_topic_with_real_embeddings(ws, tmp_path):
    from mixwise.curate.embed import embed_workspace
    from mixwise.errors import SpecError
    from mixwise.mixing.manifest import build_manifest
    from mixwise.mixing.spec import parse_spec

    build_workspace(ws, tmp_path)
    spec = parse_spec({"name": "div", "seed": 4, "components": [{"name": "d", "count": 3, "strategy": "diverse"}]})
    with pytest.raises(SpecError, match="run: mixwise embed"):
        build_manifest(spec, ws, tmp_path / "m")
    embed_workspace(ws)
    res = build_manifest(spec, ws, tmp_path / "m")
    s = pl.read_parquet(res.path / "samples.parquet")
    assert sorted(s["source"]) == ["chef", "coder", "stars"]  # one per topic: farthest points


def test_source_override_reingests_only_when_asked(cli, ws, tmp_path):
    from tests.mix_fixtures import write_source

    spec = tmp_path / "s.yaml"
    spec.write_text("# s\nname: s\nsources: {chef: data/chef.json}\ncomponents:\n  - {name: a, filter: {source: chef}, count: 4}\n")
    (tmp_path / "data").mkdir()
    write_source(tmp_path / "data" / "chef.json", "cooking", long=False)  # relative to the spec file
    r = cli("mix", str(spec))
    assert "ingested source chef" in r.output and ws.source_meta("chef")["rows"] == 10
    other = write_source(tmp_path / "other.json", "astronomy", long=False)
    r = cli("mix", str(spec))
    assert "ingested source" not in r.output  # present: used as is
    r = cli("mix", str(spec), "--source", f"chef={other}")
    assert "ingested source chef" in r.output
    assert ws.samples(columns=["prompt"])["prompt"].str.contains("Mars").any()


def test_manifests_default_to_the_current_directory(ws, tmp_path):
    import subprocess
    import sys

    build_workspace(ws, tmp_path)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "m.yaml").write_text("# m\nname: here\ncomponents:\n  - {name: a, filter: {source: coder}, count: 2}\n")
    env = {k: v for k, v in os.environ.items() if k != "MIXWISE_MANIFESTS"}
    env["PYTHONPATH"] = str(REPO)
    r = subprocess.run([sys.executable, "-m", "mixwise", "--workspace", str(ws.root), "mix", "m.yaml"],
                       capture_output=True, text=True, cwd=tmp_path / "proj", env=env)
    assert r.returncode == 0, r.stderr
    latest = (tmp_path / "proj" / "manifests" / "here" / "LATEST").read_text().strip()
    assert (tmp_path / "proj" / "manifests" / "here" / latest / "samples.parquet").is_file()
