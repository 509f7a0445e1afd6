"""Crash safety of `ccc apply`: SIGKILL it at random moments and check what it leaves.

Each trial changes the repo (a prompt's text, so every apply has a new bundle and a resource to
update), starts `ccc apply --auto-approve` on the local target of a copy of the examples, and
kills it after a random delay: anywhere in a whole apply's time, or, for half the trials, in
its last part, where the bundle is written, `current` switched and the state written. After
each kill:

- the state file loads (or is absent: the first apply died before writing it);
- the lock the killed process held can be taken over (its pid is dead);
- the runtime directory's `current` is absent or points at a whole bundle;
- the next apply succeeds and a plan after it shows no changes.

A dozen trials run by default; `pytest -m slow` runs 100 more.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from ccc_runtime.rundir import RuntimeDir
from click.testing import CliRunner, Result
from repos import copy_examples

from ccc_dsl.cli import cli
from ccc_dsl.deploy.state import LocalBackend, state_path

RUNTIME = Path(".ccc/runtime/staging")  # the examples' staging target (examples/ccc.yaml)
PROMPT_LINE = '      en: {tts: "Sorry, that key is not valid'
"""The start of the line in examples/prompts.yaml whose text each trial changes."""
COMMAND_TIMEOUT = 120


@dataclass
class Repo:
    """A copy of the examples, the environment applied, and the runtime directories its
    target writes (one local, or one per ssh host)."""

    root: Path
    env: dict[str, str]
    name: str = "staging"
    runtime_dirs: tuple[Path, ...] = ()

    def ccc(self, *args: str) -> Result:
        """Run ccc in this process (the checks after a kill: faster than a new interpreter)."""
        return CliRunner(env=self.env).invoke(cli, [*args, str(self.root), "--env", self.name])

    def start_apply(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "ccc_dsl", "apply", ".", "--env", self.name,
             "--auto-approve"],
            cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def edit(self, trial: int) -> None:
        prompts = self.root / "prompts.yaml"
        text = prompts.read_text(encoding="utf-8")
        lines = [line if not line.startswith(PROMPT_LINE) else
                 f'      en: {{tts: "Sorry, that key is not valid ({trial})."}}'
                 for line in text.splitlines()]
        assert lines != text.splitlines(), "the prompt line to edit is gone from the examples"
        prompts.write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def backend(self) -> LocalBackend:
        return LocalBackend(state_path(self.root, self.name, None))

    @property
    def rundirs(self) -> list[RuntimeDir]:
        return [RuntimeDir(d) for d in self.runtime_dirs or (self.root / RUNTIME,)]

    def running(self) -> list[str | None]:
        return [d.current() for d in self.rundirs]

    def bundle_names(self) -> list[set[str]]:
        return [set(os.listdir(d.bundles)) if d.bundles.is_dir() else set()
                for d in self.rundirs]


def examples_repo(tmp_path: Path) -> Repo:
    root = tmp_path / "repo"
    copy_examples(root)
    env = dict(os.environ, NO_COLOR="1", CCC_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("FORCE_COLOR", None)
    return Repo(root, env)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return examples_repo(tmp_path)


@dataclass
class Timing:
    whole: float
    """Seconds for a whole apply."""
    locked: float
    """Seconds of it with the state locked (plan, install, switch, state write)."""


def _measure(repo: Repo) -> Timing:
    """One apply to the end, watching when it takes the lock."""
    repo.edit(-1)
    start = time.monotonic()
    apply = repo.start_apply()
    locked_at = None
    while apply.poll() is None:
        if locked_at is None and repo.backend.lock_path.exists():
            locked_at = time.monotonic()
        time.sleep(0.001)
    end = time.monotonic()
    assert apply.returncode == 0, "a whole apply of the examples failed"
    return Timing(end - start, end - (locked_at or start))


def _until(apply: subprocess.Popen[bytes], condition: Callable[[], bool]) -> bool:
    """Wait for `condition` while the apply runs; False when it ended first."""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while apply.poll() is None and time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.0005)
    return False


def check_after_kill(repo: Repo, trial: str) -> None:
    """What a killed apply must leave: a loadable state, a lock that can be taken over, a
    whole bundle behind `current`; then apply and plan converge."""
    backend = repo.backend
    backend.load()  # raises StateError if the file is torn
    lock = backend.lock("crash test")  # the dead apply's lock, if any, is taken over
    backend.unlock(lock.id)
    for rundir in repo.rundirs:
        current = rundir.current()
        link = rundir.path / "current"
        assert current is not None or not link.is_symlink(), f"{trial}: `current` is dangling"
        if current is not None:
            assert rundir.has(current), f"{trial}: {link} -> a partial bundle"
    done = repo.ccc("apply", "--auto-approve")
    assert done.exit_code == 0, f"{trial}: the next apply failed:\n{done.output}"
    again = repo.ccc("plan", "--detailed-exitcode")
    assert again.exit_code == 0, f"{trial}: the plan after it has changes:\n{again.output}"
    state = backend.load()
    assert state is not None
    assert all(d.has(d.current() or "") for d in repo.rundirs)


MOMENTS = ("anywhere", "holding the lock", "writing the bundle", "after the switch")
"""Where a trial aims its kill, in turn: uniformly over a whole apply; uniformly over its
locked part; just after a new entry appears under bundles/; just after `current` changed
(before the state is written)."""


def run_trials(repo: Repo, trials: int, seed: int) -> dict[str, int]:
    """Kill `trials` applies, aiming at each of MOMENTS in turn; count the kills by where
    they landed."""
    timing = _measure(repo)
    rng = random.Random(seed)
    seen = {"killed": 0, "holding the lock": 0, "between the switch and the state": 0}
    for trial in range(trials):
        repo.edit(trial)
        serial, before, bundles = _serial(repo), repo.running(), repo.bundle_names()
        moment = MOMENTS[trial % len(MOMENTS)]
        apply = repo.start_apply()
        if moment == "anywhere":
            hit, delay = True, rng.uniform(0, timing.whole)
        elif moment == "holding the lock":
            hit = _until(apply, repo.backend.lock_path.exists)
            delay = rng.uniform(0, timing.locked)
        elif moment == "writing the bundle":
            hit = _until(apply, lambda old=bundles: repo.bundle_names() != old)
            delay = rng.uniform(0, 0.02)
        else:
            hit = _until(apply, lambda old=before: repo.running() != old)
            delay = rng.uniform(0, 0.002)
        try:
            apply.wait(timeout=delay if hit else COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            apply.send_signal(signal.SIGKILL)
            apply.wait(timeout=10)
            seen["killed"] += 1
            seen["holding the lock"] += repo.backend.lock_info() is not None
            seen["between the switch and the state"] += (
                repo.running() != before and _serial(repo) == serial)
        check_after_kill(repo, f"seed {seed} trial {trial}: {moment}, +{delay:.3f} s")
    print(f"{trials} trials, apply takes {timing.whole:.2f} s ({timing.locked:.2f} s "
          f"locked): {seen}")
    return seen


def _serial(repo: Repo) -> int | None:
    state = repo.backend.load()
    return None if state is None else state.serial


def test_apply_killed_at_random_moments_leaves_a_state_that_converges(repo: Repo) -> None:
    seen = run_trials(repo, 12, seed=int(os.environ.get("CCC_CRASH_SEED", "9")))
    assert seen["holding the lock"] >= 3  # the kills land inside applies, not around them
    assert seen["between the switch and the state"] >= 1


@pytest.mark.slow
@pytest.mark.timeout(1800)  # minutes of kills and applies, more on a busy machine
def test_apply_killed_a_hundred_times(repo: Repo) -> None:
    seen = run_trials(repo, 100, seed=int(os.environ.get("CCC_CRASH_SEED", "2026")))
    assert seen["holding the lock"] >= 25
    assert seen["between the switch and the state"] >= 5
