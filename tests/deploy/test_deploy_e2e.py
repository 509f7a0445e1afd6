"""End to end on the local target: plan, apply, plan again (no changes), apply again (nothing
changes), `ccc fmt` on every flow then plan (no changes), for every example environment that
deploys locally; destroy; the state commands."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ccc_runtime.rundir import RuntimeDir
from deploy_helpers import EXAMPLES, RUNTIME, ccc, edit, resource_count
from repos import copy_examples

from ccc_dsl.deploy.desired import bytecode_hash
from ccc_dsl.deploy.state import LocalBackend
from ccc_dsl.manifest.loader import read_yaml
from ccc_dsl.pipeline import build_bundle


def _local_envs() -> list[str]:
    root = read_yaml(EXAMPLES / "ccc.yaml", "ccc.yaml").data
    return [name for name, env in root["environments"].items()
            if (env.get("target") or {}).get("type") == "local"]


LOCAL_ENVS = _local_envs()


def test_some_example_env_deploys_locally() -> None:
    assert LOCAL_ENVS == ["staging"]


@pytest.mark.parametrize("env", LOCAL_ENVS)
def test_plan_apply_converges(tmp_path: Path, env: str) -> None:
    repo = copy_examples(tmp_path / "repo")
    first = ccc("plan", str(repo), "--env", env, "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    count = resource_count(repo, env)
    assert f"Plan: {count} to add, 0 to change, 0 to destroy." in first.output
    applied = ccc("apply", str(repo), "--env", env, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert f"Apply complete: {count} added" in applied.output
    host_lines = [line.strip() for line in applied.output.splitlines()
                  if line.strip().startswith("local: ") and ": runs " in line]
    assert len(host_lines) == 1 and host_lines[0].startswith("local: done: runs "), host_lines
    rundir = RuntimeDir(repo / RUNTIME)
    digest = rundir.current()
    assert digest is not None and rundir.has(digest)
    state = LocalBackend(repo / ".ccc/state" / f"{env}.json").load()
    assert state is not None and state.serial == 1 and state.bundle_digest == digest
    assert state.hosts["local"].digest == digest
    again = ccc("plan", str(repo), "--env", env, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.output
    second = ccc("apply", str(repo), "--env", env, "--auto-approve")
    assert second.exit_code == 0, second.output
    after = LocalBackend(repo / ".ccc/state" / f"{env}.json").load()
    assert after is not None and after.serial == 1  # nothing written
    assert rundir.current() == digest
    # ccc fmt on every flow, after making each one ugly: still no change at all.
    for flow in sorted((repo / "flows").glob("*.ivr")):
        text = flow.read_text(encoding="utf-8")
        flow.write_text("\n\n" + text.replace("\n  ", "\n      "), encoding="utf-8")
    assert ccc("fmt", str(repo / "flows")).exit_code == 0
    formatted = ccc("plan", str(repo), "--env", env, "--detailed-exitcode")
    assert formatted.exit_code == 0, formatted.output


def test_reformatted_flow_has_a_new_image_but_the_same_bytecode_hash(tmp_path: Path) -> None:
    """The image holds the source hash and lines, so its sha256 changes with layout; the hash
    a plan compares must not."""
    repo = copy_examples(tmp_path / "repo")
    before = build_bundle(repo, "staging").build.flows["main"].image
    edit(repo / "flows/main.ivr", "  start:\n", "\n  // moved down a line\n  start:\n")
    after = build_bundle(repo, "staging").build.flows["main"].image
    assert before != after
    assert bytecode_hash(before) == bytecode_hash(after)
    edit(repo / "flows/main.ivr", "3 -> support", "3 -> sales")
    changed = build_bundle(repo, "staging").build.flows["main"].image
    assert bytecode_hash(changed) != bytecode_hash(before)


def test_a_change_deploys_a_new_bundle_and_keeps_the_old(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0
    rundir = RuntimeDir(repo / RUNTIME)
    old = rundir.current()
    edit(repo / "flows/main.ivr", "3 -> support", "3 -> sales")
    done = ccc("apply", str(repo), "--auto-approve")
    assert done.exit_code == 0, done.output
    assert "1 changed" in done.output
    new = rundir.current()
    assert new is not None and old is not None and new != old and rundir.has(old)
    assert ccc("plan", str(repo), "--detailed-exitcode").exit_code == 0


def test_apply_without_a_terminal_or_auto_approve_refuses(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    result = ccc("apply", str(repo))
    assert result.exit_code == 1
    assert "no terminal to ask on" in result.output
    assert RuntimeDir(repo / RUNTIME).current() is None
    assert not (repo / ".ccc/state/staging.json").exists()
    assert not (repo / ".ccc/state/staging.json.lock").exists()


def test_destroy_removes_current_and_forgets_resources(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0
    done = ccc("destroy", str(repo), "--auto-approve")
    assert done.exit_code == 0, done.output
    assert f"{resource_count(repo)} destroyed" in done.output
    assert RuntimeDir(repo / RUNTIME).current() is None
    state = LocalBackend(repo / ".ccc/state/staging.json").load()
    assert state is not None and state.resources == {} and state.serial == 2
    again = ccc("destroy", str(repo), "--auto-approve")
    assert again.exit_code == 0 and "Nothing to destroy" in again.output


def test_state_commands(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    missing = ccc("state", "list", str(repo))
    assert missing.exit_code == 1 and "no state yet" in missing.output
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0
    listed = ccc("state", "list", str(repo))
    assert listed.exit_code == 0 and "skill_group.sales\n" in listed.output
    assert len(listed.output.splitlines()) == resource_count(repo)
    shown = ccc("state", "show", "trunk.acme-gateway", str(repo))
    assert shown.exit_code == 0
    doc = json.loads(shown.output)
    assert doc["attributes"]["password"] == {"env": "ACME_TRUNK_PASSWORD", "file": None}
    typo = ccc("state", "show", "skill_group.sale", str(repo))
    assert typo.exit_code == 1 and "did you mean `skill_group.sales`" in typo.output
    pulled = json.loads(ccc("state", "pull", str(repo)).output)
    assert pulled["format_version"] == 1 and pulled["serial"] == 1
    removed = ccc("state", "rm", "agent.lucy", str(repo))
    assert removed.exit_code == 0, removed.output
    plan = ccc("plan", str(repo))
    assert "+ agent.lucy" in plan.output and "Plan: 1 to add, 0 to change" in plan.output
    backup = LocalBackend(repo / ".ccc/state/staging.json").load_backup()
    assert backup is not None and "agent.lucy" in backup.resources


def test_environment_without_target_is_a_located_error(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    edit(repo / "ccc.yaml", "    target: {type: local, path: .ccc/runtime/staging}\n", "")
    result = ccc("plan", str(repo))
    assert result.exit_code == 1
    assert "S902" in result.output and "environment `staging` has no deploy target" \
        in result.output and "ccc.yaml:1:1" in result.output
    assert "add `target: {type: local, path: .ccc/runtime/staging}` under environments.staging" \
        in result.output  # the hint names the environment, ready to paste


def test_state_in_a_configured_path(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    edit(repo / "ccc.yaml", "target: {type: local, path: .ccc/runtime/staging}",
         "target: {type: local, path: .ccc/runtime/staging, state: states/staging.json}")
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0
    assert (repo / "states/staging.json").is_file()
    assert not (repo / ".ccc/state").exists()


def test_secrets_never_in_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = copy_examples(tmp_path / "repo")
    monkeypatch.setenv("ACME_TRUNK_PASSWORD", "s3cr3t-value-xyz")
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0
    text = (repo / ".ccc/state/staging.json").read_text(encoding="utf-8")
    assert "s3cr3t-value-xyz" not in text and "ACME_TRUNK_PASSWORD" in text


def test_serve_pid_file_gets_a_reload_signal_only_when_it_is_ccc(tmp_path: Path) -> None:
    from ccc_dsl.deploy.targets.local import SERVE_PID_FILE, notify_serve

    rundir = tmp_path / "rt"
    rundir.mkdir()
    assert notify_serve(rundir) is False  # no pid file
    marker = tmp_path / "hup"
    script = ("import signal, sys, time, pathlib\n"
              "signal.signal(signal.SIGHUP, lambda *a: pathlib.Path(sys.argv[1]).touch())\n"
              "print('ready', flush=True)\n"
              "time.sleep(20)\n")
    other = subprocess.Popen(["sleep", "20"])
    serve = subprocess.Popen([sys.executable, "-c", script, str(marker), "ccc-serve"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None and serve.stdout.readline() == "ready\n"
        (rundir / SERVE_PID_FILE).write_text(str(other.pid))
        assert notify_serve(rundir) is False and other.poll() is None  # not ccc: left alone
        (rundir / SERVE_PID_FILE).write_text("not a pid")
        assert notify_serve(rundir) is False
        (rundir / SERVE_PID_FILE).write_text(f"{serve.pid}\n")
        assert notify_serve(rundir) is True
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists()
    finally:
        for proc in (other, serve):
            proc.kill()
            proc.wait(timeout=10)
