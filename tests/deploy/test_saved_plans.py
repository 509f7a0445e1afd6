"""Saved plans and the state's lock: `ccc apply FILE` does exactly the saved plan and refuses a
stale one, one for another environment, and an edited or corrupt file; the lock is exclusive,
a dead holder's lock is taken over, `ccc state unlock ID` forces it, Ctrl-C releases it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ccc_runtime.rundir import RuntimeDir
from deploy_helpers import RUNTIME, ccc, edit, resource_count
from repos import copy_examples

from ccc_dsl.deploy.state import LocalBackend, LockError, State, StateError


def _backend(repo: Path) -> LocalBackend:
    return LocalBackend(repo / ".ccc/state/staging.json")


def test_saved_plan_is_carried_out_exactly(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    planfile = tmp_path / "staging.plan"
    made = ccc("plan", str(repo), "-out", str(planfile))
    assert made.exit_code == 0, made.output
    # The repo changes after the plan was made: apply must deploy what was reviewed.
    edit(repo / "flows/main.ivr", "3 -> support", "3 -> sales")
    done = ccc("apply", str(planfile))
    assert done.exit_code == 0, done.output
    saved_digest = json.loads(planfile.read_text())["body"]["plan"]["bundle_digest"]
    assert RuntimeDir(repo / RUNTIME).current() == saved_digest
    later = ccc("plan", str(repo))
    assert "menu `main_menu` key 3: `support` -> `sales`" in later.output


def test_stale_plan_is_refused(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    planfile = tmp_path / "old.plan"
    assert ccc("plan", str(repo), "-out", str(planfile)).exit_code == 0
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0
    result = ccc("apply", str(planfile))
    assert result.exit_code == 1
    assert "stale plan" in result.output and "lineage none ->" in result.output
    edit(repo / "flows/main.ivr", "3 -> support", "3 -> sales")
    assert ccc("plan", str(repo), "-out", str(planfile)).exit_code == 0
    assert ccc("state", "rm", "agent.lucy", str(repo)).exit_code == 0
    result = ccc("apply", str(planfile))
    assert result.exit_code == 1 and "serial 1 -> 2" in result.output
    assert not (repo / ".ccc/state/staging.json.lock").exists()


def test_plan_for_another_environment_is_refused(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    planfile = tmp_path / "staging.plan"
    assert ccc("plan", str(repo), "--env", "staging", "-out", str(planfile)).exit_code == 0
    result = ccc("apply", str(planfile), "--env", "production")
    assert result.exit_code == 1
    assert "made for environment `staging`, not `production`" in result.output


@pytest.mark.parametrize("damage", ["edit", "truncate", "garbage"])
def test_edited_or_corrupt_plan_is_refused(tmp_path: Path, damage: str) -> None:
    repo = copy_examples(tmp_path / "repo")
    planfile = tmp_path / "staging.plan"
    assert ccc("plan", str(repo), "-out", str(planfile)).exit_code == 0
    raw = planfile.read_text(encoding="utf-8")
    if damage == "edit":
        doc = json.loads(raw)
        doc["body"]["plan"]["resource_changes"][0]["action"] = "delete"
        planfile.write_text(json.dumps(doc), encoding="utf-8")
        expected = "corrupt or was edited (checksum mismatch)"
    elif damage == "truncate":
        planfile.write_text(raw[: len(raw) // 2], encoding="utf-8")
        expected = "not valid JSON"
    else:
        planfile.write_bytes(b"\x00\xff" * 100)
        expected = "not a saved plan"
    result = ccc("apply", str(planfile))
    assert result.exit_code == 1 and expected in result.output
    assert RuntimeDir(repo / RUNTIME).current() is None


def test_detailed_exitcode_and_formats(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    result = ccc("plan", str(repo), "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 2
    doc = json.loads(result.output)
    assert doc["format_version"] == 1 and doc["summary"]["add"] == resource_count(repo)
    markdown = ccc("plan", str(repo), "--format", "markdown")
    assert markdown.output.startswith("### Plan to apply `staging`")
    no_refresh = ccc("plan", str(repo), "--refresh=false")
    assert "not refreshed (--refresh=false)" in no_refresh.output


def test_lock_is_exclusive_and_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    held = backend.lock("apply")
    with pytest.raises(LockError) as caught:
        backend.lock("apply")
    assert caught.value.info is not None and caught.value.info.id == held.id
    with pytest.raises(LockError):
        backend.unlock("not-the-id")
    backend.unlock(held.id)
    # A lock whose process is gone (killed) is taken over.
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=10)
    doc = {**held.to_json(), "pid": dead.pid, "id": "dead-one"}
    backend.lock_path.write_text(json.dumps(doc), encoding="utf-8")
    again = backend.lock("apply")
    assert again.id != "dead-one" and again.pid == os.getpid()
    backend.unlock(again.id)


def test_locked_state_refuses_apply_and_unlock_forces_it(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    backend = _backend(repo)
    info = backend.lock("apply")  # held by this (live) process: not taken over
    result = ccc("apply", str(repo), "--auto-approve")
    assert result.exit_code == 1
    assert f"ccc state unlock {info.id}" in result.output
    forced = ccc("state", "unlock", info.id, str(repo))
    assert forced.exit_code == 0, forced.output
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0


def test_ctrl_c_during_apply_releases_the_lock_and_converges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = copy_examples(tmp_path / "repo")
    real_write = LocalBackend.write

    def interrupted(self: LocalBackend, state: State) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalBackend, "write", interrupted)
    result = ccc("apply", str(repo), "--auto-approve")
    assert result.exit_code == 1 and "interrupted: the lock was released" in result.output
    assert not _backend(repo).lock_path.exists()
    rundir = RuntimeDir(repo / RUNTIME)
    current = rundir.current()
    assert current is not None and rundir.has(current)  # switched before the state write
    monkeypatch.setattr(LocalBackend, "write", real_write)
    plan = ccc("plan", str(repo))
    assert "runs " in plan.output and "the state says nothing" in plan.output
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0
    assert ccc("plan", str(repo), "--detailed-exitcode").exit_code == 0


def test_state_files_are_written_whole_with_a_backup(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "s" / "state.json")
    first = State.new("staging")
    first.serial = 1
    backend.write(first)
    second = State(first.lineage, 2, "staging")
    backend.write(second)
    loaded, backup = backend.load(), backend.load_backup()
    assert loaded is not None and loaded.serial == 2
    assert backup is not None and backup.serial == 1
    assert sorted(p.name for p in backend.path.parent.iterdir()) == [
        "state.json", "state.json.backup"]
    backend.path.write_text('{"format_version": 99}', encoding="utf-8")
    with pytest.raises(StateError, match="state format 99"):
        backend.load()
    backend.path.write_text("{", encoding="utf-8")
    with pytest.raises(StateError, match="not valid JSON"):
        backend.load()


def test_apply_records_what_each_host_really_runs(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed host: the state keeps what it runs, and the next plan deploys to it again."""
    from ccc_dsl.deploy.targets.base import HostResult
    from ccc_dsl.deploy.targets.local import LocalTarget

    repo = copy_examples(tmp_path / "repo")

    async def failing(self: LocalTarget, files: object, digest: str,
                      progress: object = None) -> list[HostResult]:
        return [HostResult("local", None, "disk full")]

    monkeypatch.setattr(LocalTarget, "deploy", failing)
    result = ccc("apply", str(repo), "--auto-approve")
    assert result.exit_code == 1 and "local: disk full" in result.output
    state = _backend(repo).load()
    assert state is not None and state.hosts["local"].error == "disk full"
    assert state.resources == {}  # no host runs the new bundle: nothing recorded as deployed
    monkeypatch.undo()
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0
    assert ccc("plan", str(repo), "--detailed-exitcode").exit_code == 0
