"""Real data: the shared instruction sets and the (truncated) ShareGPT file from PyPI."""

from __future__ import annotations

import polars as pl
import pytest

from mixwise.curate.ingest import ingest
from mixwise.errors import InputError


def test_lima(shared_data, ws):
    r = ingest(str(shared_data / "instruct" / "lima_train.json"), ws, name="lima")
    assert (r.format, r.rows, r.n_rejected) == ("lima", 1029, 0)
    df = ws.samples()
    multi = df.filter(pl.col("n_turns") > 1)
    assert multi.height == 29
    assert (multi["messages"].list.len() >= 4).all()


def test_dolly_hhrlhf_unwrapped(shared_data, ws):
    r = ingest(str(shared_data / "instruct" / "dolly_hhrlhf_small.jsonl"), ws, name="dolly_hhrlhf")
    assert (r.format, r.rows) == ("prompt_response", 1000)
    df = ws.samples()
    assert (df["template"] == "alpaca").all()
    assert not df["prompt"].str.contains("### Instruction").any()
    assert not df["prompt"].str.contains("### Response").any()


def test_alpaca_two_empty_responses(shared_data, ws):
    r = ingest(str(shared_data / "instruct" / "alpaca_5000.json"), ws, name="alpaca")
    assert (r.format, r.rows, r.rejected) == ("alpaca", 4998, {"empty_output": 2})


def test_gsm8k(shared_data, ws):
    r = ingest(str(shared_data / "instruct" / "gsm8k_train.jsonl"), ws, name="gsm8k")
    assert (r.format, r.rows) == ("gsm8k", 7473)


@pytest.mark.slow
def test_sharegpt_package_file_is_salvaged(ws):
    from mixwise.demo import sharegpt_path

    path = str(sharegpt_path())
    with pytest.raises(InputError) as e:
        ingest(path, ws, name="sharegpt")
    assert "cut off" in e.value.line() and "--salvage" in e.value.line()
    r = ingest(path, ws, name="sharegpt", salvage=True)
    kept_records = r.meta["records_read"] - r.rejected["truncated_record"]
    assert kept_records == 17671  # every complete record before the cut
    assert r.rejected["truncated_record"] == 1
    assert r.rows + sum(v for k, v in r.rejected.items() if k != "truncated_record") == 17671
    # 169 conversations have an assistant turn that is a lone zero-width space (U+200B): empty turns, rejected
    assert r.rows == 17153 and r.rejected["empty_turn"] == 240
    from mixwise.curate.formats import INVISIBLE, PY_WHITESPACE
    from mixwise.schema import full_messages

    turns = ws.samples().select(full_messages())["messages"].explode()
    assert sorted(turns.struct.field("role").unique().to_list()) == ["assistant", "user"]
    assert not turns.struct.field("content").str.strip_chars(PY_WHITESPACE + INVISIBLE).eq("").any()
