"""Manifests: content-hash versions, byte-identical rebuilds, lineage, LATEST, references, contents."""

from __future__ import annotations

import json

import polars as pl
import pytest

from mixwise.errors import MixwiseError
from mixwise.mixing.manifest import build_manifest, list_manifests, load_manifest
from mixwise.mixing.spec import parse_spec
from mixwise.schema import SAMPLE_COLUMNS

from tests.mix_fixtures import add_stage_columns, build_workspace


@pytest.fixture()
def mixed_ws(ws, tmp_path):
    build_workspace(ws, tmp_path)
    add_stage_columns(ws)
    return ws


def make_spec(chef: int = 6, **over) -> object:
    return parse_spec({"name": "mini", "seed": 11, "dedup": {"drop": ["exact"]}, "components": [
        {"name": "food", "filter": {"source": "chef"}, "count": chef},
        {"name": "code", "filter": {"cluster": ["python code"]}, "count": 5, "strategy": "per_cluster"},
        {"name": "space", "filter": {"style": "long_form", "source": "stars"}, "count": 4}], **over})


def test_same_inputs_same_version_byte_for_byte(mixed_ws, tmp_path):
    a = build_manifest(make_spec(), mixed_ws, tmp_path / "one")
    b = build_manifest(make_spec(), mixed_ws, tmp_path / "two")
    assert a.manifest.version == b.manifest.version and a.created and b.created
    assert (a.path / "samples.parquet").read_bytes() == (b.path / "samples.parquet").read_bytes()
    strip = lambda p: {k: v for k, v in json.loads((p / "manifest.json").read_text()).items() if k != "created_at"}  # noqa: E731
    assert strip(a.path) == strip(b.path)
    again = build_manifest(make_spec(), mixed_ws, tmp_path / "one")
    assert not again.created and again.path == a.path
    other = build_manifest(make_spec(seed=12), mixed_ws, tmp_path / "one")
    assert other.manifest.version != a.manifest.version


def test_lineage_and_latest(mixed_ws, tmp_path):
    root = tmp_path / "m"
    v1 = build_manifest(make_spec(6), mixed_ws, root).manifest.to_dict()
    v2 = build_manifest(make_spec(8), mixed_ws, root).manifest.to_dict()
    assert v1["parent"] is None and v2["parent"] == v1["version"]
    assert (root / "mini" / "LATEST").read_text().strip() == v2["version"]
    back = build_manifest(make_spec(6), mixed_ws, root)
    assert not back.created and back.manifest.version == v1["version"]
    assert load_manifest("mini", root).version == v1["version"]  # LATEST moved back
    rows = list_manifests(root)
    assert {r["version"]: (r["latest"], r["parent"]) for r in rows} == {v1["version"]: (True, None), v2["version"]: (False, v1["version"])}
    assert load_manifest(f"mini@{v2['version'][:5]}", root).counts.samples == 8 + 5 + 4
    assert load_manifest(str(root / "mini" / v2["version"])).version == v2["version"]
    with pytest.raises(MixwiseError, match="did you mean 'mini'"):
        load_manifest("minni", root)


def test_manifest_contents(mixed_ws, tmp_path):
    res = build_manifest(make_spec(), mixed_ws, tmp_path / "m")
    m = res.manifest.to_dict()  # the file content
    s = pl.read_parquet(res.path / "samples.parquet")
    assert set(SAMPLE_COLUMNS) <= set(s.columns)
    assert {"component", "cluster", "cluster_label", "style", "style_score_long_form", "n_tokens_est"} <= set(s.columns)
    assert s.height == m["counts"]["samples"] == 15 and s["id"].n_unique() == 15
    assert m["dedup"]["dropped"] == {"exact": 5}  # 3 repeated chef rows + 2 repeated coder rows
    assert [c["selected"] for c in m["counts"]["components"]] == [6, 5, 4]
    assert m["composition"]["by_source"] == {k: {"samples": v, "tokens": t} for k, v, t in
                                             s.group_by("source").agg(pl.len(), pl.col("n_tokens_est").sum()).sort("source").iter_rows()}
    assert m["composition"]["by_cluster"]["1"]["label"] == "python code"
    assert set(m["inputs"]["sources"]) == {"chef", "coder", "stars"}
    assert set(m["inputs"]["stages"]) == {"cluster", "style"}
    assert m["token_estimate"] == "chars/4" and m["schema_version"] == 1 and m["tool"]["mixwise"]
    assert sum(m["composition"]["length"]["response_chars_histogram"]["counts"]) == 15


@pytest.mark.slow
def test_tokenizer_counts_replace_the_estimate(mixed_ws, tmp_path):
    from mixwise.mixing.filters import load_tokenizer

    spec = parse_spec({"name": "tok", "seed": 1, "tokenizer": "tiny-random", "components": [{"name": "a", "filter": {"source": "coder"}, "count": 4}]})
    res = build_manifest(spec, mixed_ws, tmp_path / "m")
    s = pl.read_parquet(res.path / "samples.parquet")
    tok = load_tokenizer("tiny-random")  # the tokenizer the build used (cached), called independently here
    from mixwise.schema import full_messages

    turns = s.select(full_messages())["messages"].to_list()
    expected = [sum(len(tok(m["content"], add_special_tokens=False)["input_ids"]) for m in msgs) for msgs in turns]
    assert s["n_tokens_est"].to_list() == expected
    assert res.manifest.token_estimate == "tokenizer tiny-random" and res.manifest.counts.tokens == sum(expected)


def test_version_does_not_depend_on_where_the_data_lives(tmp_path):
    from mixwise.workspace import Workspace

    versions = []
    for where in ("first", "second/deeper"):
        d = tmp_path / where
        d.mkdir(parents=True)
        w = Workspace(d / "ws")
        build_workspace(w, d)
        add_stage_columns(w)
        versions.append(build_manifest(make_spec(), w, d / "manifests").manifest.version)
    assert versions[0] == versions[1]
