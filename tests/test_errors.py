"""did_you_mean: close matches first, and a bounded list of known names."""

from mixwise.errors import MixwiseError, did_you_mean


def test_close_match_and_short_listing():
    assert did_you_mean("lmia", ["lima", "dolly"]) == "did you mean 'lima'? known: dolly, lima"
    assert did_you_mean("zzz", []) == "known: (none)"


def test_long_listing_is_truncated():
    names = [f"task_{i:02d}" for i in range(40)]
    hint = did_you_mean("task_O1", names)
    assert "(25 more)" in hint and "task_39" not in hint


def test_error_line_joins_problem_and_fix():
    assert MixwiseError("bad thing", "do this").line() == "bad thing; do this"


def test_cli_error_line_keeps_bracketed_text(tmp_path, monkeypatch, capsys):
    """The one-line error is printed as text, not rich markup: "[str, ...]" in a format hint survives."""
    import pytest

    from mixwise.cli import main

    monkeypatch.setenv("MIXWISE_HOME", str(tmp_path / "ws"))
    src = tmp_path / "odd.jsonl"
    src.write_text('{"foo": 1, "bar": 2}\n')
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(src)])
    assert e.value.code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "keys seen: foo, bar" in err and "conversations: [str, ...]" in err
