"""The diff of two manifests: the dict, and its rich view rendered to a fixed-width console."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest
from rich.console import Console

from mixwise.mixing.diff import diff_manifests
from mixwise.views.diff import bar, manifest_tree, render_diff
from mixwise.mixing.manifest import build_manifest
from mixwise.mixing.spec import parse_spec

from tests.mix_fixtures import add_dedup_columns, add_stage_columns, build_workspace


def spec(stars: int, drop: list[str]):
    return parse_spec({"name": "d", "seed": 2, "dedup": {"drop": drop}, "components": [
        {"name": "code", "filter": {"source": "coder"}, "count": 6},
        {"name": "space", "filter": {"source": "stars"}, "count": stars, "shortfall": "allow"}]})


@pytest.fixture()
def pair(ws, tmp_path):
    build_workspace(ws, tmp_path)
    add_stage_columns(ws)
    add_dedup_columns(ws)
    root = tmp_path / "m"
    a = build_manifest(spec(10, []), ws, root)
    b = build_manifest(spec(10, ["exact", "near"]), ws, root)
    return a, b, root


def render(d: dict, width: int = 100) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    render_diff(d, console)
    return console.export_text()


def test_diff_dict_membership_and_dedup(pair):
    a, b, root = pair
    d = diff_manifests("d@" + a.manifest.version, "d", root)
    ia = set(pl.read_parquet(a.path / "samples.parquet")["id"])
    ib = set(pl.read_parquet(b.path / "samples.parquet")["id"])
    assert d["membership"] == {"a_unique": len(ia), "b_unique": len(ib), "kept": len(ia & ib), "added": len(ib - ia), "removed": len(ia - ib)}
    assert d["relation"] == "B is the next version of A"
    assert d["dedup"]["a_drop"] == [] and d["dedup"]["b_drop"] == ["exact", "near"]
    assert {r["kind"]: (r["a"], r["b"]) for r in d["dedup"]["dropped"]} == {"exact": (0, 5), "near": (0, 5)}  # chef 3 + coder 2 exact; stars 6..10 near
    assert d["dedup"]["removed_flagged"].get("near", 0) >= 1
    space = {r["key"]: r for r in d["composition"]["source"]}["stars"]
    assert space["a_samples"] == 10 and space["b_samples"] == 5 and space["delta_samples"] == -5
    assert len(d["examples"]["removed"]) == min(3, len(ia - ib))
    assert json.loads(json.dumps(d)) == d


def test_diff_renders_side_by_side_with_bars_and_deltas(pair):
    a, b, root = pair
    text = render(diff_manifests(a.path.as_posix(), b.path.as_posix()))
    assert f"d@{a.manifest.version}" in text and "B is the next version of A" in text
    assert "by source" in text and "by cluster" in text and "by style" in text
    stars_line = next(l for l in text.splitlines() if l.startswith("stars"))
    assert "10" in stars_line and "-5" in stars_line and "█" in stars_line
    assert "dedup policy: A drops nothing, B drops ['exact', 'near']  (changed)" in text
    assert "length shift" in text and "response_chars" in text
    removed = [l for l in text.splitlines() if l.startswith("- [stars]")]
    assert removed and all(len(l) <= 100 for l in text.splitlines())
    narrow = render(diff_manifests(a.path.as_posix(), b.path.as_posix()), width=70)
    assert "B is the next version of A" in narrow and max(len(l) for l in narrow.splitlines()) <= 70


def test_identical_and_unrelated(pair, ws, tmp_path):
    a, _, root = pair
    same = diff_manifests(a.path.as_posix(), a.path.as_posix())
    assert same["relation"] == "identical (same version)" and same["membership"]["added"] == 0
    assert "no added or removed samples" in render(same)
    build_manifest(parse_spec({"name": "e", "seed": 1, "components": [{"name": "x", "filter": {"source": "chef"}, "count": 3}]}), ws, root)
    d = diff_manifests("d", "e", root)
    assert d["relation"] == "different mixtures (no lineage)" and d["membership"]["kept"] == 0


def test_bar_and_tree():
    assert bar(0.0) == " " * 14 and bar(1.0) == "█" * 14 and bar(0.5).startswith("█" * 7)
    assert len(bar(0.33)) == 14


def test_manifest_tree_shows_fingerprints(pair):
    a, _, _ = pair
    console = Console(width=120, record=True, file=io.StringIO(), color_system=None)
    console.print(manifest_tree(a.manifest))
    text = console.export_text()
    fp = a.manifest.inputs.sources["coder"].fingerprint[:12]
    assert f"fingerprint {fp}" in text and "space  random, asked count 10" in text and "stages" in text
