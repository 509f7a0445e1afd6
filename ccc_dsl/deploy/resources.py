"""Resource addresses and the desired state: what the config repo says a target should run.

Every manifest resource, the instance and every compiled flow is one `Resource` at an address
`KIND.NAME` (`number.hotline`, `skill_group.sales`, `flow.main`, `instance.AcmeStaging`). Names
are logical, never ids, so one repo deploys to staging and production without id maps.

A resource carries:
- `attributes`: its manifest fields as plain JSON (secrets only as references such as
  `{"env": "ACME_TRUNK_PASSWORD"}`; the repo never holds a value);
- `hashes`: content hashes (a flow's bytecode hash without its line table and source hash, so a
  `ccc fmt`-only change is no change; a prompt's audio sha256 per file);
- `depends_on`: the addresses it references (the plan orders steps by them);
- `runtime`: its slice of the deployed bundle (`bundle.json`, `manifest.json` entries), which
  refresh compares against what a target really runs to find drift;
- `graph`: for flows, a compact summary of the flow graph (flowdiff.py) kept in the state so a
  later plan can say what changed in flow terms.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccc_runtime.bundle import BUNDLE_FILE, MANIFEST_FILE
from ccc_runtime.bytecode import Op, decode

from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.deploy.flowdiff import flow_summary
from ccc_dsl.manifest.loader import SECRET_FIELDS
from ccc_dsl.manifest.model import IMMUTABLE_FIELDS, Model, is_env_name
from ccc_dsl.pipeline import BundleBuild

KIND_WORDS: dict[str, str] = {
    "instance": "instance", "numbers": "number", "skill_groups": "skill_group",
    "agents": "agent", "schedules": "schedule", "prompts": "prompt", "functions": "function",
    "flow_bindings": "flow_binding", "blacklists": "blacklist",
    "outbound_policies": "outbound_policy", "trunks": "trunk",
}
"""YAML kind -> the kind word of an address; flows are `flow`."""
YAML_KINDS = {word: kind for kind, word in KIND_WORDS.items()}
_FLOW_REFS: dict[Op, tuple[str, str]] = {
    Op.HOURS: ("schedule", "schedule"), Op.BLACKLIST: ("blacklist", "list"),
    Op.CALL_FUNCTION: ("function", "function"), Op.STAFFING: ("skill_group", "group"),
    Op.QUEUE: ("skill_group", "group"), Op.VOICEMAIL: ("skill_group", "box"),
    Op.CALL_FLOW: ("flow", "flow"),
}
"""Opcodes naming a resource: (kind word, operand name)."""


def address(kind: str, name: str) -> str:
    return f"{kind}.{name}"


def split_address(addr: str) -> tuple[str, str]:
    """`number.hotline` -> (`number`, `hotline`); names may hold dots, kinds never do."""
    kind, _, name = addr.partition(".")
    return kind, name


@dataclass
class Resource:
    """One resource as desired (from the repo) or as recorded (in the state)."""

    address: str
    attributes: dict[str, Any]
    hashes: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    runtime: dict[str, Any] = field(default_factory=dict)
    """Locator (`bundle.json:agents/alice`) -> the value there, for drift."""
    source: str | None = None
    """Where it is written, repo-relative `file:line:col`: kept for flows and for resources
    with prevent_destroy (S901 points there, even after the resource left the repo)."""
    prevent_destroy: bool = False
    graph: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        return split_address(self.address)[0]

    @property
    def name(self) -> str:
        return split_address(self.address)[1]

    def same_content(self, other: Resource) -> bool:
        """Whether a deploy would change nothing of this resource (attributes and hashes)."""
        return self.attributes == other.attributes and self.hashes == other.hashes

    def immutable(self) -> tuple[str, ...]:
        """Attributes whose change forces a replacement."""
        return IMMUTABLE_FIELDS.get(self.kind, ())

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"address": self.address, "attributes": self.attributes,
                               "hashes": self.hashes, "depends_on": self.depends_on,
                               "runtime": self.runtime, "source": self.source,
                               "prevent_destroy": self.prevent_destroy}
        if self.graph is not None:
            doc["graph"] = self.graph
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Resource:
        """A recorded resource; a secret reference that is not surely a variable name (a state
        written before validation caught a pasted key) is hidden before anything can print it."""
        return cls(str(doc["address"]), _hide_pasted(dict(doc["attributes"])),
                   dict(doc.get("hashes", {})), list(doc.get("depends_on", [])),
                   _hide_pasted(dict(doc.get("runtime", {}))), doc.get("source"),
                   bool(doc.get("prevent_destroy", False)), doc.get("graph"))


HIDDEN_REF = "<hidden: not a variable name>"
"""What a plan shows for an `env` reference that may hold the secret itself."""


def _hide_pasted(value: Any, depth: int = 0) -> Any:
    """`value` with the `env` of every `token:`/`password:` reference that fails is_env_name
    replaced by HIDDEN_REF."""
    if depth > 64:  # state files are bounded on load; this only guards the recursion
        return value
    if isinstance(value, dict):
        out = {k: _hide_pasted(v, depth + 1) for k, v in value.items()}
        for key in SECRET_FIELDS & out.keys():
            ref = out[key]
            if isinstance(ref, dict) and isinstance(ref.get("env"), str) and not is_env_name(
                    ref["env"]):
                out[key] = {**ref, "env": HIDDEN_REF}
        return out
    if isinstance(value, list):
        return [_hide_pasted(v, depth + 1) for v in value]
    return value


def canonical(value: Any) -> bytes:
    """Deterministic JSON bytes of a value (for hashes and checksums)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bytecode_hash(image: bytes) -> str:
    """A flow's identity for plans: its decoded nodes (opcode, operand values, exits), entry
    and error handler, without the source hash, the compiler version and the line table, so
    reformatting or moving lines is no change, while any change in behaviour is."""
    flow = decode(image)
    doc = [flow.format_version, flow.name, flow.entry, flow.error_node,
           [[int(n.op), list(n.operands), list(n.exits)] for n in flow.nodes]]
    return sha256(canonical(doc))


def read_json_file(files: Mapping[str, bytes], name: str) -> Any:
    """A JSON file of a bundle, or None when absent or unreadable (a hand edit)."""
    data = files.get(name)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def runtime_values(locators: list[str], docs: Mapping[str, Any]) -> dict[str, Any]:
    """Each locator (`FILE:key/key`) looked up in the parsed bundle files (None if absent)."""
    out: dict[str, Any] = {}
    for loc in locators:
        file, _, path = loc.partition(":")
        node = docs.get(file)
        for part in path.split("/") if path else []:
            node = node.get(part) if isinstance(node, dict) else None
        out[loc] = node
    return out


def bundle_docs(files: Mapping[str, bytes]) -> dict[str, Any]:
    """The parsed JSON files of a bundle that locators point into."""
    return {BUNDLE_FILE: read_json_file(files, BUNDLE_FILE),
            MANIFEST_FILE: read_json_file(files, MANIFEST_FILE)}


def _relative_source(model: Model, root: Path, kind: str, name: str) -> str | None:
    """`file:line:col` of a resource, repo-relative (`root` resolved once by the caller)."""
    span = model.span_of(kind, name)
    if span is None:
        return None
    file = Path(span.file)
    try:
        rel = (file if file.is_absolute() else file.resolve()).relative_to(root).as_posix()
    except ValueError:
        rel = span.file
    return f"{rel}:{span.line}:{span.column}"


def _dump(resource: Any) -> dict[str, Any]:
    data: dict[str, Any] = resource.model_dump(mode="json", exclude={"name", "lifecycle"})
    return data


def _manifest_refs(kind: str, r: Any) -> Iterator[str]:
    """Addresses a manifest resource references (the instance contains all: added apart)."""
    if kind == "numbers" and r.trunk:
        yield address("trunk", r.trunk)
    elif kind == "skill_groups":
        yield from (address("number", n) for n in r.outbound_numbers)
    elif kind == "agents":
        yield from (address("skill_group", g) for g in r.groups)
        if r.mobile_forwarding is not None and r.mobile_forwarding.via:
            yield address("number", r.mobile_forwarding.via)
    elif kind == "flow_bindings":
        yield address("number", r.number)
        yield address("flow", r.flow)
    elif kind == "outbound_policies":
        if r.blacklist:
            yield address("blacklist", r.blacklist)
        if r.caller_id.number:
            yield address("number", r.caller_id.number)


def _flow_refs(ir: FlowIR) -> Iterator[str]:
    for node in ir.nodes.values():
        op = node.op
        if op in _FLOW_REFS:
            kind, operand = _FLOW_REFS[op]
            yield address(kind, str(node.operand(operand)))
        if op is Op.TRANSFER_AGENT:
            agent = node.operand("agent")
            if isinstance(agent, list) and agent[:1] == ["const"]:
                yield address("agent", str(agent[1]))
        for prompt, _ in node.prompts:
            yield address("prompt", prompt)


def _locators(kind: str, r: Any, model: Model) -> list[str]:
    """Where a resource shows in the bundle: what refresh reads back for drift."""
    b, m = BUNDLE_FILE, MANIFEST_FILE
    if kind in ("skill_groups", "agents", "schedules", "functions", "blacklists", "trunks"):
        return [f"{b}:{kind}/{r.name}"]
    if kind == "numbers":
        return [f"{b}:phone_numbers/{r.number}"]
    if kind == "outbound_policies":
        used = model.instance is not None and model.instance.outbound_policy == r.name
        return [f"{b}:outbound"] if used else []
    if kind == "prompts":
        files = sorted({v.file for v in r.languages.values() if v.file})
        return [f"{b}:prompts/{r.name}", *(f"{m}:files/{f}" for f in files)]
    if kind == "flow_bindings":
        number = model.numbers.get(r.number)
        return [f"{b}:numbers/{number.number}"] if number is not None else []
    return []


def desired_resources(built: BundleBuild) -> dict[str, Resource]:
    """The desired state of a compiled repo (`built.ok`), by address, sorted."""
    analysis = built.build.analysis
    assert analysis is not None and built.ok
    model = analysis.program.model
    assert model is not None
    root = Path(model.root)
    real_root = root.resolve()
    docs = bundle_docs(built.files)
    out: dict[str, Resource] = {}
    instance_addr: str | None = None
    if model.instance is not None:
        inst = model.instance
        instance_addr = address("instance", inst.name)
        guarded = bool(inst.lifecycle and inst.lifecycle.prevent_destroy)
        out[instance_addr] = Resource(
            instance_addr, _dump(inst), prevent_destroy=guarded,
            source=_relative_source(model, real_root, "instance", "instance") if guarded
            else None)
    contained = [instance_addr] if instance_addr else []
    for kind, word in KIND_WORDS.items():
        if kind == "instance":
            continue
        for name, r in model.resources(kind).items():
            addr = address(word, name)
            hashes: dict[str, str] = {}
            if kind == "prompts":
                for variant in r.languages.values():
                    if variant.file and variant.file in built.files:
                        hashes[variant.file] = sha256(built.files[variant.file])
            guarded = bool(r.lifecycle and r.lifecycle.prevent_destroy)
            # Only a guarded resource needs its place (S901 points there, even after it is
            # gone from the repo): finding positions costs more than the rest on big repos.
            out[addr] = Resource(
                addr, _dump(r), hashes,
                sorted({*contained, *_manifest_refs(kind, r)}),
                runtime_values(_locators(kind, r, model), docs),
                _relative_source(model, real_root, kind, name) if guarded else None, guarded)
    for name, flow in built.build.flows.items():
        ir = analysis.program.flows[name]
        addr = address("flow", name)
        refs = sorted({*contained, *_flow_refs(ir)} - {addr})
        out[addr] = Resource(
            addr, {}, {"bytecode": bytecode_hash(flow.image)}, refs,
            runtime_values([f"{MANIFEST_FILE}:files/{name}.ccb"], docs),
            f"{flow.source}:{ir.name_span.line}:{ir.name_span.column}",
            graph=flow_summary(ir, root))
    return dict(sorted(out.items()))
