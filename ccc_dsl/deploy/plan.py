"""The plan: desired state vs the recorded state (and what the target really runs), as data.

`make_plan` computes, and changes nothing:
- per resource an action: `create`, `update`, `replace` (a field that can't change in place
  changed: `IMMUTABLE_FIELDS`, e.g. the instance's domain), `delete` or `no-op`, with the
  attributes that change and, for flows, the change in flow terms (flowdiff.py);
- drift, apart from the repo's changes: a host that runs another bundle than the state says,
  or whose bundle files were edited, and which resources that touches (a drifted resource is
  updated back to what the repo says);
- per host whether the bundle is deployed to it (a host that already runs it is left alone);
- the order: the reference graph's strongly connected components (flows calling each other are
  one step, never a cycle error) in topological order; deletes after, in reverse;
- errors: a delete or replace of a resource with `lifecycle: {prevent_destroy: true}` is a
  located error (S901), and such a plan can't be applied.

Rendering is elsewhere (ccc_dsl/views/plan_*.py); the JSON form (`Plan.to_json`) is versioned
and documented in docs/deploy.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from ccc_dsl.deploy.flowdiff import FlowChange, SourceLine, changed_nodes, diff_flows
from ccc_dsl.deploy.resources import (
    MANIFEST_JSON,
    Resource,
    Resources,
    bundle_docs,
    read_json_file,
    runtime_values,
    split_address,
)
from ccc_dsl.deploy.state import State, now
from ccc_dsl.deploy.targets.base import HostStatus
from ccc_dsl.diagnostics import Diagnostic, Span, error

PLAN_FORMAT = 1
ACTIONS = ("create", "update", "replace", "delete", "no-op")
MAX_PICTURES = 25
"""Mermaid pictures made per plan at most (a huge first plan stays quick)."""
Pictures = Callable[[str, set[str]], str | None]
"""pictures(flow name, node keys to mark) -> a Mermaid picture of the new flow, or None."""


@dataclass(frozen=True)
class AttributeChange:
    path: str
    before: Any
    after: Any
    forces_replacement: bool = False


@dataclass
class Change:
    address: str
    action: str
    step: int = 0
    attributes: list[AttributeChange] = field(default_factory=list)
    hashes: list[AttributeChange] = field(default_factory=list)
    flow: list[FlowChange] = field(default_factory=list)
    drift: bool = False
    """The change restores what the target should run (it was changed outside ccc)."""
    called_by: list[str] = field(default_factory=list)
    """For flows: the flows that call it (they see the change too)."""
    picture: str | None = None
    """For changed flows: a Mermaid picture of the new flow with changed nodes marked."""

    @property
    def kind(self) -> str:
        return split_address(self.address)[0]


@dataclass
class DriftItem:
    host: str
    message: str
    address: str | None = None
    changes: list[AttributeChange] = field(default_factory=list)


@dataclass
class HostPlan:
    host: str
    recorded: str | None
    """The digest the state says the host runs."""
    running: str | None
    """The digest it really runs (refresh), or the recorded one without refresh."""
    action: str
    """`deploy`, `destroy` or `none`."""
    error: str | None = None
    """Refresh could not read the host."""
    known: bool = True
    """False when the last apply could not reach the host: `recorded` is its last known
    digest, and the host is deployed to again."""


@dataclass
class Plan:
    env: str | None
    operation: str
    """`apply` or `destroy`."""
    target: str
    lineage: str | None
    """The state the plan was made against (None: no state yet), and its serial."""
    serial: int
    bundle_digest: str | None
    refreshed: bool
    changes: list[Change] = field(default_factory=list)
    drift: list[DriftItem] = field(default_factory=list)
    hosts: list[HostPlan] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    created: str = field(default_factory=now)

    @property
    def has_changes(self) -> bool:
        return any(c.action != "no-op" for c in self.changes) or any(
            h.action != "none" for h in self.hosts)

    def counts(self) -> dict[str, int]:
        """Terraform's summary: a replacement is one to add and one to destroy."""
        add = sum(c.action in ("create", "replace") for c in self.changes)
        change = sum(c.action == "update" for c in self.changes)
        destroy = sum(c.action in ("delete", "replace") for c in self.changes)
        hosts = sum(h.action != "none" for h in self.hosts)
        return {"add": add, "change": change, "destroy": destroy, "hosts": hosts}

    def to_json(self) -> dict[str, Any]:
        """The plan as versioned JSON (docs/deploy.md, "Plan JSON")."""
        def change(c: Change) -> dict[str, Any]:
            doc = asdict(c)
            doc["flow"] = [asdict(f) for f in c.flow]
            return doc

        return {
            "format_version": PLAN_FORMAT, "env": self.env, "operation": self.operation,
            "target": self.target, "created": self.created,
            "prior_state": {"lineage": self.lineage, "serial": self.serial},
            "bundle_digest": self.bundle_digest, "refreshed": self.refreshed,
            "has_changes": self.has_changes, "summary": self.counts(),
            "resource_changes": [change(c) for c in self.changes],
            "drift": [asdict(d) for d in self.drift],
            "hosts": [asdict(h) for h in self.hosts],
            "errors": [{"code": d.code, "message": d.message,
                        "location": str(d.span) if d.span else None, "hint": d.hint}
                       for d in self.errors],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Plan:
        """Back from `to_json` (a saved plan); KeyError/TypeError/ValueError when malformed."""
        def attr(items: list[Any]) -> list[AttributeChange]:
            return [AttributeChange(**a) for a in items]

        def line(value: Any) -> SourceLine | None:
            return SourceLine(**value) if value else None

        changes = [Change(c["address"], c["action"], int(c["step"]), attr(c["attributes"]),
                          attr(c["hashes"]),
                          [FlowChange(f["change"], f["node"], f["message"], line(f["before"]),
                                      line(f["after"])) for f in c["flow"]],
                          bool(c["drift"]), list(c["called_by"]), c["picture"])
                   for c in doc["resource_changes"]]
        drift = [DriftItem(d["host"], d["message"], d["address"], attr(d["changes"]))
                 for d in doc["drift"]]
        hosts = [HostPlan(**h) for h in doc["hosts"]]
        prior = doc["prior_state"]
        return cls(doc["env"], doc["operation"], doc["target"], prior["lineage"],
                   int(prior["serial"]), doc["bundle_digest"], bool(doc["refreshed"]),
                   changes, drift, hosts, [], str(doc["created"]))


def diff_values(before: Any, after: Any, path: str = "",
                immutable: tuple[str, ...] = ()) -> list[AttributeChange]:
    """Leaf-level differences of two JSON values (dicts recursed, lists compared whole)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[AttributeChange] = []
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}" if path else str(key)
            out += diff_values(before.get(key), after.get(key), sub, immutable)
        return out
    top = path.split(".", 1)[0]
    return [AttributeChange(path, before, after, top in immutable)]


def _span(root: Path, source: str | None) -> Span | None:
    """`file:line:col` (repo-relative, as resources keep it) -> a Span."""
    if not source:
        return None
    file, _, rest = source.rpartition(":")
    file, _, line = file.rpartition(":")
    try:
        return Span.point(str(root / file), int(line), int(rest))
    except ValueError:
        return None


Components = tuple[dict[int, list[str]], list[int], dict[int, set[int]], dict[int, set[int]]]
"""(component -> its addresses, components in topological order, predecessors, successors)."""


def _components(moving: Sequence[str], edges: dict[str, set[str]]) -> Components:
    """The strongly connected components of the graph of changes (`edges`: an address -> what
    depends on it), condensed, in topological order. Kahn's peeling first: without a cycle
    (nearly always) every address is its own component; networkx condenses only what is
    left in cycles (flows calling each other)."""
    indegree = dict.fromkeys(moving, 0)
    for targets in edges.values():
        for target in targets:
            indegree[target] += 1
    ready = sorted(a for a, n in indegree.items() if n == 0)
    order: list[str] = []
    while ready:
        addr = ready.pop()
        order.append(addr)
        for target in sorted(edges.get(addr, ())):
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    comp_of: dict[str, int] = {}
    if len(order) == len(moving):
        comp_of = {addr: i for i, addr in enumerate(order)}
        topo = list(range(len(order)))
    else:
        import networkx as nx  # only for cycles: its import costs more than a whole warm plan

        graph = nx.DiGraph()
        graph.add_nodes_from(moving)
        graph.add_edges_from((a, b) for a, targets in edges.items() for b in targets)
        dag = nx.condensation(graph)
        comp_of = dict(dag.graph["mapping"])
        topo = list(nx.topological_sort(dag))
    groups: dict[int, list[str]] = {}
    for addr, comp in comp_of.items():
        groups.setdefault(comp, []).append(addr)
    preds: dict[int, set[int]] = {c: set() for c in groups}
    succs: dict[int, set[int]] = {c: set() for c in groups}
    for addr, targets in edges.items():
        for target in targets:
            a, b = comp_of[addr], comp_of[target]
            if a != b:
                succs[a].add(b)
                preds[b].add(a)
    return groups, topo, preds, succs


def _order(desired: Mapping[str, Resource], prior: Mapping[str, Resource],
           changes: dict[str, Change]) -> None:
    """Number the steps: components of the reference graph in dependency order (creates,
    updates and replacements), then deletes in reverse dependency order."""
    # Only what changes is ordered: whatever refers to a created or deleted resource changes
    # itself (its attributes or its bytecode name it), so no order runs through a no-op.
    moving = [a for a, c in changes.items() if c.action != "no-op"]
    moving_set = set(moving)
    edges: dict[str, set[str]] = {}
    for addr in moving:
        resource = desired.get(addr) or prior.get(addr)
        assert resource is not None
        for dep in resource.depends_on:
            if dep in moving_set and dep != addr:
                edges.setdefault(dep, set()).add(addr)
    groups, order, preds, succs = _components(moving, edges)
    # A step is a depth in the graph of changed components: what is in one step doesn't
    # depend on anything else in it, so a step is one batch.
    live: dict[int, int] = {}
    for comp in order:
        here = any(changes[a].action not in ("delete", "no-op") for a in groups[comp])
        live[comp] = max((live[p] for p in preds[comp]), default=0) + here
        if here:
            for addr in groups[comp]:
                if changes[addr].action not in ("delete", "no-op"):
                    changes[addr].step = live[comp]
    first_delete = max(live.values(), default=0)
    gone: dict[int, int] = {}
    for comp in reversed(order):
        here = any(changes[a].action == "delete" for a in groups[comp])
        gone[comp] = max((gone[s] for s in succs[comp]), default=0) + here
        if here:
            for addr in groups[comp]:
                if changes[addr].action == "delete":
                    changes[addr].step = first_delete + gone[comp]


def _host_drift(status: HostStatus, recorded: str | None) -> tuple[str | None, bool]:
    """(a message when the host runs something else than recorded, whether its bundle's files
    differ from their manifest)."""
    if status.error is not None:
        return None, False
    if status.digest != recorded:
        running = status.digest[:12] if status.digest else "nothing"
        was = recorded[:12] if recorded else "nothing"
        return f"runs {running}, the state says {was}", False
    if status.digest is None:
        return None, False
    manifest = read_json_file(status.files, MANIFEST_JSON)
    listed = manifest.get("files", {}) if isinstance(manifest, dict) else {}
    edited = sorted(name for name, data in status.files.items() if name != MANIFEST_JSON
                    and listed.get(name) != hashlib.sha256(data).hexdigest())
    if manifest is None or manifest.get("digest") != status.digest or edited:
        what = ", ".join(edited) or MANIFEST_JSON
        return f"files of bundle {status.digest[:12]} were changed by hand ({what})", True
    return None, False


def make_plan(desired: Mapping[str, Resource] | None, state: State | None,
              statuses: list[HostStatus] | None, hosts: list[str], *, env: str | None,
              target: str, digest: str | None, root: Path,
              pictures: Pictures | None = None,
              immutable: Mapping[str, Sequence[str]] | None = None) -> Plan:
    """The plan from the desired resources (None: destroy everything), the state (None: none
    yet) and the target's refresh (None: trust the state, `--refresh=false`). `immutable`:
    kind word -> fields whose change forces a replacement (manifest.model.IMMUTABLE_FIELDS).
    A resource whose canonical line is the same on both sides is a no-op without being
    decoded; only the others are compared field by field."""
    prior: Resources = state.resources if state is not None else Resources()
    fixed = immutable or {}
    plan = Plan(env, "destroy" if desired is None else "apply", target,
                state.lineage if state is not None else None,
                state.serial if state is not None else 0, digest, statuses is not None)
    recorded = {h: (state.hosts[h].digest if state is not None and h in state.hosts else None)
                for h in hosts}
    by_host = {s.host: s for s in statuses} if statuses is not None else {}
    running: dict[str, str | None] = {}
    corrupt: set[str] = set()
    drifted: dict[str, list[tuple[str, list[AttributeChange]]]] = {}
    for host in hosts:
        status = by_host.get(host)
        if status is None:
            running[host] = recorded[host]
            continue
        running[host] = status.digest if status.error is None else recorded[host]
        message, edited = _host_drift(status, recorded[host])
        if edited:
            corrupt.add(host)
        if message is None:
            continue
        plan.drift.append(DriftItem(host, message))
        if status.digest is None or state is None or recorded[host] != state.bundle_digest:
            continue
        docs = bundle_docs(status.files)
        for addr, res in prior.items():
            if not res.runtime:
                continue
            now_values = runtime_values(list(res.runtime), docs)
            found = diff_values(res.runtime, now_values)
            if found:
                drifted.setdefault(addr, []).append((host, found))
                plan.drift.append(DriftItem(host, "changed outside ccc", addr, found))
    changes: dict[str, Change] = {}
    wanted = Resources.of(desired) if desired is not None else Resources()
    wanted_lines, prior_lines = wanted.lines(), prior.lines()
    for addr in sorted(wanted_lines.keys() | prior_lines.keys()):
        line = wanted_lines.get(addr)
        if line is not None and line == prior_lines.get(addr) and addr not in drifted:
            changes[addr] = Change(addr, "no-op")
            continue
        new, old = wanted.get(addr), prior.get(addr)
        if old is None:
            assert new is not None
            changes[addr] = Change(addr, "create", attributes=diff_values({}, new.attributes),
                                   hashes=diff_values({}, new.hashes))
            continue
        if new is None:
            changes[addr] = Change(addr, "delete", attributes=diff_values(old.attributes, {}))
            continue
        attrs = diff_values(old.attributes, new.attributes,
                            immutable=tuple(fixed.get(new.kind, ())))
        hashes = diff_values(old.hashes, new.hashes)
        action = ("replace" if any(a.forces_replacement for a in attrs)
                  else "update" if attrs or hashes
                  else "update" if addr in drifted else "no-op")
        changes[addr] = Change(addr, action, attributes=attrs, hashes=hashes,
                               drift=addr in drifted and not (attrs or hashes))
    _flows(changes, wanted, prior, pictures)
    _order(wanted, prior, changes)
    plan.changes = sorted(changes.values(), key=attrgetter("step", "address"))
    resource_changes = any(c.action != "no-op" for c in plan.changes)
    for host in hosts:
        status = by_host.get(host)
        error_text = status.error if status is not None else None
        record = state.hosts.get(host) if state is not None else None
        # Unknown: the last apply never reached the host, and this refresh didn't either.
        unknown = record is not None and not record.known and (
            status is None or status.error is not None)
        if desired is None:
            action = "destroy" if running[host] is not None or unknown else "none"
        else:
            stale = running[host] != digest or host in corrupt or unknown
            behind = running[host] != (state.bundle_digest if state else None)
            action = "deploy" if stale and (resource_changes or behind or host in corrupt
                                            or unknown) else "none"
        plan.hosts.append(HostPlan(host, recorded[host], running[host], action, error_text,
                                   not unknown))
    plan.errors = _guards(plan.changes, wanted, prior, root)
    return plan


def _flows(changes: dict[str, Change], desired: Mapping[str, Resource],
           prior: Mapping[str, Resource], pictures: Pictures | None) -> None:
    """Flow changes in flow terms, who calls a changed flow, and its picture."""
    callers: dict[str, list[str]] = {}
    for addr in desired:
        if addr.startswith("flow."):
            for dep in desired[addr].depends_on:
                if dep.startswith("flow."):
                    callers.setdefault(dep, []).append(addr)
    made = 0
    for addr, change in changes.items():
        if change.action in ("delete", "no-op") or not addr.startswith("flow."):
            continue
        new, old = desired[addr], prior.get(addr)
        change.called_by = sorted(callers.get(addr, []))
        if old is None or change.drift:
            continue
        change.flow = diff_flows(old.graph, new.graph)
        if pictures is not None and made < MAX_PICTURES:
            change.picture = pictures(new.name, changed_nodes(change.flow))
            made += 1


def _guards(changes: list[Change], desired: Mapping[str, Resource],
            prior: Mapping[str, Resource], root: Path) -> list[Diagnostic]:
    """S901 for every delete or replacement of a resource that prevents its destruction."""
    out = []
    for change in changes:
        if change.action not in ("delete", "replace"):
            continue
        res = desired.get(change.address) if change.action == "replace" else None
        res = res or prior.get(change.address)
        if res is None or not res.prevent_destroy:
            continue
        verb = "delete" if change.action == "delete" else "replace"
        why = ("it is no longer in the repo" if change.action == "delete" else
               "of " + ", ".join(a.path for a in change.attributes if a.forces_replacement))
        hint = ("put it back, or first apply it with `prevent_destroy: false`"
                if change.action == "delete" else
                "revert the change, or set `prevent_destroy: false` if you mean it")
        out.append(error("S901", f"the plan would {verb} `{change.address}` ({why}), and its "
                         "lifecycle sets prevent_destroy", _span(root, res.source), hint))
    return out
