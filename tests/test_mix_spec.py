"""Spec parsing and validation: every error names the field, the bad value and the fix."""

from __future__ import annotations

import pytest

from mixwise.errors import SpecError
from mixwise.mixing.filters import check_spec
from mixwise.mixing.spec import load_spec, parse_spec
from mixwise.mixing.synthetic import synthetic_scored


def spec(**over):
    base = {"name": "m", "seed": 3, "components": [{"name": "a", "filter": {"source": "alpha"}, "count": 10}]}
    comp = over.pop("component", None)
    if comp is not None:
        base["components"] = [{"name": "a", **comp}]
    base.update(over)
    return base


def err(data) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec(data)
    return e.value.line()


def test_valid_spec_round_trips_through_its_canonical_form():
    s = parse_spec(spec(size={"samples": 100}, dedup={"drop": ["exact", "near"]}, components=[
        {"name": "a", "filter": {"source": ["alpha", "beta"], "response_chars": {"min": 10}, "exclude": {"cluster": [3]}}, "share": 0.5},
        {"name": "b", "filter": {"score": {"quality": {"max": 0.9}}}, "count": 20, "strategy": "top", "by": "quality"}]))
    assert [c.amount.unit for c in s.components] == ["share", "count"]
    assert parse_spec(s.to_dict()).to_dict() == s.to_dict()


@pytest.mark.parametrize("comp, needles", [
    ({"count": 1000.0}, ["count is a whole number", "1000.0", "write count: 1000"]),
    ({"share": 25}, ["share must be in (0, 1]", "did you mean share: 0.25 or count: 25"]),
    ({"count": 5, "share": 0.5}, ["exactly one amount", "count, share"]),
    ({}, ["exactly one amount", "none"]),
    ({"count": 5, "strategy": "divers"}, ["unknown strategy 'divers'", "did you mean 'diverse'"]),
    ({"count": 5, "filter": {"sorce": "x"}}, ["unknown key 'sorce'", "did you mean 'source'"]),
    ({"count": 5, "strategy": "top"}, ["strategy top needs a score column", "by:"]),
    ({"count": 5, "by": "quality"}, ["'by' only applies to strategy top"]),
    ({"repeat": 2, "strategy": "diverse"}, ["repeat takes every matching row"]),
    ({"count": 5, "filter": {"response_chars": {"min": 10, "max": 5}}}, ["min 10 is larger than max 5", "swap"]),
    ({"tokens": True}, ["tokens must be a positive whole number"]),
])
def test_component_errors_name_field_value_and_fix(comp, needles):
    line = err(spec(component=comp))
    for n in needles:
        assert n in line, line
    assert "component 'a'" in line


def test_spec_level_errors():
    assert "did you mean 'near'" in err(spec(dedup={"drop": ["nearr"]}))
    line = err(spec(components=[{"name": "a", "share": 0.5}]))
    assert "no global size" in line and "size: {samples: 6000}" in line
    assert "add up to 1.2" in err(spec(size={"samples": 10}, components=[{"name": "a", "share": 0.6}, {"name": "b", "share": 0.6}]))
    assert "names repeat: a" in err(spec(components=[{"name": "a", "count": 1}, {"name": "a", "count": 2}]))
    assert "did you mean 'components'" in err({"name": "m", "component": []})
    assert "seed must be an integer" in err(spec(seed="x"))


def test_load_spec_reports_yaml_line_and_keeps_header_comment(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncomponents:\n  - name: a\n   count: 3\n")
    with pytest.raises(SpecError, match="line 4"):
        load_spec(bad)
    good = tmp_path / "good.yaml"
    good.write_text("# Purpose line.\n# Run: mixwise mix good.yaml\nname: g\ncomponents: [{name: a, count: 3}]\n")
    s = load_spec(good, overrides={"extra": "hf:org/data"})
    assert s.description.startswith("Purpose line.") and s.sources == {"extra": "hf:org/data"}
    with pytest.raises(SpecError, match="no spec file"):
        load_spec(tmp_path / "missing.yaml")


@pytest.fixture(scope="module")
def table():
    return synthetic_scored(300, seed=1)


def check_err(data, table) -> str:
    with pytest.raises(SpecError) as e:
        check_spec(parse_spec(data), table)
    return e.value.line()


def test_check_against_table_gives_did_you_mean(table):
    assert "unknown source 'alpah'" in check_err(spec(component={"filter": {"source": "alpah"}, "count": 1}), table)
    assert "did you mean 'alpha'" in check_err(spec(component={"filter": {"source": "alpah"}, "count": 1}), table)
    assert "did you mean 'concise'" in check_err(spec(component={"filter": {"style": "consice"}, "count": 1}), table)
    assert "unknown cluster label 'topic 99'" in check_err(spec(component={"filter": {"cluster": ["topic 99"]}, "count": 1}), table)
    assert "did you mean 'quality'" in check_err(spec(component={"filter": {"score": {"qualty": {"min": 0}}}, "count": 1}), table)
    check_spec(parse_spec(spec(component={"filter": {"cluster": [1, "topic 2"], "style": "concise"}, "count": 1})), table)


def test_missing_stage_is_named_with_the_command(table):
    bare = table.drop("cluster", "cluster_label", "style", "dup_kind", "dup_keep", "dup_of", "dup_group")
    line = check_err(spec(component={"filter": {"style": "concise"}, "count": 1}), bare)
    assert "'style' stage" in line and "run: mixwise style" in line
    line = check_err(spec(component={"count": 1, "strategy": "per_cluster"}), bare)
    assert "'cluster' stage" in line and "run: mixwise cluster" in line
    line = check_err(spec(dedup={"drop": ["exact", "near"]}), bare)
    assert "'dedup' stage" in line and "run: mixwise dedup" in line
    check_spec(parse_spec(spec(dedup={"drop": ["exact"]})), bare)  # exact alone falls back to content hashes
