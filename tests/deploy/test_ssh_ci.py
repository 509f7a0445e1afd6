"""The CI recipe (examples/ci/github-actions.yml) stays in step with the CLI: it is valid YAML
with the three jobs, and every `ccc` command it runs parses with today's options."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
from ruamel.yaml import YAML

from ccc_dsl.cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORKFLOW = EXAMPLES / "ci" / "github-actions.yml"


def _workflow() -> dict[str, Any]:
    doc: dict[str, Any] = YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))
    return doc


def _ccc_commands(doc: dict[str, Any]) -> list[list[str]]:
    """Every `ccc ...` line of every `run:` step, with the workflow's env substituted."""
    env = {k: str(v) for k, v in doc.get("env", {}).items()}
    commands = []
    for job in doc["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "").replace("\\\n", " ")
            for line in script.splitlines():
                if not re.match(r"\s*ccc\s", line):
                    continue
                words = shlex.split(re.sub(r"\$\{?(\w+)\}?", lambda m: env[m.group(1)], line))
                commands.append(words[1:words.index(">")] if ">" in words else words[1:])
    return commands


def test_the_workflow_checks_plans_and_applies() -> None:
    doc = _workflow()
    assert set(doc["jobs"]) == {"check", "plan", "apply"}
    assert doc["jobs"]["plan"]["if"] == "github.event_name == 'pull_request'"
    assert doc["jobs"]["apply"]["if"] == "github.event_name == 'push'"
    assert doc["jobs"]["apply"]["concurrency"]["cancel-in-progress"] is False
    verbs = [c[0] for c in _ccc_commands(doc)]
    assert verbs == ["validate", "fmt", "test", "plan", "apply"]


@pytest.mark.parametrize("words", _ccc_commands(_workflow()), ids=" ".join)
def test_each_ccc_command_of_the_workflow_parses(words: list[str]) -> None:
    """Run in the examples folder, as the workflow runs in the config repo."""
    here = Path.cwd()
    os.chdir(EXAMPLES)
    try:
        command = cli.get_command(click.Context(cli), words[0])
        assert command is not None, f"ccc has no command {words[0]!r}"
        args = [w if w != "plan.bin" else str(WORKFLOW) for w in words[1:]]
        command.make_context(words[0], args)  # raises a UsageError on an unknown option
    finally:
        os.chdir(here)
