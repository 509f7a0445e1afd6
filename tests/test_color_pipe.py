"""FORCE_COLOR reaches a pipe: the renderers paint when use_color says so and click.echo must
not strip it because stdout is not a terminal (`FORCE_COLOR=1 ccc validate | cat -v`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from repos import copy_examples


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two copies of the examples: as they are (plan paints its changes) and with one flow
    error (validate and test paint the diagnostic)."""
    base = tmp_path_factory.mktemp("color")
    good, bad = base / "good", base / "bad"
    copy_examples(good)
    copy_examples(bad)
    flow = bad / "flows" / "survey.ivr"
    flow.write_text(flow.read_text(encoding="utf-8") + "\n@@@\n", encoding="utf-8")
    return good, bad


def _ccc(env_extra: dict[str, str], *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR"}}
    env.update(env_extra)
    done = subprocess.run([sys.executable, "-m", "ccc_dsl", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    return done.stdout + done.stderr


@pytest.mark.parametrize("command", [["validate"], ["test"], ["plan"]])
def test_force_color_paints_through_a_pipe(repos: tuple[Path, Path],
                                           command: list[str]) -> None:
    target = repos[0] if command == ["plan"] else repos[1]
    painted = _ccc({"FORCE_COLOR": "1"}, *command, str(target))
    assert "\x1b[3" in painted
    assert "\x1b[" not in _ccc({}, *command, str(target))  # a pipe, no FORCE_COLOR
    assert "\x1b[" not in _ccc({"FORCE_COLOR": "1", "NO_COLOR": "1"}, *command, str(target))
