"""Every command has help with an example; --version; one-line errors."""

from __future__ import annotations

import subprocess
import sys

import typer

from mixwise.cli import app

from .conftest import REPO


def _walk(cmd, path=()):
    # Duck-typed: typer may bundle its own copy of click, so isinstance(click.Group) is not reliable.
    yield path, cmd
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        yield from _walk(sub, path + (name,))


def test_walk_sees_nested_commands():
    names = {" ".join(p) for p, _ in _walk(typer.main.get_command(app))}
    assert {"ingest", "sources", "demo"} <= names


def test_every_command_has_help_with_example():
    root = typer.main.get_command(app)
    missing = []
    for path, cmd in _walk(root):
        if not path:
            continue
        text = (cmd.help or "").strip()
        if not text or "Example" not in text:
            missing.append(" ".join(path))
    assert not missing, f"commands without help + example: {missing}"


def test_help_renders_for_every_command(cli):
    root = typer.main.get_command(app)
    for path, _ in _walk(root):
        result = cli(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "mixwise", *args], capture_output=True, text=True, cwd=REPO, **kw)


def test_version():
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.startswith("mixwise ")


def test_clean_error_line_and_debug_traceback(tmp_path):
    r = _run("--workspace", str(tmp_path), "ingest", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "no such file" in lines[0] and "check the path" in lines[0]
    r = _run("--debug", "--workspace", str(tmp_path), "ingest", str(tmp_path / "missing.jsonl"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_workspace_env_moves_state(tmp_path, monkeypatch):
    src = tmp_path / "a.jsonl"
    src.write_text('{"question": "q?", "answer": "a"}\n')
    env_ws = tmp_path / "elsewhere"
    r = _run("ingest", str(src), env={**__import__("os").environ, "MIXWISE_HOME": str(env_ws)})
    assert r.returncode == 0, r.stderr
    assert (env_ws / "sources" / "a" / "samples.parquet").is_file()
