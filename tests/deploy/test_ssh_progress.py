"""The deploy progress bars: drawn on a terminal only (and not with NO_COLOR), one per host,
ended by done/failed."""

from __future__ import annotations

import io

import pytest

from ccc_dsl.deploy.progress import host_bars


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bars_off_a_terminal() -> None:
    with host_bars(["a", "b"], io.StringIO()) as progress:
        assert progress is None


def test_no_bars_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    with host_bars(["a"], Terminal()) as progress:
        assert progress is None


def test_a_bar_per_host_with_its_last_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    screen = Terminal()
    with host_bars(["cc1.acme.example", "cc2.acme.example:2222"], screen) as progress:
        assert progress is not None
        progress("cc1.acme.example", "uploading 3 of 14 files (11 already on the host)")
        progress("cc2.acme.example:2222", "failed: HOST KEY CHANGED for cc2 [red]x[/red]")
        progress("cc1.acme.example", "done: runs 86803cfeed23")
        progress("not-a-host", "ignored")
    out = screen.getvalue()
    assert "cc1.acme.example" in out and "cc2.acme.example:2222" in out
    assert "done: runs 86803cfeed23" in out
    assert "[red]x[/red]" in out  # host text is never read as markup
    assert "ignored" not in out
