"""`ccc plan` / `ccc apply` end to end to an ssh environment of two hosts (two real sshd on
127.0.0.1): the examples' production target pointed at them. Apply, then no changes; a host
with a changed key fails alone and the state records what each host really runs; once the
key is trusted again the next apply catches that host up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ccc_runtime.rundir import RuntimeDir
from deploy_helpers import ccc, edit
from repos import copy_examples
from sshd import LoopbackHosts, deploy_env_to

ENV = "production"


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[LoopbackHosts]:
    pair = LoopbackHosts(tmp_path / "ssh")
    pair.start()
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def repo(tmp_path: Path, hosts: LoopbackHosts) -> Path:
    """The examples, production deploying to the two loopback hosts."""
    root = copy_examples(tmp_path / "repo")
    deploy_env_to(root, ENV, hosts)
    return root


def _state_hosts(root: Path) -> dict[str, str | None]:
    doc = json.loads((root / ".ccc" / "state" / f"{ENV}.json").read_text())
    return {host: record["digest"] for host, record in doc["hosts"].items()}


def _state_known(root: Path) -> dict[str, bool]:
    doc = json.loads((root / ".ccc" / "state" / f"{ENV}.json").read_text())
    return {host: record["known"] for host, record in doc["hosts"].items()}


def test_apply_to_two_ssh_hosts_then_no_changes(repo: Path, hosts: LoopbackHosts) -> None:
    done = ccc("apply", str(repo), "--env", ENV, "--auto-approve")
    assert done.exit_code == 0, done.output
    digests = {RuntimeDir(d).current() for d in hosts.dirs}
    assert len(digests) == 1 and None not in digests
    digest = digests.pop()
    assert digest is not None and all(RuntimeDir(d).has(digest) for d in hosts.dirs)
    assert _state_hosts(repo) == dict.fromkeys(hosts.labels(), digest)
    for label in hosts.labels():
        assert f"{label}: switched current to {digest[:12]}" in done.output
    again = ccc("plan", str(repo), "--env", ENV, "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_a_changed_host_key_fails_that_host_and_the_state_says_what_each_runs(
        repo: Path, hosts: LoopbackHosts) -> None:
    assert ccc("apply", str(repo), "--env", ENV, "--auto-approve").exit_code == 0
    first = RuntimeDir(hosts.dirs[0]).current()
    hosts.servers[1].rekey()
    edit(repo / "prompts.yaml", "Sorry, that key is not valid.", "That key is not valid.")
    failed = ccc("apply", str(repo), "--env", ENV, "--auto-approve")
    assert failed.exit_code == 1, failed.output
    assert "HOST KEY CHANGED for " + hosts.labels()[1] in failed.output
    new = RuntimeDir(hosts.dirs[0]).current()
    assert new != first and new is not None
    assert RuntimeDir(hosts.dirs[1]).current() == first  # untouched
    recorded = _state_hosts(repo)
    assert recorded[hosts.labels()[0]] == new
    # never read: the state keeps the digest it last knew and says it doesn't know more
    assert recorded[hosts.labels()[1]] == first
    assert _state_known(repo) == {hosts.labels()[0]: True, hosts.labels()[1]: False}
    # The plan still owes the rekeyed host the new bundle, and says it can't read it.
    pending = ccc("plan", str(repo), "--env", ENV, "--detailed-exitcode")
    assert pending.exit_code == 2, pending.output
    assert "HOST KEY CHANGED" in pending.output
    # Without refresh too: the state alone says that host needs the bundle.
    trusted = ccc("plan", str(repo), "--env", ENV, "--refresh=false", "--detailed-exitcode")
    assert trusted.exit_code == 2, trusted.output
    assert (f"{hosts.labels()[1]}: deploy bundle {new[:12]} (last known to run {first[:12]}; "
            "the last apply could not reach it)") in trusted.output
    assert f"{hosts.labels()[0]}: deploy" not in trusted.output
    # Trusted again (the operator checked the new fingerprint): the next apply catches up.
    hosts.write_known_hosts()
    caught_up = ccc("apply", str(repo), "--env", ENV, "--auto-approve")
    assert caught_up.exit_code == 0, caught_up.output
    assert RuntimeDir(hosts.dirs[1]).current() == new
    assert _state_hosts(repo) == dict.fromkeys(hosts.labels(), new)
    assert ccc("plan", str(repo), "--env", ENV, "--detailed-exitcode").exit_code == 0
