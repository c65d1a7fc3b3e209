"""Task files: loading, include variants, did-you-mean, suites, prompts built from the shared data."""

from __future__ import annotations

import json

import pytest

from mixwise.errors import InputError, SpecError
from mixwise.evaluate.tasks import load_task, registry, resolve_tasks, suite

CATEGORIES = {"reading_comprehension", "commonsense_reasoning", "world_knowledge", "symbolic_problem_solving",
              "language_understanding"}


def test_unknown_task_suggests_the_close_name():
    with pytest.raises(SpecError) as e:
        load_task("arc_eazy")
    assert "did you mean 'arc_easy'" in str(e.value)
    with pytest.raises(SpecError, match="did you mean 'gauntlet'"):
        resolve_tasks(suite_name="gauntlett")


def test_every_shipped_task_loads_with_version_and_gauntlet_metadata():
    names = list(registry())
    assert len(names) >= 90
    for n in names:
        t = load_task(n)
        assert t.version >= 1 and t.type in ("multiple_choice", "schema", "language_modeling", "generation")
    g = [load_task(n) for n in suite("gauntlet")]
    assert {t.category for t in g} == CATEGORIES
    assert all(0.0 <= t.random_baseline < 1.0 for t in g)
    assert len(suite("mmlu")) == 57 and load_task("mmlu_virology").random_baseline == 0.25
    # the reference's full list, including tasks whose data is not in ../shared/data
    gauntlet = suite("gauntlet")
    for n in ("squad", "coqa", "hellaswag", "winograd", "gsm8k", "bigbench_dyck_languages", "agi_eval_lsat_ar", "siqa"):
        assert n in gauntlet
    assert load_task("copa").random_baseline == 0.5 and load_task("copa").category == "commonsense_reasoning"


def test_variant_by_include_overrides_only_what_it_names(tmp_path, shared_data):
    v = tmp_path / "arc0.yaml"
    v.write_text(f"include: {registry()['arc_easy']}\ntask: arc_easy_0shot\nnum_fewshot: 0\nversion: 2\n")
    t = load_task(str(v))
    assert (t.name, t.version, t.category, t.random_baseline) == ("arc_easy_0shot", 2, "world_knowledge", 0.25)
    item = t.items(shared_data / "mc" / "gauntlet", limit=1)[0]
    first = json.loads((shared_data / "mc/gauntlet/world_knowledge/arc_easy.jsonl").read_text().splitlines()[0])
    assert item.prompt == first["query"]
    assert item.requests == [(first["query"], "\nAnswer: " + c) for c in first["choices"]]
    assert item.gold == first["gold"]


def test_fewshot_is_deterministic_excludes_the_item_and_ignores_limit(shared_data):
    t = load_task("arc_easy")  # 3-shot from the same file
    a = t.items(shared_data / "mc" / "gauntlet", limit=4)
    b = t.items(shared_data / "mc" / "gauntlet", limit=2)
    assert [x.prompt for x in a[:2]] == [x.prompt for x in b]
    docs = t.docs(shared_data / "mc" / "gauntlet")
    for it in a:
        assert it.prompt.count("\nAnswer: ") == 3 and it.prompt.endswith(docs[it.idx]["query"])
        assert docs[it.idx]["query"] not in it.prompt[: -len(docs[it.idx]["query"])]


def test_mmlu_prompt_is_lm_eval_format_with_dev_shots(shared_data):
    t = load_task("mmlu_astronomy")
    it = t.items(shared_data / "mc", limit=1)[0]
    assert it.prompt.startswith("The following are multiple choice questions (with answers) about astronomy.\n\n")
    assert it.prompt.count("\nAnswer:") == 6 and it.prompt.count("\n\n") == 6  # 5 shots + the question
    dev_first = (shared_data / "mc/mmlu/dev/astronomy_dev.csv").read_text().split(",")[0]
    assert dev_first in it.prompt.split("\n\n")[1]
    assert [c for _, c in it.requests] == [" A", " B", " C", " D"] and it.choices == ["A", "B", "C", "D"]


def test_schema_lm_and_generation_shapes(shared_data):
    d = shared_data / "mc" / "gauntlet"
    w = load_task("winogrande").items(d, limit=1)[0]
    assert len({ctx for ctx, _ in w.requests}) == 2 and len({c for _, c in w.requests}) == 1
    lam = load_task("lambada_openai").items(d, limit=1)[0]
    assert lam.requests[0][1] == " signs"
    tq = load_task("triviaqa").items(d, limit=2)[1]
    assert tq.answers == ["Scorpio", "Skorpio", "Scorpio (disambiguation)"] and tq.prompt.endswith("Answer:")
    sv = load_task("svamp").items(d, limit=1)[0]
    assert sv.prompt.count(" #### ") == 3 and sv.answers == ["1"]


def test_missing_data_names_the_file_and_the_flag(tmp_path):
    with pytest.raises(InputError) as e:
        load_task("hellaswag").items(tmp_path)
    assert "language_understanding/hellaswag.jsonl" in str(e.value) and "--data-dir" in str(e.value)


def test_hub_loading_path_with_a_local_dataset_folder(tmp_path):
    # dataset.hf goes through datasets.load_dataset; a local folder stands in for a Hub repo offline
    repo = tmp_path / "repo"
    repo.mkdir()
    rows = [{"query": f"Q{i}:", "choices": ["yes", "no"], "gold": i % 2} for i in range(4)]
    (repo / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    f = tmp_path / "t.yaml"
    f.write_text(f"include: {registry()['copa']}\ntask: hubby\ndataset: {{hf: {{path: {repo}, split: test}}}}\n")
    items = load_task(str(f)).items(tmp_path / "nowhere", limit=3)
    assert [i.prompt for i in items] == ["Q0:", "Q1:", "Q2:"] and items[1].gold == 1
