"""Session-wide test settings: ccc's cache goes to a temporary folder, never the user's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCC_CACHE_DIR", str(tmp_path_factory.mktemp("ccc-cache")))
        patch.delenv("CCC_NO_CACHE", raising=False)
        yield


@pytest.fixture
def pinned_tool(monkeypatch: pytest.MonkeyPatch) -> str:
    """ccc's own code as of the test's start (its fingerprint, which cache keys hold): a
    checkout edited while the suite runs must not turn a test's warm builds into cold ones."""
    import ccc_dsl.cache

    pinned = ccc_dsl.cache.tool_fingerprint()
    monkeypatch.setattr(ccc_dsl.cache, "tool_fingerprint", lambda: pinned)
    return pinned
