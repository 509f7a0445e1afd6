"""Issue 11: the README's "30-second tour" runs as written on a fresh checkout after
scripts/main-job.sh (which leaves build/staging and build/production behind): every command
exits as the tour implies and every output line it shows is what ccc prints (up to the
timing). Codes named in README.md are held to the registry by tests/test_hardening_docs.py."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repos import copy_examples

ROOT = Path(__file__).resolve().parents[1]
LONG_RUNNING = {"serve"}
"""Tour commands that run until stopped: `ccc serve` has its own tests (tests/sip)."""
FAILS_ON_PURPOSE = {"ccc validate broken/ --format github"}


def tour() -> list[tuple[str, list[str]]]:
    """The tour's (command, shown output lines), from the first console block after its
    heading; `\\` continues a command, `# ...` comments it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## A 30-second tour", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    pending = ""
    for line in block.splitlines():
        if pending or line.startswith("$ "):
            pending += line.removeprefix("$ ")
            if pending.endswith("\\"):
                pending = pending[:-1]
                continue
            steps.append((" ".join(shlex.split(pending, comments=True)), []))
            pending = ""
        else:
            steps[-1][1].append(line)
    return steps


def _timing(text: str) -> str:
    return re.sub(r" in \d+\.\d+s$", " in Xs", text, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the tour needs of a checkout, with main-job.sh's build/ output in place."""
    root = tmp_path_factory.mktemp("tour")
    copy_examples(root / "examples")
    for folder in ("broken", "schemas"):
        shutil.copytree(ROOT / folder, root / folder)
    for env in ("staging", "production"):
        done = subprocess.run([sys.executable, "-m", "ccc_dsl", "compile", "examples", "--env",
                               env, "-o", f"build/{env}"], cwd=root, capture_output=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    return root


def test_the_tour_parses() -> None:
    commands = [command for command, _ in tour()]
    assert len(commands) >= 10 and all(c.startswith("ccc ") for c in commands)
    assert set(commands) >= FAILS_ON_PURPOSE


RUN = [(c, shown) for c, shown in tour() if c.split()[1] not in LONG_RUNNING]


@pytest.mark.parametrize(("command", "shown"), RUN, ids=[c for c, _ in RUN])
def test_a_tour_command_runs_as_written(checkout: Path, command: str,
                                        shown: list[str]) -> None:
    argv = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "CCC_DEBUG"}}
    done = subprocess.run([sys.executable, "-m", "ccc_dsl", *argv[1:]], cwd=checkout,
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    expected = 1 if command in FAILS_ON_PURPOSE else 0
    assert done.returncode == expected, done.stdout + done.stderr
    printed = _timing(done.stdout + done.stderr).splitlines()
    for line in shown:
        assert _timing(line) in printed, f"{line!r} is not what `{command}` prints"
