"""Shared fixtures: every test runs with its own empty data dir (JOBC_HOME)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CASES = Path(__file__).resolve().parent / "cases"
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def jobc_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, private JOBC_HOME for each test."""
    home = tmp_path_factory.mktemp("jobc-home")
    monkeypatch.setenv("JOBC_HOME", str(home))
    return home
