"""What editors and git hooks call: `ccc fmt -` (stdin to stdout) and the pre-commit hooks of
.pre-commit-hooks.yaml, run the way pre-commit runs them, in a repo made by `ccc init`."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ccc_dsl.cli import cli
from ccc_dsl.commands.init import template_files
from ccc_dsl.manifest.yamlsafe import parse_yaml

ROOT = Path(__file__).resolve().parents[1]
MESSY = 'flow x {\n  start:\n      play "closed" then hangup\n}\n'
TIDY = 'flow x {\n  start:\n    play "closed"\n    hangup\n}\n'
BROKEN = 'flow x {\n  start:\n    plya "closed"\n}\n'


def _fmt(stdin: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["fmt", "-", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_fmt_stdin_writes_the_formatted_text_to_stdout() -> None:
    assert _fmt(MESSY) == (0, TIDY, "")
    assert _fmt(TIDY)[:2] == (0, TIDY)


def test_fmt_stdin_with_syntax_errors_gives_the_input_back_and_fails() -> None:
    code, out, err = _fmt(BROKEN)
    assert code == 1 and out == BROKEN
    assert "<stdin>:3:5: error[P104]" in err
    assert '    3 |     plya "closed"\n      |     ^^^^\n' in err  # the line, as for a file


def test_fmt_stdin_check_and_diff() -> None:
    code, out, err = _fmt(MESSY, "--check")
    assert (code, out) == (1, "") and "would reformat -" in err
    assert _fmt(TIDY, "--check")[0] == 0
    code, out, _ = _fmt(MESSY, "--diff")
    assert code == 0 and out.startswith("--- - (original)\n+++ - (formatted)\n")


def test_fmt_stdin_is_bounded() -> None:
    big = "// x\n" * (1024 * 1024)  # 5 MiB, over the 4 MiB cap: refused, passed through whole
    code, out, err = _fmt(big)
    assert code == 1 and "P100" in err and out == big


def test_fmt_stdin_with_paths_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fmt", "-", str(tmp_path)])
    assert result.exit_code == 2


def _hooks() -> dict[str, dict[str, object]]:
    path = ROOT / ".pre-commit-hooks.yaml"
    parsed = parse_yaml(str(path), path.read_bytes())
    assert not parsed.diagnostics and isinstance(parsed.data, list)
    return {hook["id"]: hook for hook in parsed.data}


def _run_hook(hook: dict[str, object], repo: Path) -> subprocess.CompletedProcess[str]:
    """As pre-commit does: the entry, plus the staged files its `files` pattern matches."""
    entry = shlex.split(str(hook["entry"]))
    assert entry[0] == "ccc"
    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())
    if hook.get("pass_filenames", True):
        entry += [f for f in files if re.search(str(hook["files"]), f)]
    return subprocess.run([sys.executable, "-m", "ccc_dsl", *entry[1:]], cwd=repo,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel, data in template_files(example=False).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path


def test_precommit_hooks_exist_and_run_on_system_ccc() -> None:
    hooks = _hooks()
    assert set(hooks) == {"ccc-fmt", "ccc-validate"}
    assert all(hook["language"] == "system" for hook in hooks.values())


def test_ccc_fmt_hook_rewrites_a_messy_flow(repo: Path) -> None:
    hook = _hooks()["ccc-fmt"]
    assert _run_hook(hook, repo).returncode == 0
    flow = repo / "flows" / "extra.ivr"
    flow.write_text(MESSY, encoding="utf-8")
    done = _run_hook(hook, repo)
    assert done.returncode == 0, done.stderr
    assert flow.read_text(encoding="utf-8") == TIDY  # pre-commit fails the hook: a file changed


def test_ccc_validate_hook_passes_then_fails_on_an_error(repo: Path) -> None:
    hook = _hooks()["ccc-validate"]
    done = _run_hook(hook, repo)
    assert done.returncode == 0, done.stdout
    (repo / "flows" / "extra.ivr").write_text(BROKEN, encoding="utf-8")
    done = _run_hook(hook, repo)
    assert done.returncode == 1 and "P104" in done.stdout
