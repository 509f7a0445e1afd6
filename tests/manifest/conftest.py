"""Shared fixtures for the manifest tests: every test gets its own parse cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the YAML cache at a fresh folder so tests never share or pollute ~/.cache."""
    folder = tmp_path_factory.mktemp("ccc-cache")
    monkeypatch.setenv("CCC_CACHE_DIR", str(folder))
    monkeypatch.delenv("CCC_NO_CACHE", raising=False)
    yield folder
