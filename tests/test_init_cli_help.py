"""The first hour at the command line: the root --help says what each command does in a whole
sentence, every command's help ends with an example and its exit codes, and the shell completes
environment and flow names of the repo at hand."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ccc_dsl.cli import cli
from ccc_dsl.commands.init import template_files


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def _help(*path: str) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", [(), ("state",)], ids=["ccc", "ccc state"])
def test_command_summaries_are_whole_sentences(path: tuple[str, ...]) -> None:
    listing = _help(*path).split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    for line in listing.splitlines():
        assert line.rstrip().endswith(".") and "..." not in line, line


@pytest.mark.parametrize("path", sorted(_commands(cli)), ids=" ".join)
def test_every_command_shows_an_example_and_its_exit_codes(path: tuple[str, ...]) -> None:
    text = _help(*path)
    assert "Example:\n    ccc " in text or "Example:\n    (" in text, text
    for code in "0123":
        assert f"\n    {code}  " in text.split("Exit codes:", 1)[1], (path, code)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel, data in template_files(example=True).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path


def _complete(words: str, cwd: Path) -> list[str]:
    """What bash completion offers for the last word of `words` (click's bash protocol)."""
    env = {**os.environ, "_CCC_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    ccc = Path(sys.executable).with_name("ccc")  # the console script: its name picks the var
    done = subprocess.run([str(ccc)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_shell_completes_environment_names(repo: Path) -> None:
    assert _complete("ccc validate . --env ", repo) == ["production", "staging"]
    assert _complete("ccc plan . --env pro", repo) == ["production"]


def test_shell_completes_flow_names(repo: Path) -> None:
    flows = _complete("ccc graph ", repo)
    assert flows == ["account_lookup", "after_hours", "attendant", "connect_queue", "main",
                     "screening", "studio_ivr", "survey", "vip_routing"]
    assert _complete("ccc simulate ma", repo) == ["main"]
