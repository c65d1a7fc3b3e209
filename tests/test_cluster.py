"""Clusters on real embeddings: determinism, stage columns, labels, the table, show, LLM naming over HTTP."""

from __future__ import annotations

import io
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from sklearn.metrics import adjusted_mutual_info_score

from mixwise.views.cluster import render_cluster_table
from mixwise.curate.cluster import auto_k, cluster_table, cluster_workspace, representatives, spherical_kmeans
from mixwise.curate.embed import embed_workspace
from mixwise.curate.labels import (cached_embedder, candidate_phrases, ctfidf_keywords, keyphrase_labels, label_from_keywords,
                                   mmr, phrases)
from mixwise.errors import MixwiseError
from mixwise.workspace import Workspace

from tests.topic_fixtures import small_workspace


def test_auto_k_rule():
    assert [auto_k(n) for n in (1, 3, 8, 200, 2000, 20000, 10**6)] == [1, 2, 2, 10, 32, 50, 50]


def test_ctfidf_keywords_name_the_topic():
    texts = ["my cat chases the mouse", "the cat sleeps on the sofa", "a cat and a kitten play",
             "python list comprehension", "python function returns a list", "write a python class"]
    kw = ctfidf_keywords(texts, np.array([0, 0, 0, 1, 1, 1]), 2, top=3)
    assert kw[0][0] == "cat" and kw[1][0] == "python"
    assert "the" not in kw[0] and label_from_keywords(kw[1], 2).startswith("python, ")
    assert label_from_keywords([]) == "(no keywords)"


def test_phrases_skip_templates_boilerplate_and_clause_breaks():
    from mixwise.curate.labels import _stop_words

    stop = _stop_words()
    got = phrases("### Instruction:\nWrite a short poem about the cost of living. Give me the pros and cons, please!", stop)
    assert {"short poem", "poem", "cost of living", "pros and cons", "living"} <= got
    assert not any(p.split()[0] in stop or p.split()[-1] in stop for p in got)  # no "write", "give me", "instruction"
    assert "instruction" not in " ".join(got) and "living pros" not in got  # the full stop breaks phrases
    # Word-problem verbs and quantifiers never end a phrase: "marbles did" is not a candidate, "marbles" is.
    assert phrases("How many marbles did Tom give away in total?", stop) == {"marbles", "tom"}


def test_mmr_prefers_relevant_then_different_and_never_nested():
    names = ["speed", "average speed", "miles", "mile", "distance"]
    vecs = np.eye(5, dtype=np.float32)
    vecs[3] = vecs[2]  # "mile" means what "miles" means
    picked = mmr(np.array([0.9, 0.8, 0.7, 0.69, 0.3]), vecs, names, 3)
    assert [names[i] for i in picked] == ["speed", "miles", "distance"]  # "average speed" holds "speed"; "mile" repeats "miles"
    assert [names[i] for i in mmr(np.array([0.9, 0.8, 0.7, 0.69, 0.3]), vecs, names, 4)][-1] == "mile"  # only when nothing else is left


@pytest.mark.slow
def test_keyphrase_labels_name_topics_with_real_embeddings(tmp_path):
    """Three small topics, MiniLM embeddings: each label names its topic; no boilerplate; cached and deterministic."""
    from mixwise.curate.embed import default_model, embed_texts

    texts = ["Write a haiku about the autumn moon.", "Give me a poem about the ocean waves.", "Write a short poem about the moon.",
             "Compose a poem about love and loss.",
             "How many miles does a car travel in 3 hours at 60 miles per hour?", "A train travels 120 miles at an average speed of 40 mph.",
             "What is the average speed of a cyclist who rides 30 miles in 2 hours?", "How long does a 90 mile trip take at 45 miles per hour?",
             "Explain how to sort a list in Python.", "Write a Python function that sorts a list of numbers.",
             "Give me Python code to reverse a list.", "How do I sort a dictionary by value in Python?"]
    assign = np.repeat(np.arange(3), 4)
    vectors = embed_texts(texts, default_model(), backend="exact")
    centroids = np.stack([vectors[assign == c].mean(axis=0) for c in range(3)])
    embed = cached_embedder(default_model(), "exact", tmp_path / "cache")
    labels = keyphrase_labels(texts, assign, centroids, embed)
    assert "poem" in labels[0][:2] and any("miles" in p or "speed" in p for p in labels[1][:2]) and "python" in " ".join(labels[2][:2])
    words = {w for ps in labels for p in ps for w in p.split()}
    assert not words & {"write", "give", "explain", "compose", "me", "how", "many"}
    shards = sorted((tmp_path / "cache").rglob("shard-*.npy"))
    assert keyphrase_labels(texts, assign, centroids, embed) == labels
    assert sorted((tmp_path / "cache").rglob("shard-*.npy")) == shards  # the second run embedded nothing
    cands = candidate_phrases(texts, assign, 3)
    assert all(cov >= 2 / 4 for ps in cands for _, cov in ps)  # in at least two of the cluster's prompts


def test_kmeans_seeded_sorted_by_size_and_representatives():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    x = np.concatenate([c + 0.1 * rng.normal(size=(n, 16)) for c, n in zip(centres, (50, 30, 20))])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    a1, c1, s1 = spherical_kmeans(x, 3, seed=1)
    a2, _, _ = spherical_kmeans(x, 3, seed=1)
    assert np.array_equal(a1, a2) and a1.dtype == np.int32
    assert np.bincount(a1).tolist() == [50, 30, 20]
    reps = representatives(a1, s1, 3, n=4)
    assert all((a1[r] == c).all() and (np.diff(s1[r]) <= 0).all() for c, r in enumerate(reps))
    with pytest.raises(MixwiseError, match="cannot make 500 clusters"):
        spherical_kmeans(x, 500)


@pytest.fixture(scope="module")
def clustered(tmp_path_factory, shared_data):
    ws = small_workspace(tmp_path_factory.mktemp("cl") / "ws", shared_data)
    embed_workspace(ws)
    report = cluster_workspace(ws, k=4, seed=0)
    return ws, report


@pytest.mark.slow
def test_cluster_stage_columns_deterministic_and_meaningful(clustered, tmp_path):
    ws, report = clustered
    cols = ws.read_columns("cluster")
    assert cols.schema["cluster"] == pl.Int32 and cols.schema["cluster_label"] == pl.String
    assert cols["id"].to_list() == ws.samples(columns=["id"])["id"].to_list()
    assert sorted(cols["cluster"].unique().to_list()) == [0, 1, 2, 3]
    assert all(c["label"] and c["keywords"] for c in report.clusters)
    assert all(len(c["central_prompts"]) == 3 and c["central_prompts"][0] for c in report.clusters)
    assert ws.stage_meta("cluster")["config"]["labels"] == "keyphrase-mmr-1"
    assert [c["size"] for c in report.clusters] == sorted((c["size"] for c in report.clusters), reverse=True)
    # Same seed, fresh workspace copy, forced re-run: identical clusters and labels.
    shutil.copytree(ws.root, tmp_path / "ws")
    again = Workspace.resolve(tmp_path / "ws")
    cluster_workspace(again, k=4, seed=0, force=True)
    assert again.read_columns("cluster").equals(cols)
    assert cluster_workspace(ws, k=4, seed=0).skipped
    # Math word problems and Alpaca instructions separate.
    table = ws.scored()
    assert adjusted_mutual_info_score(table["source"], table["cluster"]) > 0.3


@pytest.mark.slow
def test_cluster_table_json_and_fixed_width_render(clustered, cli, monkeypatch):
    ws, report = clustered
    monkeypatch.setenv("MIXWISE_HOME", str(ws.root))
    r = cli("clusters", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["id"] for row in rows] == [0, 1, 2, 3]
    assert all({"id", "label", "size", "sources"} <= set(row) for row in rows)
    assert sum(row["size"] for row in rows) == 100
    assert sum(row["sources"].get("gsm8k", 0) for row in rows) == 40
    assert all(sum(row["sources"].values()) == row["size"] for row in rows)
    buf = io.StringIO()
    render_cluster_table(Console(file=buf, width=120, color_system=None), cluster_table(ws))
    text = buf.getvalue()
    lines = text.splitlines()
    assert "4 clusters" in lines[0] and all(len(line) <= 120 for line in lines)
    for col in ("id", "label", "size", "sources", "representative prompt"):
        assert col in text
    for row in rows:
        assert row["label"].split(",")[0] in text and f"{row['size']:,}" in text


@pytest.mark.slow
def test_clusters_show_pages(clustered, cli, monkeypatch):
    ws, report = clustered
    monkeypatch.setenv("MIXWISE_HOME", str(ws.root))
    size = report.clusters[0]["size"]
    first = cli("clusters", "show", "0", "--per-page", "2")
    assert first.exit_code == 0 and f"cluster 0: {report.clusters[0]['label']}" in first.output
    assert "next: mixwise clusters show 0 --page 2" in first.output
    rep_id = report.clusters[0]["representatives"][0]
    assert rep_id in first.output  # the representative nearest the centre comes first
    last = cli("clusters", "show", "0", "--per-page", "2", "--page", str(-(-size // 2)))
    assert "next:" not in last.output
    with pytest.raises(MixwiseError, match="no cluster 9"):
        cli("clusters", "show", "9")


class _Names(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls += 1
        prompt = body["messages"][0]["content"]
        name = "Math word problems" if "gsm8k" in prompt or "how many" in prompt.lower() else "General instructions"
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f'"{name}"\n'}}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_llm_naming_over_http_is_cached(clustered, tmp_path):
    ws0, _ = clustered
    shutil.copytree(ws0.root, tmp_path / "ws")
    ws = Workspace.resolve(tmp_path / "ws")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Names)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        llm = {"model": "local", "base_url": f"http://127.0.0.1:{server.server_port}/v1"}
        rep = cluster_workspace(ws, k=4, seed=0, llm=llm)
        assert _Names.calls == 4
        assert {c["label"] for c in rep.clusters} <= {"Math word problems", "General instructions"}
        assert all(c["keyword_label"] for c in rep.clusters)
        assert set(ws.read_columns("cluster")["cluster_label"].unique()) == {c["label"] for c in rep.clusters}
        cluster_workspace(ws, k=4, seed=0, llm=llm, force=True)
        assert _Names.calls == 4  # answered from the cache
    finally:
        server.shutdown()


def test_clusters_before_cluster_is_a_clear_error(ws):
    with pytest.raises(MixwiseError, match="run: mixwise cluster"):
        cluster_table(ws)


@pytest.mark.slow
def test_clusters_tui_browses_clusters_samples_and_styles(clustered, tmp_path):
    """`mixwise clusters --tui` in Textual's headless pilot: styles read "not recorded" until the style stage runs."""
    import asyncio

    from mixwise.tui.clusters_app import ClustersApp
    from tests.test_tui import screen_text

    ws0, report = clustered
    shutil.copytree(ws0.root, tmp_path / "ws")
    ws = Workspace.resolve(tmp_path / "ws")

    async def drive(app, steps):
        async with app.run_test(size=(110, 36)) as pilot:
            await pilot.pause()
            shots = [screen_text(app)]
            for keys in steps:
                await pilot.press(*keys)
                await pilot.pause()
                shots.append(screen_text(app))
            return shots

    c1 = report.clusters[1]
    word = next(w for w in c1["representative_prompts"][0].split() if len(w) > 5 and w.isalpha())
    shots = asyncio.run(drive(ClustersApp(ws), [["down"], ["enter"], ["slash", *word, "enter"], ["escape"], ["q"]]))
    top, second, drill, found, back = shots[:5]
    assert "4 clusters" in top and report.clusters[0]["label"][:20] in top
    assert "styles: not recorded (run: mixwise style)" in top and "n/r" in top
    assert f"cluster 1: {c1['label']}" in second and "most central prompts" in second
    assert f"cluster 1: {c1['label']}" in drill and "PROMPT" in drill
    assert " ".join(c1["representative_prompts"][0].split())[:30] in " ".join(drill.split())  # nearest the centre first
    assert f"match '{word}'" in found
    assert "most central prompts" in back
    # After a style stage: a view per style, and the breakdown.
    t = ws.samples(columns=["id", "response_chars"])
    ws.write_columns("style", t.select("id", pl.when(pl.col("response_chars") > 300).then(pl.lit("long_form"))
                                       .otherwise(pl.lit("concise")).alias("style")), {"fixture": "by length"})
    shots = asyncio.run(drive(ClustersApp(ws), [["enter"], ["right"], ["q"]]))
    top, drill, view = shots[:3]
    assert "styles: " in top and "not recorded" not in top.split("styles:")[1].splitlines()[0]
    assert "all " in drill and ("concise" in drill or "long_form" in drill)
    styles = {r["style"] for r in ws.scored().filter(pl.col("cluster") == 0).iter_rows(named=True)}
    assert any(f"{s}: " in view for s in styles), view
