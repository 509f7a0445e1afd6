"""Planning an environment and carrying out a plan on its target.

`open_env` finds an environment's target and state backend (from its `target:` settings);
`plan_env` builds the bundle, reads the state, refreshes the target and makes the plan;
`carry_out` applies a plan under the state's lock, in the order that makes a crash at any point
converge on the next apply: the bundle is installed whole, then `current` is switched (the
target does both), then the state is written; the lock is released even on Ctrl-C. A plan made
against another state (serial or lineage moved on) is refused as stale.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ccc_dsl.deploy.plan import Plan, make_plan
from ccc_dsl.deploy.resources import Resource, desired_resources
from ccc_dsl.deploy.state import HostRecord, LocalBackend, State, StateBackend, now, state_path
from ccc_dsl.deploy.targets import make_target
from ccc_dsl.deploy.targets.base import HostResult, Target
from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.manifest.loader import ROOT_FILE, load_repo
from ccc_dsl.manifest.model import Model
from ccc_dsl.pipeline import BundleBuild, build_bundle

Log = Callable[[str], None]


class ApplyError(Exception):
    """A plan that can't be carried out (stale, for another environment); nothing changed."""


@dataclass
class Env:
    """An environment ready to plan: where it deploys and where its state is."""

    root: Path
    name: str | None
    target: Target
    target_label: str
    backend: StateBackend


@dataclass
class Planned:
    env: Env
    plan: Plan
    desired: dict[str, Resource] | None
    files: dict[str, bytes]


def open_env(model: Model, root: Path) -> Env | Diagnostic:
    """The environment of a loaded model, or a located error when it has no target."""
    settings = model.environment.target if model.environment is not None else None
    if settings is None:
        where = Span.point(str(root / ROOT_FILE), 1, 1)
        name = model.env or "(none)"
        return error("S902", f"environment `{name}` has no deploy target", where,
                     "add `target: {type: local, path: .ccc/runtime/NAME}` under "
                     "environments.NAME in ccc.yaml (docs/deploy.md)")
    target = make_target(settings, root, model.env)
    label = (f"local {settings.path}" if settings.type == "local" else
             "ssh " + ", ".join(target.hosts))
    backend = LocalBackend(state_path(root, model.env, settings.state))
    return Env(root, model.env, target, label, backend)


def _pictures(built: BundleBuild) -> Callable[[str, set[str]], str | None]:
    from ccc_dsl.deploy.flowdiff import node_keys
    from ccc_dsl.views.graph import to_mermaid

    analysis = built.build.analysis
    assert analysis is not None

    def picture(flow: str, keys: set[str]) -> str | None:
        ir = analysis.program.flows.get(flow)
        if ir is None:
            return None
        marked = {node for node, key in node_keys(ir).items() if key in keys}
        return to_mermaid(ir, marked)

    return picture


def plan_env(root: Path, env: str | None, *, refresh: bool = True,
             destroy: bool = False) -> Planned | list[Diagnostic]:
    """Plan an environment (apply, or destroy everything); diagnostics when the repo is wrong."""
    built: BundleBuild | None = None
    if destroy:
        loaded = load_repo(root, env)
        model = loaded.model
        if model is None:
            return [d for d in loaded.diagnostics if d.is_error]
    else:
        built = build_bundle(root, env)
        if not built.ok:
            return built.diagnostics
        assert built.build.analysis is not None
        model = built.build.analysis.program.model
        assert model is not None
    opened = open_env(model, root)
    if isinstance(opened, Diagnostic):
        return [opened]
    state = opened.backend.load()
    statuses = asyncio.run(opened.target.refresh()) if refresh else None
    desired = desired_resources(built) if built is not None else None
    plan = make_plan(desired, state, statuses, opened.target.hosts, env=model.env,
                     target=opened.target_label, digest=built.digest if built else None,
                     root=root, pictures=_pictures(built) if built is not None else None)
    return Planned(opened, plan, desired, built.files if built is not None else {})


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


def carry_out(planned: Planned, log: Log) -> Outcome:
    """Carry out a plan; the caller holds the state's lock (`locked`)."""
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

    def progress(host: str, message: str) -> None:
        log(f"{host}: {message}")

    results: list[HostResult] = []
    if plan.operation == "apply" and any(h.action == "deploy" for h in plan.hosts):
        assert plan.bundle_digest is not None
        log(f"deploying bundle {plan.bundle_digest[:12]} to {env.target_label}")
        results = asyncio.run(env.target.deploy(planned.files, plan.bundle_digest, progress))
    elif plan.operation == "destroy" and any(h.action == "destroy" for h in plan.hosts):
        log(f"removing what {env.target_label} runs")
        results = asyncio.run(env.target.destroy(progress))
    for result in results:
        log(f"{result.host}: " + (f"failed: {result.error}" if result.error else
                                  f"runs {result.digest[:12] if result.digest else 'nothing'}"))
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
                dict(base.resources))
    stamp = now()
    for host in plan.hosts:
        if host.error is None:
            new.hosts[host.host] = HostRecord(host.running, stamp)
    for result in results:
        new.hosts[result.host] = HostRecord(result.digest, stamp, result.error)
    if plan.operation == "apply":
        if not results or any(r.error is None for r in results):
            assert planned.desired is not None
            new.resources = dict(planned.desired)
            new.bundle_digest = plan.bundle_digest
    elif all(r.error is None for r in results):
        new.resources = {}
        new.bundle_digest = None
    return new
