"""Shared test fixtures: an isolated workspace, the CLI runner, and ../shared/data access.

Tests that need ../shared/data use the ``shared_data`` fixture: it skips outside
CI when the folder is missing and fails loudly in CI (where CI=true).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

# Tests never reach the Hugging Face Hub: real loading code paths run against local files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture()
def ws_dir(tmp_path, monkeypatch) -> Path:
    """A fresh workspace directory, also set as MIXWISE_HOME."""
    d = tmp_path / "ws"
    monkeypatch.setenv("MIXWISE_HOME", str(d))
    monkeypatch.setenv("MIXWISE_MANIFESTS", str(tmp_path / "manifests"))
    return d


@pytest.fixture()
def ws(ws_dir):
    from mixwise.workspace import Workspace

    return Workspace.resolve(ws_dir)


@pytest.fixture()
def cli(ws_dir):
    """Run the CLI in-process: ``cli("sources", "--json")`` -> click Result."""
    from mixwise.cli import app

    runner = CliRunner()

    def run(*args: str, **kw):
        return runner.invoke(app, list(args), catch_exceptions=False, **kw)

    return run


def require_shared_data() -> Path:
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    if os.environ.get("CI"):
        pytest.fail(f"../shared/data is missing at {SHARED_DATA}: CI must provide it", pytrace=False)
    pytest.skip("../shared/data not present (skipped outside CI only)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()
