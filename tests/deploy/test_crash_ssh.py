"""Crash safety over SSH: SIGKILL `ccc apply` to two loopback sshd hosts at random moments
(the harness of test_crash.py; 4 trials by default, 50 slow): each host's `current` stays
absent or whole, the state loads, its lock is taken over, and the next apply and plan
converge."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import LoopbackHosts, deploy_env_to
from test_crash import Repo, examples_repo, run_trials


@pytest.fixture
def ssh_repo(tmp_path: Path) -> Iterator[Repo]:
    hosts = LoopbackHosts(tmp_path / "ssh")
    hosts.start()
    try:
        repo = examples_repo(tmp_path)
        deploy_env_to(repo.root, "production", hosts)
        repo.name, repo.runtime_dirs = "production", tuple(hosts.dirs)
        yield repo
    finally:
        hosts.stop()


def test_ssh_apply_killed_at_random_moments_converges(ssh_repo: Repo) -> None:
    seen = run_trials(ssh_repo, 4, seed=int(os.environ.get("CCC_CRASH_SEED", "11")))
    assert seen["holding the lock"] >= 1  # one trial aimed at each moment


@pytest.mark.slow
@pytest.mark.timeout(1800)  # minutes of kills and applies, more on a busy machine
def test_ssh_apply_killed_fifty_times(ssh_repo: Repo) -> None:
    seen = run_trials(ssh_repo, 50, seed=int(os.environ.get("CCC_CRASH_SEED", "77")))
    assert seen["holding the lock"] >= 12
    assert seen["between the switch and the state"] >= 3
