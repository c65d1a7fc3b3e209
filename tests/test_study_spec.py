"""Study specs and designs: validation with did-you-mean, cells of every design, totals held, FLAN-style per-source mixing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixwise.errors import SpecError
from mixwise.mixing.build import select, source_rates, split_counts
from mixwise.mixing.spec import parse_spec
from mixwise.study.design import design_cells, largest_remainder
from mixwise.study.spec import load_study
from tests.mix_fixtures import add_stage_columns, build_workspace

BASE = """name: basemix
seed: 3
components:
  - {name: chef, filter: {source: chef}, count: 6}
  - {name: coder, filter: {source: coder}, count: 4}
  - {name: stars, filter: {source: stars}, count: 2}
"""


def study(tmp_path: Path, vary: str, extra: str = "") -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    p = tmp_path / "study.yaml"
    p.write_text(f"# a test study\nname: t\nseed: 5\nbase: base.yaml\nvary: {vary}\nreplicates: 2\n"
                 f"train: {{model: tiny-random, recipe: quick, max_steps: 2}}\n"
                 f"eval: [{{name: arith, kind: mc, tasks: [arc_easy], limit: 10}}]\n{extra}")
    return p


COUNTS = {"chef": 6, "coder": 4, "stars": 2}


def test_leave_one_out_holds_the_total_and_keeps_proportions(tmp_path):
    s = load_study(study(tmp_path, "{design: leave_one_out}"))
    cells = design_cells(s, COUNTS)
    assert [c.id for c in cells] == ["base", "without-chef", "without-coder", "without-stars"]
    for c in cells:
        assert sum(c.counts.values()) == 12
    assert cells[1].counts == {"chef": 0, "coder": 8, "stars": 4}
    assert [x.name for x in cells[1].spec.components] == ["coder", "stars"]  # a zero-count component is left out
    assert cells[1].spec.name == "t--without-chef" and cells[1].spec.seed == 3


def test_sweep_levels_and_a_level_equal_to_the_base_is_the_base(tmp_path):
    s = load_study(study(tmp_path, "{design: sweep, component: chef, levels: [0.0, 0.5, 1.0], total: 20}"))
    cells = design_cells(s, COUNTS)
    assert [c.id for c in cells] == ["base", "chef-0", "chef-1"]  # base has chef at 0.5
    assert cells[1].counts == {"chef": 0, "coder": 13, "stars": 7}  # 2:1 kept, largest remainder
    assert cells[2].counts == {"chef": 20, "coder": 0, "stars": 0}
    assert all(sum(c.counts.values()) == 20 for c in cells)


def test_simplex_is_seeded_and_respects_bounds(tmp_path):
    v = "{design: simplex, components: [chef, coder], cells: 6, min: {chef: 0.2}, max: {chef: 0.7}}"
    a = design_cells(load_study(study(tmp_path, v)), COUNTS)
    b = design_cells(load_study(study(tmp_path, v)), COUNTS)
    assert [c.counts for c in a] == [c.counts for c in b] and len(a) == 7
    for c in a[1:]:
        assert 0.2 - 1e-9 <= c.shares["chef"] <= 0.7 + 1e-9
        assert c.shares["stars"] == pytest.approx(2 / 12)  # not listed: keeps its share


def test_list_design(tmp_path):
    s = load_study(study(tmp_path, "{design: list, cells: [{name: half, shares: {chef: 0.5, coder: 0.5}}]}"))
    cells = design_cells(s, COUNTS)
    assert cells[1].id == "half" and cells[1].counts == {"chef": 6, "coder": 6, "stars": 0}


@pytest.mark.parametrize("vary, extra, message", [
    ("{design: sweep, componnt: chef, levels: [0, 1]}", "", "unknown key 'componnt'; did you mean 'component'"),
    ("{design: sweep, component: chf, levels: [0, 1]}", "", "unknown component 'chf'; did you mean 'chef'"),
    ("{design: leave_one_ot}", "", "unknown design 'leave_one_ot'; did you mean 'leave_one_out'"),
    ("{design: sweep, component: chef, levels: [0, 50]}", "", "shares are fractions in [0, 1]"),
    ("{design: list, cells: [{name: x, shares: {chef: 0.5}}]}", "", "shares sum to 0.5, not 1"),
    ("{design: sweep, component: chef, levels: [100, 1000], param: cap}", "", "does not mix per source"),
    ("{design: leave_one_out}", "replicats: 3\n", "unknown key 'replicats'; did you mean 'replicates'"),
    ("{design: leave_one_out}", "objective: {weights: {a: 1}, constraints: [{task: a}]}\n", "expected {task: NAME, min: NUMBER or base}"),
])
def test_bad_specs_name_the_field_and_the_fix(tmp_path, vary, extra, message):
    with pytest.raises(SpecError) as e:
        load_study(study(tmp_path, vary, extra))
    assert message in e.value.line()


def test_eval_kind_and_keys_are_checked(tmp_path):
    p = study(tmp_path, "{design: leave_one_out}")
    p.write_text(p.read_text().replace("kind: mc", "kind: mcq"))
    with pytest.raises(SpecError, match="unknown evaluation kind 'mcq'; did you mean 'mc'"):
        load_study(p)


def test_largest_remainder_sums_exactly():
    rng = np.random.default_rng(0)
    for _ in range(50):
        shares = dict(zip("abcde", rng.dirichlet(np.ones(5))))
        total = int(rng.integers(1, 1000))
        counts = largest_remainder(shares, total)
        assert sum(counts.values()) == total
        assert all(abs(counts[k] - shares[k] * total) < 1 for k in shares)


# -- FLAN-style per-source mixing -------------------------------------------------------------------


def test_examples_proportional_and_temperature_rates():
    av = {"a": 10_000, "b": 500, "c": 3_000}
    assert source_rates(av, {"rate": "examples_proportional", "cap": 3000}) == {"a": 3000, "b": 500, "c": 3000}
    counts = split_counts(av, source_rates(av, {"rate": "examples_proportional", "cap": 3000}), 5000)
    assert counts == {"a": 2308, "b": 384, "c": 2308} and sum(counts.values()) == 5000
    hot = split_counts(av, source_rates(av, {"rate": "temperature", "temperature": 3.0}), 5000)
    assert sum(hot.values()) == 5000 and hot["b"] == 500  # b would get more than it has: it gives all, the rest spreads
    assert split_counts(av, source_rates(av, {"rate": "temperature", "temperature": 1.0}), 20_000) == av  # more than there is


def test_per_source_component_is_split_and_recorded(ws, tmp_path):
    build_workspace(ws, tmp_path)
    add_stage_columns(ws)
    spec = parse_spec({"name": "flan", "seed": 1, "components": [
        {"name": "all", "filter": {"source": ["chef", "coder", "stars"]}, "count": 12,
         "per_source": {"rate": "examples_proportional", "cap": 3}}]})
    sel = select(spec, ws.scored())
    rec = sel.components[0]["per_source"]
    assert rec["resolved"] == {"chef": 4, "coder": 4, "stars": 4}  # rates min(n, 3) are equal
    assert sel.samples.get_column("source").value_counts().sort("source").get_column("count").to_list() == [4, 4, 4]
    again = select(spec, ws.scored())
    assert again.samples.get_column("id").to_list() == sel.samples.get_column("id").to_list()


@pytest.mark.parametrize("per_source, message", [
    ({"rate": "examples_proportional"}, "examples_proportional needs a cap"),
    ({"rate": "temprature", "temperature": 2}, "did you mean 'temperature'"),
    ({"rate": "temperature"}, "temperature must be a positive number"),
    ({"rate": "examples_proportional", "cap": 3000, "temperature": 2}, "temperature only applies to rate: temperature"),
])
def test_per_source_errors(per_source, message):
    with pytest.raises(SpecError, match=message):
        parse_spec({"name": "x", "components": [{"name": "a", "count": 10, "per_source": per_source}]})


def test_per_source_leaves_existing_manifest_versions_alone():
    spec = parse_spec({"name": "x", "components": [{"name": "a", "count": 10}]})
    assert "per_source" not in spec.components[0].to_dict()
