"""Every format converts, and every rejection reason fires, on tiny hand-written records."""

from __future__ import annotations

import pytest

from mixwise.curate.formats import FORMATS, Reject, detect_format, record_id
from mixwise.curate.templates import unwrap
from mixwise.errors import InputError


def conv(fmt, rec):
    return FORMATS[fmt].convert(rec)


def reason(fmt, rec):
    with pytest.raises(Reject) as e:
        FORMATS[fmt].convert(rec)
    return e.value.reason


def test_alpaca_joins_input():
    c = conv("alpaca", {"instruction": "Translate", "input": "hola", "output": "hello"})
    assert c.messages == [("user", "Translate\n\nhola"), ("assistant", "hello")]
    assert conv("alpaca", {"instruction": "Hi", "input": "", "output": "Hey"}).messages[0] == ("user", "Hi")


def test_dolly_keeps_category_and_context():
    c = conv("dolly", {"instruction": "Who?", "context": "Some text.", "response": "Ada", "category": "closed_qa"})
    assert c.messages[0] == ("user", "Who?\n\nSome text.") and c.category == "closed_qa"


def test_sharegpt_odd_roles_and_system():
    rec = {"id": "x1", "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "Q1"}, {"from": "bing", "value": "A1"},
        {"from": "user", "value": "Q2"}, {"from": "chatgpt", "value": "A2"}]}
    c = conv("sharegpt", rec)
    assert c.system == "Be brief."
    assert c.messages == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2")]
    assert record_id(rec) == "x1"


def test_openai_messages():
    c = conv("openai", {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]})
    assert c.messages == [("user", "2+2?"), ("assistant", "4")]


def test_lima_both_forms():
    c = conv("lima", {"conversations": ["q", "a", "q2", "a2"]})
    assert [r for r, _ in c.messages] == ["user", "assistant", "user", "assistant"]
    c = conv("lima", {"instruction": "q2", "input": "", "output": "a2", "history": [["q1", "a1"]]})
    assert c.messages == [("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")]


def test_prompt_response_unwraps_alpaca_template():
    wrapped = ("Below is an instruction that describes a task. Write a response that appropriately completes the request."
               "\n\n### Instruction:\nwhat is kangen water?\n\n### Response:\n")
    c = conv("prompt_response", {"prompt": wrapped, "response": "Alkaline water."})
    assert c.messages[0] == ("user", "what is kangen water?") and c.template == "alpaca"
    plain = conv("prompt_response", {"prompt": "hi", "completion": "hello"})
    assert plain.template is None and plain.messages[1] == ("assistant", "hello")


def test_unwrap_with_input_section():
    text = "### Instruction:\nSummarize\n\n### Input:\nLong text\n\n### Response:"
    assert unwrap(text) == ("Summarize\n\nLong text", "alpaca")
    assert unwrap("no template here") == ("no template here", None)


def test_gsm8k():
    c = conv("gsm8k", {"question": "1+1?", "answer": "1+1=2\n#### 2"})
    assert c.messages[1][1].endswith("#### 2")


@pytest.mark.parametrize(
    "fmt, rec, expected",
    [
        ("alpaca", {"instruction": "x"}, "missing_output"),
        ("alpaca", {"instruction": "x", "output": "  "}, "empty_output"),
        ("alpaca", {"instruction": 3, "output": "y"}, "wrong_type_instruction"),
        ("alpaca", {"output": "y"}, "missing_instruction"),
        ("dolly", {"instruction": "x", "response": ""}, "empty_response"),
        ("prompt_response", {"prompt": "", "response": "y"}, "empty_prompt"),
        ("prompt_response", {"prompt": ["x"], "response": "y"}, "wrong_type_prompt"),
        ("prompt_response", {"prompt": "### Instruction:\n\n### Response:", "response": "y"}, "empty_prompt"),
        ("gsm8k", {"question": "q"}, "missing_answer"),
        ("sharegpt", {"conversations": []}, "empty_conversation"),
        ("sharegpt", {"conversations": [{"from": "alien", "value": "x"}]}, "unknown_role"),
        ("sharegpt", {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": ""}]}, "empty_turn"),
        ("sharegpt", {"conversations": [{"from": "human", "value": "x"}]}, "no_assistant_turn"),
        ("sharegpt", {"conversations": [{"from": "gpt", "value": "x"}]}, "no_user_turn"),
        ("sharegpt", {"conversations": [{"from": "human", "value": 5}]}, "wrong_type_value"),
        ("sharegpt", {"conversations": [{"value": "x"}]}, "missing_from"),
        ("sharegpt", {"conversations": "text"}, "wrong_type_conversations"),
        ("sharegpt", {}, "missing_conversations"),
        ("openai", {"messages": [{"role": "user"}]}, "missing_content"),
        ("lima", {"conversations": ["q", ""]}, "empty_turn"),
        ("lima", {"conversations": []}, "empty_conversation"),
        ("lima", {"instruction": "q", "output": "a", "history": "nope"}, "wrong_type_history"),
    ],
)
def test_rejection_reasons(fmt, rec, expected):
    assert reason(fmt, rec) == expected


@pytest.mark.parametrize(
    "rec, fmt",
    [
        ({"instruction": "i", "input": "", "output": "o"}, "alpaca"),
        ({"instruction": "i", "context": "", "response": "r", "category": "c"}, "dolly"),
        ({"conversations": [{"from": "human", "value": "x"}]}, "sharegpt"),
        ({"messages": []}, "openai"),
        ({"conversations": ["a", "b"]}, "lima"),
        ({"instruction": "i", "input": "", "output": "o", "history": []}, "lima"),
        ({"prompt": "p", "response": "r"}, "prompt_response"),
        ({"question": "q", "answer": "a"}, "gsm8k"),
    ],
)
def test_detect(rec, fmt):
    assert detect_format([rec], "x").name == fmt


def test_unknown_format_lists_keys_and_formats():
    with pytest.raises(InputError) as e:
        detect_format([{"foo": 1, "bar": 2}], "data.jsonl")
    msg = e.value.line()
    assert "foo" in msg and "bar" in msg and "sharegpt" in msg and "--format" in msg
