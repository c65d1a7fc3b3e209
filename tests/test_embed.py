"""Embeddings: the real MiniLM model on a small real sample; the npy-shard cache; bf16 vs exact."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mixwise.curate.embed import embed_texts, embed_workspace, load_embeddings
from mixwise.curate.embed_cache import EmbeddingCache, text_keys
from mixwise.curate.ingest import ingest
from mixwise.errors import MixwiseError
from mixwise.workspace import Workspace

from tests.topic_fixtures import LIMA, small_workspace


def test_cache_add_gather_and_interrupted_shard(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    keys = text_keys(["a", "b", "c"])
    assert len(set(keys.tolist())) == 3 and not cache.contains(keys).any()
    vecs = np.eye(3, 4, dtype=np.float32)
    cache.add(keys[:2], vecs[:2])
    cache.add(keys[2:], vecs[2:])
    assert cache.contains(keys).all() and len(cache) == 3
    out = np.zeros((3, 4), dtype=np.float32)
    cache.gather(keys[::-1], out)
    assert np.array_equal(out, vecs[::-1])
    # A shard whose keys file never got written (a crash mid-write) is ignored.
    np.save(tmp_path / "c" / "shard-00099.npy", vecs)
    assert len(EmbeddingCache(tmp_path / "c")) == 3
    with pytest.raises(KeyError):
        cache.gather(text_keys(["zzz"]), np.zeros((1, 4), np.float32))


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, shared_data):
    ws = small_workspace(tmp_path_factory.mktemp("emb") / "ws", shared_data)
    report = embed_workspace(ws)
    return ws, report


@pytest.mark.slow
def test_every_id_embedded_once_normalised(embedded):
    ws, report = embedded
    samples = ws.samples(columns=["id", "prompt"])
    ids, vectors = load_embeddings(ws)
    assert ids == samples["id"].to_list() and len(set(ids)) == len(ids) == report.rows == 100
    assert vectors.shape == (100, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Each distinct prompt was embedded exactly once; float16 on disk.
    assert report.computed == samples["prompt"].n_unique()
    meta = json.loads((report.path / "meta.json").read_text())
    assert meta["dtype"] == "float16" and np.load(report.path / "vectors.npy").dtype == np.float16
    # Vectors mean something: a GSM8K prompt is nearer other GSM8K prompts than Alpaca ones.
    src = ws.samples(columns=["source"])["source"].to_numpy()
    sims = vectors @ vectors[src == "gsm8k"][0]
    assert sims[src == "gsm8k"].mean() > sims[src == "alpaca"].mean() + 0.1


@pytest.mark.slow
def test_rerun_hits_cache_and_new_source_embeds_only_new_rows(embedded, tmp_path, shared_data):
    ws0, first = embedded
    shutil.copytree(ws0.root, tmp_path / "ws")
    ws = Workspace.resolve(tmp_path / "ws")
    again = embed_workspace(ws)
    assert again.skipped and again.computed == 0
    rebuilt = embed_workspace(ws, force=True)
    assert rebuilt.computed == 0 and rebuilt.cached == first.rows
    assert np.array_equal(load_embeddings(ws)[1], load_embeddings(ws0)[1])
    ingest(str(shared_data / LIMA), ws, name="lima", limit=15)
    with pytest.raises(MixwiseError, match="predate"):
        load_embeddings(ws)
    grown = embed_workspace(ws)
    assert grown.rows == first.rows + 15 and grown.computed == 15 and grown.cached == first.rows
    ids, vectors = load_embeddings(ws)
    assert ids == ws.samples(columns=["id"])["id"].to_list() and len(ids) == grown.rows


@pytest.mark.slow
def test_bf16_backend_matches_exact(embedded):
    ws, _ = embedded
    texts = ws.samples(columns=["prompt"])["prompt"].to_list()[:40]
    exact = embed_texts(texts, backend="exact")
    fast = embed_texts(texts, backend="bf16")
    cos = (exact * fast).sum(axis=1)
    assert cos.min() >= 0.99, cos.min()
    with pytest.raises(MixwiseError, match="unknown embedding backend"):
        embed_texts(texts[:1], backend="int3")


@pytest.mark.slow
def test_embed_cli_json_and_prompt_response_field(embedded, cli, monkeypatch):
    ws, _ = embedded
    monkeypatch.setenv("MIXWISE_HOME", str(ws.root))
    r = cli("embed", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["rows"] == 100 and out["computed"] == 0 and out["skipped"]
    r = cli("embed", "--field", "prompt_response", "--json")
    out = json.loads(r.stdout)
    assert out["field"] == "prompt_response" and out["computed"] == 100
    ids, both = load_embeddings(ws, field="prompt_response")
    _, prompt_only = load_embeddings(ws)
    assert both.shape == prompt_only.shape and not np.allclose(both, prompt_only)
