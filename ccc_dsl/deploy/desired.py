"""The desired state: what the config repo says a target should run, and its cache.

`build_desired` compiles the repo (the pipeline's `build_bundle`) and turns every manifest
resource, the instance and every compiled flow into a `Resource` (resources.py), with the
environment's target settings, the bundle and, per flow, a picture template for the plan.

`load_desired` keeps that result by the repo's fingerprint (`ccc_dsl.cache.result_key`: every
file under the root by path and content, the environment, and ccc's own code), so a plan of an
unchanged repo skips loading, compiling and the desired-state build, and imports none of them:
that is what makes a warm `ccc plan` fast. The entry is sealed JSON (`ccc_dsl.cache.seal`):

```
FORMAT | meta (env, target settings, label, hosts, digest, immutable fields) | pictures |
one canonical line per resource ...
```
The resource lines are kept as bytes and compared with the state's lines as they are; only
the ones that differ are ever decoded. The bundle's files (base64) are a second entry beside it
(`files/`, with the digest they make), read only by apply and `-out`: a plan doesn't read or
checksum them. A damaged or wrongly shaped entry is a miss.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccc_dsl.cache import (
    cache_dir,
    keep_newest,
    read_entry,
    repo_snapshot,
    result_key,
    seal,
    unseal,
    write_atomic,
)
from ccc_dsl.deploy.resources import (
    BUNDLE_JSON,
    MANIFEST_JSON,
    Resource,
    Resources,
    address,
    bundle_docs,
    canonical,
    lines_by_address,
    runtime_values,
    sha256,
)
from ccc_dsl.diagnostics import Diagnostic

if TYPE_CHECKING:
    from ccc_dsl.compiler.ir import FlowIR
    from ccc_dsl.manifest.model import Model
    from ccc_dsl.pipeline import BundleBuild

DESIRED_FORMAT = 2
"""Bump when what a desired-state entry holds changes."""
KEEP_ENTRIES = 8
"""Desired-state entries kept (the newest): each holds a whole bundle."""

KIND_WORDS: dict[str, str] = {
    "instance": "instance", "numbers": "number", "skill_groups": "skill_group",
    "agents": "agent", "schedules": "schedule", "prompts": "prompt", "functions": "function",
    "flow_bindings": "flow_binding", "blacklists": "blacklist",
    "outbound_policies": "outbound_policy", "trunks": "trunk",
}
"""YAML kind -> the kind word of an address; flows are `flow`."""

Picture = dict[str, Any]
"""A flow's picture template: {"text": the Mermaid picture, "marks": [[node key, the style
line that marks it], ...] in drawing order}."""


@dataclass
class Desired:
    """A repo's desired state for one environment, with what plan and apply need beside it."""

    env: str | None
    """The environment's name as the repo resolves it (`--env`, else `default_env`)."""
    target: dict[str, Any] | None
    """The environment's target settings as plain data (None: it has none, S902)."""
    digest: str
    resources: Resources
    immutable: dict[str, list[str]]
    """Kind word -> fields whose change forces a replacement (manifest.model)."""
    pictures: dict[str, Picture] = field(default_factory=dict)
    files_loader: Callable[[], dict[str, bytes]] = dict
    """The bundle's files, read when asked for (apply and `-out` need them, a plan doesn't)."""

    def files(self) -> dict[str, bytes]:
        return self.files_loader()

    def picture(self, flow: str, keys: set[str]) -> str | None:
        """The Mermaid picture of `flow` with the nodes of `keys` marked."""
        template = self.pictures.get(flow)
        if template is None:
            return None
        marks = "".join(line for key, line in template["marks"] if key in keys)
        return str(template["text"]) + marks


def bytecode_hash(image: bytes) -> str:
    """A flow's identity for plans: its decoded nodes (opcode, operand values, exits), entry
    and error handler, without the source hash, the compiler version and the line table, so
    reformatting or moving lines is no change, while any change in behaviour is."""
    from ccc_runtime.bytecode import decode

    flow = decode(image)
    doc = [flow.format_version, flow.name, flow.entry, flow.error_node,
           [[int(n.op), list(n.operands), list(n.exits)] for n in flow.nodes]]
    return sha256(canonical(doc))


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
    from ccc_runtime.bytecode import DATA_GROUP, Op

    refs: dict[Op, tuple[str, str]] = {  # opcodes naming a resource: (kind word, operand)
        Op.HOURS: ("schedule", "schedule"), Op.BLACKLIST: ("blacklist", "list"),
        Op.CALL_FUNCTION: ("function", "function"), Op.STAFFING: ("skill_group", "group"),
        Op.QUEUE: ("skill_group", "group"), Op.VOICEMAIL: ("skill_group", "box"),
        Op.CALL_FLOW: ("flow", "flow"),
    }
    for node in ir.nodes.values():
        op = node.op
        if op in refs and not (op is Op.QUEUE and node.operand("group") == DATA_GROUP):
            kind, operand = refs[op]
            yield address(kind, str(node.operand(operand)))
        if op is Op.RECORD and node.operand("box") is not None:
            yield address("skill_group", str(node.operand("box")))
        if op is Op.TRANSFER_AGENT:
            agent = node.operand("agent")
            if isinstance(agent, list) and agent[:1] == ["const"]:
                yield address("agent", str(agent[1]))
        for prompt, _ in node.prompts:
            yield address("prompt", prompt)


def _locators(kind: str, r: Any, model: Model) -> list[str]:
    """Where a resource shows in the bundle: what refresh reads back for drift."""
    b, m = BUNDLE_JSON, MANIFEST_JSON
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
    from ccc_dsl.deploy.flowdiff import flow_summary

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
            runtime_values([f"{MANIFEST_JSON}:files/{name}.ccb"], docs),
            f"{flow.source}:{ir.name_span.line}:{ir.name_span.column}",
            graph=flow_summary(ir, root))
    return dict(sorted(out.items()))


def picture_template(ir: FlowIR) -> Picture:
    """The flow's Mermaid picture and, per node key, the line that marks that node."""
    from ccc_dsl.deploy.flowdiff import node_keys
    from ccc_dsl.views.graph import MARKED_STYLE, mermaid_ids, to_mermaid

    ids, keys = mermaid_ids(ir), node_keys(ir)
    order = sorted(ids, key=lambda node: int(ids[node][1:]))
    return {"text": to_mermaid(ir),
            "marks": [[keys[node], f"  style {ids[node]} {MARKED_STYLE}\n"] for node in order]}


def build_desired(root: Path, env: str | None) -> Desired | list[Diagnostic]:
    """Compile the repo and build its desired state; the diagnostics when it has errors."""
    from ccc_dsl.manifest.model import IMMUTABLE_FIELDS
    from ccc_dsl.pipeline import build_bundle

    # Checked as a whole (the config and every image), without making the runtime's Bundle
    # (its agents, functions and schedules): a plan doesn't run it.
    built = build_bundle(root, env, verified=frozenset())
    if not built.ok:
        return built.diagnostics
    analysis = built.build.analysis
    assert analysis is not None and analysis.program.model is not None
    model = analysis.program.model
    settings = model.environment.target if model.environment is not None else None
    files = built.files
    # Lines only, as a kept entry holds them: a plan decodes only what differs from the state,
    # and 10,000 resources' objects don't outlive the build for the collector to scan.
    lines = {addr: resource.line() for addr, resource in desired_resources(built).items()}
    return Desired(
        model.env, settings.model_dump(mode="json") if settings is not None else None,
        built.digest, Resources(lines),
        {kind: list(fields) for kind, fields in IMMUTABLE_FIELDS.items()},
        {name: picture_template(ir) for name, ir in analysis.program.flows.items()},
        lambda: files)


def _entry_path(base: Path, key: str) -> Path:
    return base / "plan" / f"{key}.json"


def _files_path(entry: Path) -> Path:
    return entry.parent / "files" / entry.name


def _store(path: Path, desired: Desired) -> None:
    meta = {"env": desired.env, "target": desired.target, "digest": desired.digest,
            "immutable": desired.immutable}
    files = {rel: base64.b64encode(data).decode("ascii")
             for rel, data in desired.files().items()}
    lines = [desired.resources.line(addr) for addr in desired.resources]
    try:
        blob = seal(DESIRED_FORMAT, meta, desired.pictures, *lines)
        bundle = seal(DESIRED_FORMAT, desired.digest, files)
    except ValueError:
        return
    write_atomic(_files_path(path), bundle)
    write_atomic(path, blob)
    keep_newest(path.parent, KEEP_ENTRIES)
    keep_newest(_files_path(path).parent, KEEP_ENTRIES)


def _files_of(entry: Path, digest: str, root: Path,
              env: str | None) -> Callable[[], dict[str, bytes]]:
    """The bundle's files from the entry beside `entry`, read and decoded when asked for;
    built again when that entry is missing, damaged or of another bundle (only a hand-made
    entry has a valid checksum and bad files)."""
    def files() -> dict[str, bytes]:
        parts = read_entry(_files_path(entry))
        if parts is not None and len(parts) == 3 and parts[0] == DESIRED_FORMAT \
                and parts[1] == digest and isinstance(parts[2], dict):
            try:
                return {str(rel): base64.b64decode(data, validate=True)
                        for rel, data in parts[2].items()}
            except (ValueError, TypeError):  # binascii.Error is a ValueError
                pass
        from ccc_dsl.pipeline import build_bundle

        return build_bundle(root, env, verified=frozenset()).files
    return files


FIXED_PARTS = 3
"""Parts of an entry decoded on load: the format, meta and the pictures."""


def _load(path: Path, root: Path, env: str | None) -> Desired | None:
    """The entry at `path`, or None when it is missing, damaged or of another shape."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    count = blob.count(b"\n") - 1  # the magic and the checksum lines end with one each
    if count < FIXED_PARTS:
        return None
    parts = unseal(blob, lazy=count - FIXED_PARTS)
    if parts is None or len(parts) != count or parts[0] != DESIRED_FORMAT:
        return None
    meta, pictures, lines = parts[1], parts[2], parts[3:]
    if not (isinstance(meta, dict) and isinstance(pictures, dict)
            and isinstance(meta.get("digest"), str) and isinstance(meta.get("immutable"), dict)
            and (meta.get("target") is None or isinstance(meta["target"], dict))
            and all(_is_picture(p) for p in pictures.values())):
        return None
    by_address = lines_by_address(lines)
    if by_address is None:
        return None
    return Desired(meta.get("env"), meta.get("target"), meta["digest"], Resources(by_address),
                   meta["immutable"], pictures, _files_of(path, meta["digest"], root, env))


def _is_picture(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("text"), str)
            and isinstance(value.get("marks"), list)
            and all(isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) for x in m)
                    for m in value["marks"]))


def load_desired(root: Path, env: str | None) -> Desired | list[Diagnostic]:
    """The desired state of the repo at `root` for `env`: from the cache when nothing under
    the root (nor ccc) changed since it was kept, else built and kept."""
    base = cache_dir()
    if base is None:
        return build_desired(root, env)
    snapshot = repo_snapshot(root)
    path = _entry_path(base, result_key(root, env, snapshot=snapshot))
    hit = _load(path, root, env)
    if hit is not None:
        return hit
    from ccc_dsl.manifest import prefetch

    with prefetch.running(snapshot):  # the YAML parsed ahead on a second core
        desired = build_desired(root, env)
    if isinstance(desired, Desired):
        _store(path, desired)
    return desired
