"""Planning an environment and carrying out a plan on its target.

`open_env` finds an environment's target and state backend (from its `target:` settings);
`plan_env` takes the desired state (desired.py: cached by the repo's fingerprint), reads the
state, refreshes the target and makes the plan;
`carry_out` applies a plan under the state's lock, in the order that makes a crash at any point
converge on the next apply: the bundle is installed whole, then `current` is switched (the
target does both), then the state is written; the lock is released even on Ctrl-C. A plan made
against another state (serial or lineage moved on) is refused as stale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ccc_dsl.deploy.desired import Desired, load_desired
from ccc_dsl.deploy.plan import Plan, make_plan
from ccc_dsl.deploy.resources import Resource, ResourceError, Resources
from ccc_dsl.deploy.state import (
    HostRecord,
    LocalBackend,
    State,
    StateBackend,
    StateError,
    now,
    state_path,
)
from ccc_dsl.deploy.targets.base import HostResult, Progress, Target
from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.util import paused_gc

if TYPE_CHECKING:
    from ccc_dsl.manifest.model import Model

Log = Callable[[str], None]
T = TypeVar("T")
ROOT_FILE = "ccc.yaml"
"""manifest.loader.ROOT_FILE (that module imports pydantic; a test checks they agree)."""


class ApplyError(Exception):
    """A plan that can't be carried out (stale, for another environment); nothing changed."""


@dataclass
class Env:
    """An environment ready to plan: where it deploys and where its state is. The target
    object (asyncssh for an ssh target) is made when first used: a plan without refresh
    needs only its label and host names."""

    root: Path
    name: str | None
    settings: dict[str, Any]
    """The target settings as plain data (manifest.model's LocalTarget or SshTarget)."""
    backend: StateBackend
    _target: Target | None = field(default=None, repr=False)

    @property
    def target(self) -> Target:
        if self._target is None:
            from pydantic import TypeAdapter

            from ccc_dsl.deploy.targets import make_target
            from ccc_dsl.manifest.model import TargetSpec

            spec: Any = TypeAdapter(TargetSpec).validate_python(self.settings)
            self._target = make_target(spec, self.root, self.name)
        return self._target

    @property
    def hosts(self) -> list[str]:
        """The target's host names (`local`, or each ssh host's label)."""
        if self.settings.get("type") == "local":
            from ccc_dsl.deploy.targets.base import LOCAL_HOST

            return [LOCAL_HOST]
        return self.target.hosts

    @property
    def target_label(self) -> str:
        if self.settings.get("type") == "local":
            return f"local {self.settings.get('path')}"
        return "ssh " + ", ".join(self.hosts)


@dataclass
class Planned:
    env: Env
    plan: Plan
    desired: Mapping[str, Resource] | None
    files: dict[str, bytes] = field(default_factory=dict)
    """The bundle to deploy (filled by `with_files` when apply or `-out` needs it)."""
    source: Desired | None = field(default=None, repr=False)

    def with_files(self) -> Planned:
        """This plan with its bundle's files at hand (read from the desired state's cache)."""
        if not self.files and self.source is not None:
            self.files = self.source.files()
        return self


def env_of(root: Path, name: str | None,
           settings: dict[str, Any] | None) -> Env | Diagnostic:
    """The environment `name` deploying with `settings`, or a located error without them."""
    if settings is None:
        where = Span.point(str(root / ROOT_FILE), 1, 1)
        named = name or "NAME"
        return error("S902", f"environment `{name or '(none)'}` has no deploy target", where,
                     f"add `target: {{type: local, path: .ccc/runtime/{named}}}` under "
                     f"environments.{named} in ccc.yaml (docs/deploy.md)")
    state = settings.get("state")
    backend = LocalBackend(state_path(root, name, state if isinstance(state, str) else None))
    return Env(root, name, settings, backend)


def open_env(model: Model, root: Path) -> Env | Diagnostic:
    """The environment of a loaded model, or a located error when it has no target."""
    settings = model.environment.target if model.environment is not None else None
    return env_of(root, model.env,
                  settings.model_dump(mode="json") if settings is not None else None)


def plan_env(root: Path, env: str | None, *, refresh: bool = True,
             destroy: bool = False) -> Planned | list[Diagnostic]:
    """Plan an environment (apply, or destroy everything); diagnostics when the repo is wrong.
    StateError when the state can't be read."""
    desired: Desired | None = None
    if destroy:
        from ccc_dsl.manifest.loader import load_repo

        loaded = load_repo(root, env)
        model = loaded.model
        if model is None:
            return [d for d in loaded.diagnostics if d.is_error]
        opened = open_env(model, root)
    else:
        with paused_gc():  # a cold build of a big repo: millions of objects, no cycles
            found = load_desired(root, env)
        if not isinstance(found, Desired):
            return found
        desired = found
        opened = env_of(root, desired.env, desired.target)
    if isinstance(opened, Diagnostic):
        return [opened]
    state = opened.backend.load()
    statuses = _run(opened.target.refresh()) if refresh else None
    try:
        with paused_gc():  # 10,000 changes (no-ops too) are 50,000 objects, no cycles
            plan = make_plan(desired.resources if desired is not None else None, state,
                             statuses, opened.hosts, env=opened.name,
                             target=opened.target_label,
                             digest=desired.digest if desired is not None else None, root=root,
                             pictures=desired.picture if desired is not None else None,
                             immutable=desired.immutable if desired is not None else None)
    except ResourceError as exc:
        raise StateError(f"{opened.backend.location}: {exc}") from None
    return Planned(opened, plan, desired.resources if desired is not None else None,
                   source=desired)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a target's coroutine (asyncio is imported here: a plan without refresh needs none)."""
    import asyncio

    return asyncio.run(work)


@contextlib.contextmanager
def locked(backend: StateBackend, operation: str, log: Log) -> Iterator[None]:
    """Hold the state's lock; released on any exit, Ctrl-C included."""
    info = backend.lock(operation)
    log(f"state: locked ({info.id}) {backend.location}")
    try:
        yield
    finally:
        backend.unlock(info.id)
        log("state: unlocked")


def check_fresh(plan: Plan, state: State | None) -> None:
    """Refuse a plan made against another state than the current one (stale plan)."""
    lineage = state.lineage if state is not None else None
    serial = state.serial if state is not None else 0
    if lineage != plan.lineage:
        raise ApplyError("stale plan: the state was replaced since the plan was made "
                         f"(lineage {plan.lineage or 'none'} -> {lineage or 'none'}); "
                         "make a new plan")
    if serial != plan.serial:
        raise ApplyError(f"stale plan: the state changed since the plan was made (serial "
                         f"{plan.serial} -> {serial}); make a new plan")


@dataclass
class Outcome:
    state: State | None
    results: list[HostResult]

    @property
    def failed(self) -> list[HostResult]:
        return [r for r in self.results if r.error is not None]


def carry_out(planned: Planned, log: Log, progress: Progress | None = None) -> Outcome:
    """Carry out a plan; the caller holds the state's lock (`locked`). Each host's steps go
    to `progress` (a bar per host on a terminal: progress.host_bars) or else to the log."""
    plan, env = planned.plan, planned.env
    state = env.backend.load()
    check_fresh(plan, state)
    if not plan.has_changes:
        log("no changes: nothing to do")
        return Outcome(state, [])
    steps: dict[tuple[int, str], list[str]] = {}
    for change in plan.changes:
        if change.action != "no-op":
            steps.setdefault((change.step, change.action), []).append(change.address)
    for (step, action), addresses in sorted(steps.items()):
        names = ", ".join(addresses)
        log(f"step {step}: {action} {names if len(names) <= 160 else names[:159] + '…'}")

    def logged(host: str, message: str) -> None:
        log(f"{host}: {message}")

    results: list[HostResult] = []
    if plan.operation == "apply" and any(h.action == "deploy" for h in plan.hosts):
        assert plan.bundle_digest is not None
        log(f"deploying bundle {plan.bundle_digest[:12]} to {env.target_label}")
        results = _run(env.target.deploy(planned.with_files().files,
                                                plan.bundle_digest, progress or logged))
    elif plan.operation == "destroy" and any(h.action == "destroy" for h in plan.hosts):
        log(f"removing what {env.target_label} runs")
        results = _run(env.target.destroy(progress or logged))
    for result in results if progress is not None else ():  # logged: the target said it
        log(f"{result.host}: " + (f"failed: {result.error}" if result.error else
                                  f"runs {result.digest[:12] if result.digest else 'nothing'}")
            + (f"; pruned {len(result.pruned)} old bundle(s)" if result.pruned else ""))
    new = next_state(state, planned, results)
    env.backend.write(new)
    log(f"state: serial {new.serial} written to {env.backend.location}")
    return Outcome(new, results)


def next_state(state: State | None, planned: Planned, results: list[HostResult]) -> State:
    """The state after an apply: what each host really runs; the resources of the new bundle
    once any host runs it (a host that failed stays on its bundle and is caught up later)."""
    plan = planned.plan
    base = state if state is not None else State.new(plan.env)
    new = State(base.lineage, base.serial + 1, plan.env, base.bundle_digest, dict(base.hosts),
                base.resources.copy())
    stamp = now()
    for host in plan.hosts:
        if host.error is None:
            new.hosts[host.host] = HostRecord(host.running, stamp)
    for result in results:
        if result.known:
            new.hosts[result.host] = HostRecord(result.digest, stamp, result.error)
            continue
        # Never read (unreachable, a refused login or host key): it runs what it ran before,
        # as far as anyone knows; `known` False makes the next plan deploy to it.
        last = base.hosts.get(result.host)
        new.hosts[result.host] = HostRecord(last.digest if last is not None else None, stamp,
                                            result.error, known=False)
    if plan.operation == "apply":
        if not results or any(r.error is None for r in results):
            assert planned.desired is not None
            new.resources = Resources.of(planned.desired)
            new.bundle_digest = plan.bundle_digest
    elif all(r.error is None for r in results):
        new.resources = Resources()
        new.bundle_digest = None
    return new
