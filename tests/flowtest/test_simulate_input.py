"""`ccc simulate` input a new user hits: end of input at an interactive prompt is silence, the
ACD's `break` state is accepted, and a called number bound to nothing is a clear error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from ft_helpers import write_repo
from test_ft_runner import FLOW, HEAD, KEY1, SILENCE

from ccc_dsl.cli import cli

CALL = ("simulate", "t", "--caller", "+8613700000001", "--at", "2026-12-25T10:00+08:00")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "ok", FLOW, {"t.yaml": HEAD + KEY1 + SILENCE})


def _run(repo: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*CALL[:2], str(repo), *CALL[2:], *args], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_end_of_input_is_silence_not_an_abort(repo: Path) -> None:
    code, out = _run(repo, "--interactive", stdin="")
    assert code == 0, out
    assert "Aborted" not in out
    assert out.count("(end of input: silence)") == 1  # asked once, then no more keys
    assert re.search(r"MENU\s+-> noinput", out)
    assert "outcome:" in out


def test_keys_then_end_of_input(repo: Path) -> None:
    code, out = _run(repo, "--interactive", stdin="1\n")
    assert code == 0, out
    assert re.search(r"MENU\s+-> key 1", out)


def test_an_agent_on_break_is_accepted(repo: Path) -> None:
    code, out = _run(repo, "--agent", "ann=break")
    assert code == 0, out
    code, out = _run(repo, "--agent", "ann=asleep")
    assert code == 2
    assert "available|busy|after-call-work|break|offline" in out


def test_a_called_number_bound_to_nothing_names_the_flows_numbers(repo: Path) -> None:
    code, out = _run(repo, "--called", "999")
    assert code == 1
    assert "error[T715]: no flow is bound to the called number `999`" in out
    assert "numbers bound to `t`: +862161230000" in out
    assert _run(repo, "--called", "+862161230000")[0] == 0
