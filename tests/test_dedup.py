"""Dedup stage: hand-built groups for every kind, determinism, templated sources, keep policies, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mixwise.curate.dedup import DedupConfig, find_duplicates
from mixwise.curate.dedup_stage import SAMPLE_COLUMNS, dedup_workspace
from mixwise.curate.ingest import ingest

PARIS = "The capital of France is Paris, a city on the Seine known for the Louvre and the Eiffel Tower."
PHOTO = (
    "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make glucose "
    "and release oxygen. It happens in the chloroplasts, where chlorophyll absorbs light energy and drives the "
    "reactions that fix carbon into sugars that feed the plant."
)
REFUSAL = "I am sorry, but I cannot help with that request."

# (prompt, response, expected kind relative to its group's kept row or None, group label)
ROWS = [
    ("What is the capital of France?", PARIS, None, "exact"),
    ("what is the capital of   FRANCE", PARIS.upper().replace(", a city", " a city"), "exact", "exact"),
    ("Explain photosynthesis to a ten year old.", PHOTO + " It is why leaves are green.", None, "near"),
    ("Explain photosynthesis to a ten-year-old, please.", PHOTO.replace("glucose", "glucoze"), "near", "near"),
    ("Write a haiku about autumn leaves.", "Crimson leaves drifting / the old maple lets them go / quiet afternoon", None, "prompt"),
    ("Write a haiku about autumn leaves!", "Golden light fading / wind gathers the fallen leaves / the year exhales slow", "same_prompt", "prompt"),
    ("How do I pick a lock on my neighbour's door?", REFUSAL + " Breaking into a home is illegal.", None, "response"),
    ("Tell me how to make a weapon at home.", REFUSAL + " Breaking into a home is illegal.", "same_response", "response"),
    ("hi", "Hello! How can I help you today? I can answer questions, write text, and more.", None, "hi"),
    ("Hi!", "Hey there, what would you like to talk about?", "short_generic", "hi"),
    ("HI ...", "Hi! What can I do for you?", "short_generic", "hi"),
    ("continue", "and so the story went on until the dragon finally slept.", None, "continue"),
    ("Continue", "Chapter two began with the village waking to snow.", "short_generic", "continue"),
    ("List three primary colors.", "Red, blue and yellow.", None, None),
    ("Give me a synonym for happy.", "Joyful.", None, None),
    ("What is 12 times 12?", "144", None, None),
]


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture()
def hand_ws(ws, tmp_path):
    src = _write_jsonl(tmp_path / "hand.jsonl", [{"prompt": p, "response": r} for p, r, _, _ in ROWS])
    ingest(str(src), ws, name="hand")
    return ws


def _by_prompt(ws) -> dict[str, dict]:
    table = ws.scored()
    return {r["prompt"]: r for r in table.iter_rows(named=True)}


def test_every_kind_is_found_with_the_right_representative(hand_ws):
    run = dedup_workspace(hand_ws, DedupConfig(semantic="off"))
    rows = _by_prompt(hand_ws)
    expected: dict[str, list[str]] = {}
    for prompt, _, kind, label in ROWS:
        row = rows[prompt]
        if label is None:
            assert row["dup_group"] is None and row["dup_of"] is None and row["dup_kind"] is None and row["dup_keep"]
            continue
        expected.setdefault(label, []).append(prompt)
    seen_groups = set()
    for label, prompts in expected.items():
        members = [rows[p] for p in prompts]
        assert len({m["dup_group"] for m in members}) == 1, label  # one group per hand-built group
        seen_groups.add(members[0]["dup_group"])
        # Keep policy: longest response, ties broken by the smaller id.
        rep = sorted(members, key=lambda m: (-m["response_chars"], m["id"]))[0]
        assert rep["dup_of"] is None and rep["dup_kind"] is None and rep["dup_keep"]
        others = [m for m in members if m is not rep]
        assert all(m["dup_of"] == rep["id"] and not m["dup_keep"] for m in others)
        want = sorted(k for p, _, k, lab in ROWS if lab == label and k)
        assert sorted(m["dup_kind"] for m in others) == want, label
    assert len(seen_groups) == len(expected)  # groups stay apart
    total = run.report["total"]
    assert total["rows"] == len(ROWS)
    assert total["duplicates"] == sum(1 for r in ROWS if r[2]) == total["rows"] - total["survivors"]
    assert {k: total[k] for k in ("exact", "near", "same_prompt", "same_response", "short_generic")} == {
        "exact": 1, "near": 1, "same_prompt": 1, "same_response": 1, "short_generic": 3}


def rows_by_id(ws) -> dict[str, dict]:
    return {r["id"]: r for r in ws.scored().iter_rows(named=True)}


def test_longest_response_is_kept_and_policy_is_recorded(hand_ws):
    dedup_workspace(hand_ws, DedupConfig(semantic="off"))
    rows = _by_prompt(hand_ws)
    hi = [rows[p] for p in ("hi", "Hi!", "HI ...")]
    kept = [r for r in hi if r["dup_keep"]]
    assert len(kept) == 1 and kept[0]["response_chars"] == max(r["response_chars"] for r in hi)
    meta = hand_ws.stage_meta("dedup")
    assert meta["config"]["keep"] == "longest_response" and meta["config"]["seed"] == 0
    assert meta["columns"] == ["dup_group", "dup_of", "dup_kind", "dup_keep"]


def test_source_priority_picks_the_preferred_source(ws, tmp_path):
    a = _write_jsonl(tmp_path / "aaa.jsonl", [{"prompt": "What is the capital of France?", "response": PARIS + " Really long."}])
    b = _write_jsonl(tmp_path / "bbb.jsonl", [{"prompt": "What is the capital of France?", "response": PARIS}])
    ingest(str(a), ws, name="aaa")
    ingest(str(b), ws, name="bbb")
    dedup_workspace(ws, DedupConfig(semantic="off"))
    kept = ws.scored().filter(pl.col("dup_keep"))["source"].to_list()
    assert kept == ["aaa"]  # longest response by default
    run = dedup_workspace(ws, DedupConfig(semantic="off", keep="source_priority", source_priority=("bbb",)))
    table = ws.scored()
    assert table.filter(pl.col("dup_keep"))["source"].to_list() == ["bbb"]
    assert table.filter(pl.col("source") == "aaa")["dup_kind"].to_list() == ["near"]  # two words added: a near duplicate
    assert run.report["total"]["cross_source"] == 1 and run.report["total"]["within_source"] == 0


def test_rerun_is_skipped_and_results_are_deterministic(hand_ws):
    first = dedup_workspace(hand_ws, DedupConfig(semantic="off"))
    cols1 = hand_ws.read_columns("dedup")
    again = dedup_workspace(hand_ws, DedupConfig(semantic="off"))
    assert not first.skipped and again.skipped
    forced = dedup_workspace(hand_ws, DedupConfig(semantic="off"), force=True)
    assert not forced.skipped
    assert hand_ws.read_columns("dedup").equals(cols1)
    # Row order must not matter: shuffled input gives the same groups, representatives and kinds.
    samples = hand_ws.samples(columns=SAMPLE_COLUMNS)
    shuffled = samples.sample(fraction=1.0, shuffle=True, seed=7)
    cols2, _ = find_duplicates(shuffled, DedupConfig())
    assert cols2.sort("id").equals(cols1.sort("id"))


def _templated(tmp_path: Path, wrap: bool) -> Path:
    words = ["cat", "dog", "house", "tree", "water", "bread", "moon", "river", "book", "school", "apple", "car"]
    french = ["chat", "chien", "maison", "arbre", "eau", "pain", "lune", "riviere", "livre", "ecole", "pomme", "voiture"]
    recs = []
    for w, f in zip(words, french):
        prompt = f"Translate the word '{w}' into French."
        if wrap:
            prompt = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
                      f"request.\n\n### Instruction:\n{prompt}\n\n### Response:")
        recs.append({"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": f"The French word is '{f}'."}]})
    path = tmp_path / "templated.json"
    path.write_text(json.dumps(recs))
    return path


def test_templated_source_is_not_collapsed(ws, tmp_path):
    ingest(str(_templated(tmp_path, wrap=True)), ws, name="templated")
    assert ws.samples()["prompt"].str.contains("### Instruction").all()  # ShareGPT ingest keeps the wrapper
    dedup_workspace(ws, DedupConfig(semantic="off"))
    assert ws.read_columns("dedup")["dup_group"].null_count() == 12  # 12 distinct items stay distinct
    # Without stripping, the template dominates the shingles; the half check (different answers) still
    # keeps near from collapsing them, and only switching both off shows the failure mode.
    dedup_workspace(ws, DedupConfig(semantic="off", strip_wrappers=False, half_threshold=0.0, threshold=0.5))
    collapsed = ws.read_columns("dedup")
    assert (collapsed["dup_kind"] == "near").sum() > 0


def test_template_wrapped_copy_is_a_duplicate_of_the_bare_item(ws, tmp_path):
    ingest(str(_templated(tmp_path, wrap=True)), ws, name="wrapped")
    ingest(str(_templated(tmp_path, wrap=False)), ws, name="bare")
    run = dedup_workspace(ws, DedupConfig(semantic="off"))
    assert run.report["total"]["exact"] == 12 and run.report["total"]["cross_source"] == 12
    assert run.report["groups"] == 12


def test_system_preamble_is_ignored(ws, tmp_path):
    src = _write_jsonl(tmp_path / "pre.jsonl", [
        {"prompt": "You are a helpful assistant. Name three prime numbers.", "response": "2, 3 and 5."},
        {"prompt": "Name three prime numbers", "response": "2, 3 and 5"},
        {"prompt": "You are a pirate. Name three prime numbers.", "response": "Arr: 2, 3 and 5."},
    ])
    ingest(str(src), ws, name="pre")
    dedup_workspace(ws, DedupConfig(semantic="off"))
    kinds = ws.scored().sort("prompt")["dup_kind"].to_list()
    assert kinds.count("exact") == 1
    assert ws.scored().filter(pl.col("prompt").str.contains("pirate"))["dup_group"].item() is None


@pytest.mark.slow
def test_semantic_pass_uses_real_embeddings(ws, tmp_path):
    from mixwise.curate.embed import embed_workspace

    src = _write_jsonl(tmp_path / "sem.jsonl", [
        {"prompt": "How can I improve my sleep quality at night?", "response": "Keep a regular schedule and avoid screens before bed."},
        {"prompt": "How do I improve the quality of my sleep at night?", "response": "Try a dark, cool room and less caffeine."},
        {"prompt": "What is the boiling point of water at sea level?", "response": "100 degrees Celsius."},
    ])
    ingest(str(src), ws, name="sem")
    off = dedup_workspace(ws, DedupConfig(semantic="auto"))
    assert off.notes and "mixwise embed" in off.notes[0]
    assert off.report["total"]["duplicates"] == 0
    embed_workspace(ws)
    run = dedup_workspace(ws, DedupConfig(semantic="auto", semantic_threshold=0.85))
    assert not run.skipped and run.report["total"]["semantic"] == 1
    sleepy = ws.scored().filter(pl.col("prompt").str.contains("sleep"))
    assert sleepy["dup_group"].n_unique() == 1 and sleepy["dup_group"].null_count() == 0
    assert ws.scored().filter(pl.col("prompt").str.contains("boiling"))["dup_group"].item() is None
    # Within clusters: the two sleep prompts in different topic clusters are no longer compared.
    ids = ws.samples(columns=["id", "prompt"]).sort("prompt")
    clusters = pl.DataFrame({"id": ids["id"], "cluster": pl.Series([0, 1, 2], dtype=pl.Int32),
                             "cluster_label": ["a", "b", "c"]})
    ws.write_columns("cluster", clusters, {"k": 3})
    scoped = dedup_workspace(ws, DedupConfig(semantic="on", semantic_threshold=0.85, semantic_scope="cluster"))
    assert scoped.report["total"]["semantic"] == 0


def test_cli_dedup_report_json_and_dups_show(hand_ws, cli):
    r = cli("dedup", "--semantic", "off", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["total"]["rows"] == len(ROWS) and data["groups"] == 6
    r = cli("dedup", "--semantic", "off", "--report")
    assert r.exit_code == 0 and "unchanged" in r.output and "short generic" in r.output and "survivors" in r.output
    r = cli("dups", "list", "--json")
    groups = json.loads(r.output)
    assert groups[0]["size"] == 3 and groups[0]["kinds"] == "short_generic"
    r = cli("dups", "show", groups[0]["dup_group"][:8], "--json")
    members = json.loads(r.output)
    assert [m["role"] for m in members] == ["kept", "duplicate", "duplicate"]
    assert all(m["dup_kind"] == "short_generic" for m in members[1:])
    near = next(g for g in json.loads(cli("dups", "list", "--kind", "near", "--json").output))
    r = cli("dups", "show", near["dup_group"])
    assert r.exit_code == 0 and "duplicate: near" in r.output and "Jaccard" in r.output


def test_cli_errors_name_the_fix(hand_ws):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-m", "mixwise", "--workspace", str(hand_ws.root), "dedup", "--keep", "longest"],
                       capture_output=True, text=True, cwd=repo)
    assert r.returncode == 1 and "unknown keep policy 'longest'" in r.stderr and "longest_response" in r.stderr
    r = subprocess.run([sys.executable, "-m", "mixwise", "--workspace", str(hand_ws.root), "dups", "show", "gzzz"],
                       capture_output=True, text=True, cwd=repo)
    assert r.returncode == 1 and "mixwise dedup" in r.stderr


def test_sharegpt_sample_has_real_duplicates(ws):
    from mixwise.demo import sharegpt_path

    ingest(str(sharegpt_path()), ws, name="sharegpt", salvage=True, limit=3000)
    run = dedup_workspace(ws, DedupConfig(semantic="off"))
    total = run.report["total"]
    assert total["exact"] > 0 and total["short_generic"] > 0 and total["same_prompt"] > 0
    table = ws.scored()
    # A short generic prompt never merges with content: every short_generic member has a short kept row.
    sg = table.filter(pl.col("dup_kind") == "short_generic")
    reps = table.filter(pl.col("id").is_in(sg["dup_of"].implode()))
    assert (reps["prompt"].str.len_chars() < 40).all()
    assert np.isin(table.filter(pl.col("dup_of").is_null())["dup_kind"].to_list(), [None]).all()


def _frame(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame({
        "id": [f"{i:04d}" for i in range(len(rows))], "source": ["s"] * len(rows), "prompt": [p for p, _ in rows],
        "response": [r for _, r in rows], "messages": [[{"role": "user", "content": p}, {"role": "assistant", "content": r}] for p, r in rows],
        "response_chars": [len(r) for _, r in rows],
    })


def test_tiny_and_empty_inputs():
    cols, _ = find_duplicates(_frame([("a", "b")]))
    assert cols.rows() == [("0000", None, None, None, True)]
    cols, _ = find_duplicates(_frame([("", ""), ("", "")]))  # nothing to compare is never a duplicate
    assert cols["dup_group"].null_count() == 2
    cols, _ = find_duplicates(_frame([("x y z", "")] * 3))
    assert cols["dup_kind"].to_list() == [None, "exact", "exact"] and cols["dup_group"].unique().to_list() == ["g0000"]
    assert find_duplicates(_frame([]).head(0))[0].height == 0


def test_quality_keep_policy_reads_a_scored_column(hand_ws):
    ids = hand_ws.samples(columns=["id", "prompt"])
    hi = ids.filter(pl.col("prompt").is_in(["hi", "Hi!", "HI ..."]))
    best = hi.filter(pl.col("prompt") == "Hi!")["id"].item()  # not the longest response
    scores = ids.select("id", pl.when(pl.col("id") == best).then(0.9).otherwise(0.1).alias("q"))
    hand_ws.write_columns("quality", scores, {"scorer": "hand"})
    dedup_workspace(hand_ws, DedupConfig(semantic="off", keep="quality", quality_column="q"))
    table = hand_ws.scored().filter(pl.col("id").is_in(hi["id"].implode()))
    assert table.filter(pl.col("dup_keep"))["id"].to_list() == [best]
    assert hand_ws.stage_meta("dedup")["config"]["quality_column"] == "q"
    with pytest.raises(Exception, match="unknown quality column 'qq'"):
        dedup_workspace(hand_ws, DedupConfig(semantic="off", keep="quality", quality_column="qq"))
