"""`ccc serve PATH` works on the directory `ccc apply` deploys to (the environment resolved as
plan/apply do: `default_env`), serves what was applied rather than the working tree, and its
command-line mistakes are one clear line with the right exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ccc_runtime.rundir import RuntimeDir
from click.testing import CliRunner
from sip_helpers import free_udp_port, rtp_range

from ccc_dsl.cli import cli

CCC = [sys.executable, "-m", "ccc_dsl"]


@pytest.fixture
def init_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "cc"
    assert CliRunner().invoke(cli, ["init", str(repo)]).exit_code == 0
    return repo


def _apply(repo: Path) -> None:
    done = CliRunner().invoke(cli, ["apply", str(repo), "--auto-approve"])
    assert done.exit_code == 0, done.output


def test_serve_before_any_apply_says_to_apply(init_repo: Path) -> None:
    done = CliRunner().invoke(cli, ["serve", str(init_repo)])
    assert done.exit_code == 1
    assert "nothing is deployed to environment `local`" in done.output
    assert f"ccc apply {init_repo} --env local" in done.output
    assert not (init_repo / ".ccc" / "runtime" / "default").exists()


def test_serve_runs_on_the_applied_target_and_leaves_it_alone(init_repo: Path) -> None:
    _apply(init_repo)
    target = init_repo / ".ccc" / "runtime" / "local"
    applied = RuntimeDir(target).current()
    assert applied is not None
    flow = next((init_repo / "flows").glob("*.ivr"))
    flow.write_text(flow.read_text(encoding="utf-8") + "\n// edited, not applied\n",
                    encoding="utf-8")
    proc = subprocess.Popen(
        [*CCC, "serve", str(init_repo), "--listen", f"127.0.0.1:{free_udp_port()}",
         "--rtp-ports", "{}-{}".format(*rtp_range())],
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # ends when serve exits; the test's timeout bounds it
            seen.append(line)
            if "listening on" in line:
                break
        text = "".join(seen)
        assert "serving what `ccc apply` deployed to environment `local`" in text, text
        assert f"bundle {applied[:12]}" in text and f"runtime dir {target}" in text, text
        assert (target / "serve.pid").read_text().strip() == str(proc.pid)  # apply's SIGHUP
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert RuntimeDir(target).current() == applied  # the working tree was not installed
    assert not (init_repo / ".ccc" / "runtime" / "default").exists()


def test_serve_without_path_outside_a_repo_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["serve"])
    assert done.exit_code == 2
    assert done.output.strip().splitlines() == [
        "ccc serve: no config repo here (no ccc.yaml in . or above): give PATH, or "
        "--runtime-dir DIR"]


def test_serve_without_path_serves_the_repo_here(init_repo: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(init_repo)
    done = CliRunner().invoke(cli, ["serve"])
    assert done.exit_code == 1  # found the repo; nothing applied yet
    assert "nothing is deployed to environment `local`" in done.output


def test_a_port_out_of_range_says_so(init_repo: Path) -> None:
    done = CliRunner().invoke(cli, ["serve", str(init_repo), "--listen", "127.0.0.1:99999"])
    assert done.exit_code == 2
    assert "port 99999 is out of range (0-65535)" in done.output
    assert "expected HOST:PORT" not in done.output


def test_an_unknown_available_agent_is_an_error_with_a_hint(init_repo: Path) -> None:
    _apply(init_repo)
    done = CliRunner().invoke(cli, ["serve", str(init_repo), "--available", "alicee"])
    assert done.exit_code == 1
    assert "--available alicee: no such agent in the bundle (did you mean `alice`?)" \
        in done.output
