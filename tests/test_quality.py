"""Quality signals: each rule on hand-written rows, the byte-level letter count, the stage, the CLI, specs, real data."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixwise.curate.ingest import ingest
from mixwise.curate.quality import ascii_letters, quality_view, score_workspace, signal_columns

LONG = "This paragraph explains the idea in plain words and then moves on to the next point. " * 14  # ~1,200 chars


def _rows(*pairs, messages=None):
    rows = []
    for i, (p, r) in enumerate(pairs):
        rows.append({"id": f"r{i}", "prompt": p, "response": r, "system": None, "messages": None})
    if messages is not None:
        rows.append({"id": f"r{len(rows)}", "prompt": messages[0]["content"], "response": messages[1]["content"], "system": None,
                     "messages": messages})
    schema = {"id": pl.String, "prompt": pl.String, "response": pl.String, "system": pl.String,
              "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String}))}
    return pl.DataFrame(rows, schema=schema)


def _signal(table, column):
    return signal_columns(table)[column].to_list()


def test_refusals_and_disclaimers_are_found_and_look_alikes_are_not():
    t = _rows(
        ("q", "As an AI language model, I cannot predict the future."),
        ("q", "I’m sorry, but I can’t help with that."),  # curly apostrophes, as ChatGPT writes them
        ("q", "As of my knowledge cutoff in September 2021, the tallest building is the Burj Khalifa."),
        ("q", "I don't have personal opinions, but here are both sides."),
        ("q", "I cannot believe how simple this is: add the numbers."),  # "cannot" + another verb
        ("q", "I am sorry but it is raining; bring an umbrella."),  # "but i" needs a word boundary
        ("q", "The AI language model field moved fast in 2023."),
    )
    assert _signal(t, "q_refusal") == [1, 1, 1, 1, 0, 0, 0]


def test_a_refusal_in_a_later_assistant_turn_counts():
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "draw it"}, {"role": "assistant", "content": "I'm sorry, I am not able to create images."}]
    assert _signal(_rows(messages=conv), "q_refusal") == [1]


@pytest.mark.parametrize("response, cut", [
    ("Then I define the model as a sequential model with", True),  # stops on a word no sentence ends with
    ("We first load the data and split it into training and test sets,", True),  # a comma
    (LONG + "Finally you can customize the look and feel of every page further", True),  # long answer, lowercase stop
    ("Here is the code:\n```python\nprint('hi')", True),  # unclosed fence
    ("We first load the data and split it into training and test sets.", False),
    ("Superman and Stargirl are DC heroes, Captain America is from Marvel", False),  # short, no period: human style
    (LONG + "The bombs were later found near the towns of Goldsboro and Faro", False),  # long, ends on a capitalized word
    ("Steps:\n1. Open the file and read every line into a list of strings", False),  # a list item
    ("ok", False),
])
def test_truncated_answers(response, cut):
    assert _signal(_rows(("q", response)), "q_truncated") == [int(cut)]


def test_repetition_is_judged_per_turn_on_prose_lines():
    loop = "\n".join(["The answer is that we should always keep trying again."] * 5 + ["Another different line of real prose here."])
    code = "\n".join(["    result = compute_value(a, b, c, d, e)"] * 6)
    fenced = "Run this:\n```\n" + "\n".join(["Print the same words again and again here"] * 6) + "\n```"
    resend = "Here is the full updated script for you now:\n" + "\n".join(f"Line number {i} of the same long explanation text." for i in range(6))
    conv = [{"role": "user", "content": "write it"}, {"role": "assistant", "content": resend},
            {"role": "user", "content": "again"}, {"role": "assistant", "content": resend}]
    t = _rows(("q", loop), ("q", code), ("q", fenced), messages=conv)
    rep = _signal(t, "q_repetition")
    assert rep[0] == pytest.approx(4 / 6)  # 6 prose lines, 4 repeat an earlier one
    assert rep[1] == 0.0  # code lines are not prose
    assert rep[2] == 0.0  # nor is anything inside a code fence
    assert rep[3] == 0.0  # the same text in two turns is not a loop
    assert _signal(t, "q_flags") == [0, 0, 0, 0]  # repetition is a score, not a flag


def test_latin_share_and_flags():
    t = _rows(("위 내용을 한국어로 번역해줘", "안녕하세요, 반갑습니다"), ("Translate: café", "Kaffee"), ("123", "456"))
    share = _signal(t, "q_latin_share")
    assert share[0] == 0.0 and share[1] == pytest.approx(18 / 19) and share[2] is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(max_codepoint=0x2FFF)), min_size=1, max_size=20), st.integers(0, 5))
def test_ascii_letters_equals_a_regex_count(texts, start):
    s = pl.Series(texts)
    expected = s.str.count_matches(r"[A-Za-z]").to_list()
    assert ascii_letters(s).tolist() == expected
    assert ascii_letters(s.slice(start)).tolist() == expected[start:]


def _workspace_with(ws, tmp_path, rows):
    src = tmp_path / "chat.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(str(src), ws, name="chat")


CHAT = [
    {"prompt": "Who are you?", "response": "As an AI language model, I do not have a name."},
    {"prompt": "Explain Keras", "response": "First we import the modules and then define the model as a sequential model with"},
    {"prompt": "Capital of France?", "response": "Paris is the capital of France."},
    {"prompt": "Name a color", "response": "Blue."},
]


def test_stage_view_cli_and_spec_filter(ws, tmp_path, cli):
    _workspace_with(ws, tmp_path, CHAT)
    rep = score_workspace(ws)
    assert not rep.skipped and rep.flagged["refusal"] == 1 and rep.flagged["truncated"] == 1 and rep.flagged["any"] == 2
    assert score_workspace(ws).skipped
    view = quality_view(ws)
    assert view["by_source"]["chat"]["any"] == 2 and view["examples"]["refusal"][0]["snippet"].startswith("As an AI")
    res = cli("quality", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["total"]["rows"] == 4
    text = cli("quality").stdout
    assert "refusal" in text and "1 (25.0%)" in text
    spec = tmp_path / "clean.yaml"
    spec.write_text("name: clean\nseed: 1\ncomponents:\n  - name: ok\n    filter: {score: {q_flags: {max: 0}}}\n    count: 4\n    shortfall: allow\n")
    res = cli("mix", str(spec), "--json")
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout)
    assert manifest["counts"]["samples"] == 2


def test_manifests_record_quality_classes_and_diff_and_attribute_see_them(ws, tmp_path, cli):
    from mixwise.evaluate.attribute import _shares
    from mixwise.records import Manifest

    _workspace_with(ws, tmp_path, CHAT)
    score_workspace(ws)
    specs = {"all": "", "clean": "    filter: {score: {q_flags: {max: 0}}}\n"}
    built = {}
    for name, extra in specs.items():
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"name: {name}\nseed: 1\ncomponents:\n  - name: c\n{extra}    count: 4\n    shortfall: allow\n")
        built[name] = json.loads(cli("mix", str(spec), "--json").stdout)
    by = {k: v["samples"] for k, v in built["all"]["composition"]["by_quality"].items()}
    assert by == {"clean": 2, "refusal": 1, "truncated": 1}
    assert {k: v["samples"] for k, v in built["clean"]["composition"]["by_quality"].items()} == {"clean": 2}
    d = json.loads(cli("diff", "all", "clean", "--json").stdout)
    rows = {r["key"]: r for r in d["composition"]["quality"]}
    assert rows["clean"]["b_share"] == 1.0 and rows["refusal"]["a_share"] == 0.25 and rows["refusal"]["b_samples"] == 0
    assert "by quality" in cli("diff", "all", "clean").stdout
    assert "quality" in cli("manifest", "show", "all").stdout
    assert _shares(Manifest.read(built["all"]["path"]))["quality"] == {"clean": 0.5, "refusal": 0.25, "truncated": 0.25}


def test_a_spec_on_quality_columns_before_the_stage_names_the_command(ws, tmp_path, cli):
    from mixwise.errors import SpecError

    _workspace_with(ws, tmp_path, CHAT)
    spec = tmp_path / "clean.yaml"
    spec.write_text("name: clean\nseed: 1\ncomponents:\n  - name: ok\n    filter: {score: {q_flags: {max: 0}}}\n    count: 2\n")
    with pytest.raises(SpecError, match="written by the 'quality' stage.*run: mixwise quality"):
        cli("mix", str(spec))
    score_workspace(ws)  # once the stage has run, a misspelt column is a typo, not a missing stage
    spec.write_text(spec.read_text().replace("q_flags", "q_flag"))
    with pytest.raises(SpecError, match="no column 'q_flag'.*did you mean 'q_flags'"):
        cli("mix", str(spec))


@pytest.mark.slow
def test_quality_signals_on_real_sharegpt_and_curated_data(ws, shared_data):
    from mixwise.demo import sharegpt_path

    ingest(str(sharegpt_path()), ws, name="sharegpt", salvage=True)
    ingest(str(shared_data / "instruct" / "gsm8k_train.jsonl"), ws, name="gsm8k")
    ingest(str(shared_data / "instruct" / "alpaca_5000.json"), ws, name="alpaca")
    score_workspace(ws)
    by = quality_view(ws)["by_source"]
    # ShareGPT: scraped ChatGPT answers with refusals and answers cut off at the length limit
    assert by["sharegpt"]["refusal"] == 330 and by["sharegpt"]["truncated"] == 503
    # curated, human-checked sets: (almost) nothing flagged
    assert by["gsm8k"]["any"] == 0 and by["alpaca"]["any"] <= 5
