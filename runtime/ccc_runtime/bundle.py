"""The bundle: everything a runtime host needs to answer calls, and nothing of the compiler.

A bundle is compiled flows (.ccb bytes by flow name) plus the resolved call-time configuration as
plain JSON (skill groups, agents, schedules, functions, prompts, blacklists, number -> flow
bindings). Loading validates the JSON (pydantic), decodes and verifies every flow, and checks
that every name a flow uses exists; a bad bundle is rejected with one `BundleError` listing every
problem. The JSON shape is documented in docs/runtime.md.

A bundle folder also holds `manifest.json`: the sha256 of every other file and the bundle's
digest (a hash over those), its content address in a runtime directory (rundir.py). Loading a
folder checks every file against it, so a hand-edited or half-copied bundle is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .acd import AgentConfig
from .bytecode import DATA_GROUP, SPECS, BytecodeError, FlowImage, Kind, Op, decode
from .digest import BUNDLE_FILE, MANIFEST_FILE, MANIFEST_FORMAT, digest_of
from .hours import WEEKDAYS, Schedule, TimeRange, parse_dates, parse_range
from .values import json_too_deep

if TYPE_CHECKING:  # jinja2, asyncio: imported when a bundle is made, not to check one
    from .functions import FunctionSpec
    from .templates import TemplateRenderer


class BundleError(Exception):
    """A bundle that can't be run; `problems` lists every reason."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: bad bundle:\n" + "\n".join(f"  - {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptVariantModel(_Model):
    file: str | None = None
    tts: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PromptVariantModel:
        if (self.file is None) == (self.tts is None):
            raise ValueError("a prompt variant needs exactly one of 'file' or 'tts'")
        return self


class GroupModel(_Model):
    average_handle_seconds: int = Field(default=120, ge=1)


class AgentModel(_Model):
    skills: dict[str, int]
    display_name: str = ""
    address: str | None = None
    mobile: str | None = None
    forward_when_offline: bool = False


class ScheduleModel(_Model):
    timezone: str
    weekly: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[str]]
    holidays: list[str] = []
    exceptions: dict[str, list[str]] = {}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        _zone(value)
        return value


class SecretHeaderModel(_Model):
    header: str
    env: str
    prefix: str = ""


class FunctionModel(_Model):
    url: str = Field(pattern=r"^https?://")
    method: Literal["POST", "GET", "PUT"] = "POST"
    timeout_ms: int = Field(default=3000, ge=1, le=60_000)
    headers: dict[str, str] = {}
    secret_headers: list[SecretHeaderModel] = []
    reply: Literal["json", "text"] = "json"


class LimitsModel(_Model):
    max_steps: int = Field(default=10_000, ge=1)
    max_depth: int = Field(default=8, ge=1, le=64)


class CalleeCapModel(_Model):
    calls: int = Field(ge=1)
    per_hours: int = Field(ge=1)


class CallerIdModel(_Model):
    mode: Literal["fixed", "auto"] = "auto"
    number: str | None = None  # E.164, for `fixed`


class OutboundModel(_Model):
    """The instance's outbound policy (outbound.py, the toll-fraud guard)."""

    calling_hours: str = Field(pattern=r"^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$")
    blacklist: str | None = None
    callee_cap: CalleeCapModel | None = None
    blocked_regions: list[str] = []
    caller_id: CallerIdModel = CallerIdModel()
    sip_domains: list[str] = []
    """Hosts (`pbx.example.com`, `*.example.com`, an IPv4 address) `transfer sip` may reach."""


class PhoneNumberModel(_Model):
    """One of the instance's numbers (keyed by E.164): what it may do for outbound legs."""

    type: str
    outbound_concurrency: int = Field(default=0, ge=0, le=10_000)
    trunk: str | None = None


class RegistrationModel(_Model):
    """Registration mode at this trunk's gateway (sip/register.py)."""

    expires_s: int = Field(default=300, ge=30, le=86_400)
    domain: str = Field(min_length=1, max_length=253)  # the AOR's host


class TrunkModel(_Model):
    """The customer's voice gateway; the password is an environment variable's name."""

    gateway: str
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp"] = "udp"
    codec: Literal["PCMA", "PCMU"] = "PCMA"
    allowed_sources: list[str] = []
    username: str | None = None
    password_env: str | None = None
    registration: RegistrationModel | None = None

    @model_validator(mode="after")
    def _credentials(self) -> TrunkModel:
        if self.registration is not None and (self.username is None or
                                              self.password_env is None):
            raise ValueError("registration needs 'username' and 'password_env'")
        return self


class BundleConfig(_Model):
    """The call-time configuration (bundle.json without `flows`)."""

    format: Literal[1]
    timezone: str = "UTC"
    region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    """The instance's region: numbers without `+` are national numbers of it (numbers.py)."""
    default_language: str
    languages: list[str]
    numbers: dict[str, str] = {}
    skill_groups: dict[str, GroupModel] = {}
    agents: dict[str, AgentModel] = {}
    schedules: dict[str, ScheduleModel] = {}
    functions: dict[str, FunctionModel] = {}
    prompts: dict[str, dict[str, PromptVariantModel]] = {}
    blacklists: dict[str, list[str]] = {}
    voicemail_boxes: list[str] = []
    after_call_work_ms: int = Field(default=0, ge=0, le=86_400_000)
    limits: LimitsModel = LimitsModel()
    outbound: OutboundModel | None = None
    phone_numbers: dict[str, PhoneNumberModel] = {}
    trunks: dict[str, TrunkModel] = {}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        _zone(value)
        return value


def _renderer() -> TemplateRenderer:
    """The bundle's template renderer (jinja2 is imported for a bundle that runs calls)."""
    from .templates import TemplateRenderer

    return TemplateRenderer()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None


@dataclass(frozen=True, slots=True)
class Bundle:
    """A verified bundle, ready for the interpreter."""

    config: BundleConfig
    flows: Mapping[str, FlowImage]
    flow_bytes: Mapping[str, bytes]
    schedules: Mapping[str, Schedule]
    agents: tuple[AgentConfig, ...]
    functions: Mapping[str, FunctionSpec]
    blacklists: Mapping[str, frozenset[str]]
    timezone: ZoneInfo
    root: Path | None = None  # where prompt files live, when loaded from a directory
    templates: TemplateRenderer = field(default_factory=_renderer, compare=False)
    """Compiled TTS templates, shared by every call on this bundle."""

    def flow_for_number(self, called: str) -> str | None:
        return self.config.numbers.get(called)


def bundle_from_parts(config: Mapping[str, Any], flows: Mapping[str, bytes],
                      source: str = BUNDLE_FILE, root: Path | None = None) -> Bundle:
    """Validate `config` (bundle.json without `flows`) and the flow images; BundleError if bad."""
    from .functions import FunctionSpec, SecretHeader

    model, images, schedules = _verified(config, flows, source, frozenset())
    agents = tuple(AgentConfig(user, dict(a.skills), a.address, a.mobile,
                               a.forward_when_offline, a.display_name)
                   for user, a in sorted(model.agents.items()))
    functions = {name: FunctionSpec(f.url, f.method, f.timeout_ms, dict(f.headers),
                                    tuple(SecretHeader(s.header, s.env, s.prefix)
                                          for s in f.secret_headers), f.reply)
                 for name, f in model.functions.items()}
    return Bundle(model, images, dict(flows), schedules, agents, functions,
                  {k: frozenset(v) for k, v in model.blacklists.items()},
                  _zone(model.timezone), root)


def check_parts(config: Mapping[str, Any], flows: Mapping[str, bytes],
                known: Collection[str], source: str = BUNDLE_FILE) -> None:
    """`bundle_from_parts`'s checks without building the `Bundle`, skipping the images named in
    `known`: ones verified before with this same config and set of flows (a compiler's
    incremental build, where decoding every unchanged image again took longer than compiling
    the one that changed). BundleError if bad."""
    _verified(config, flows, source, known)


def _verified(config: Mapping[str, Any], flows: Mapping[str, bytes], source: str,
              known: Collection[str]) -> tuple[BundleConfig, dict[str, FlowImage],
                                               dict[str, Schedule]]:
    """The validated config, the decoded images not in `known`, and the schedules."""
    try:
        model = BundleConfig.model_validate(config)
    except ValidationError as exc:
        raise BundleError(source, [_pydantic_problem(e) for e in exc.errors()]) from None
    problems: list[str] = []
    images: dict[str, FlowImage] = {}
    for name in sorted(flows):
        if name in known:
            continue
        try:
            image = decode(flows[name])
        except BytecodeError as exc:
            problems.append(f"flow {name!r}: {exc}")
            continue
        if image.name != name:
            problems.append(f"flow {name!r}: the image is of flow {image.name!r}")
        images[name] = image
    schedules: dict[str, Schedule] = {}
    for name, sched in sorted(model.schedules.items()):
        try:
            schedules[name] = _schedule(sched)
        except ValueError as exc:
            problems.append(f"schedule {name!r}: {exc}")
    problems += _check_references(model, images, flows)
    if problems:
        raise BundleError(source, problems)
    return model, images, schedules


@dataclass(frozen=True, slots=True)
class BundleManifest:
    """What `manifest.json` says: the bundle's digest and every file's sha256."""

    digest: str
    files: Mapping[str, str]


def _json_file(path: Path) -> Any:
    """A bundle's JSON file; nesting is checked before `json.loads`, which recurses per bracket
    (a hand-made file must not crash the runtime): too deep is a JSONDecodeError."""
    raw = path.read_bytes()
    if json_too_deep(raw):
        raise json.JSONDecodeError("nested too deep", "", 0)
    return json.loads(raw.decode("utf-8"))


def read_manifest(directory: Path) -> BundleManifest:
    """Read `directory/manifest.json` and check that every file it names has its hash."""
    path = directory / MANIFEST_FILE
    try:
        doc = _json_file(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(str(path), [f"can't read the bundle manifest: {exc}"]) from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if (not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT
            or not isinstance(files, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
        raise BundleError(str(path), [f"expected manifest format {MANIFEST_FORMAT} with 'files'"])
    problems: list[str] = []
    base = directory.resolve()
    for rel, sha in sorted(files.items()):
        target = directory / rel
        if "\0" in rel or not target.resolve().is_relative_to(base):
            problems.append(f"{rel}: not inside the bundle")
            continue
        try:
            actual = hashlib.sha256(target.read_bytes()).hexdigest()
        except OSError as exc:
            problems.append(f"{rel}: can't read: {exc.strerror}")
            continue
        if actual != sha:
            problems.append(f"{rel}: content differs from the manifest (changed by hand?)")
    digest = digest_of(files)
    if doc.get("digest") != digest:
        problems.append("the manifest's digest does not match its file list")
    if problems:
        raise BundleError(str(path), problems)
    return BundleManifest(digest, dict(files))


def load_bundle(directory: Path) -> Bundle:
    """Load a bundle folder: check its manifest, then `bundle.json` and the .ccb files it
    names (paths inside the directory)."""
    read_manifest(directory)
    path = directory / BUNDLE_FILE
    try:
        data = _json_file(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(str(path), [f"can't read the bundle: {exc}"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("flows"), dict):
        raise BundleError(str(path), ["expected a JSON object with a 'flows' object"])
    config = {k: v for k, v in data.items() if k != "flows"}
    flows: dict[str, bytes] = {}
    problems: list[str] = []
    base = directory.resolve()
    for name, rel in sorted(data["flows"].items()):
        if not isinstance(rel, str) or "\0" in rel or not (
                directory / rel).resolve().is_relative_to(base):
            problems.append(f"flow {name!r}: path {rel!r} is not inside the bundle")
            continue
        try:
            flows[name] = (directory / rel).read_bytes()
        except OSError as exc:
            problems.append(f"flow {name!r}: can't read {rel}: {exc.strerror}")
    if problems:
        raise BundleError(str(path), problems)
    return bundle_from_parts(config, flows, str(path), directory)


def _pydantic_problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    return f"{where}: {error['msg']}"


def _schedule(model: ScheduleModel) -> Schedule:
    weekly = {WEEKDAYS.index(day): tuple(parse_range(r) for r in ranges)
              for day, ranges in model.weekly.items()}
    holidays = frozenset(d for entry in model.holidays for d in parse_dates(entry))
    exceptions: dict[Any, tuple[TimeRange, ...]] = {}
    for entry, ranges in model.exceptions.items():
        for day in parse_dates(entry):
            exceptions[day] = tuple(parse_range(r) for r in ranges)
    return Schedule(_zone(model.timezone), weekly, holidays, exceptions)


def _prompt_names(value: Any) -> Iterator[str]:
    """Prompt resource names inside a PROMPT / OPT_PROMPT operand."""
    if isinstance(value, list):
        for item in value[1:]:
            if isinstance(item, list) and item[0] == "prompt":
                yield str(item[1])


def _check_references(model: BundleConfig, images: Mapping[str, FlowImage],
                      flows: Collection[str]) -> list[str]:
    """Every name used by the flows `images` or by the configuration exists (`flows`: every
    flow's name)."""
    problems: list[str] = []
    if model.default_language not in model.languages:
        problems.append(f"default_language {model.default_language!r} is not in languages")
    for number, flow in sorted(model.numbers.items()):
        if flow not in flows:
            problems.append(f"number {number} is bound to unknown flow {flow!r}")
    problems += _check_outbound(model)
    for user, agent in sorted(model.agents.items()):
        problems += [f"agent {user!r}: unknown skill group {g!r}"
                     for g in sorted(agent.skills) if g not in model.skill_groups]
    for name, variants in sorted(model.prompts.items()):
        if not variants:
            problems.append(f"prompt {name!r} has no language variant")
        problems += [f"prompt {name!r}: language {lang!r} is not in languages"
                     for lang in sorted(variants) if lang not in model.languages]
    boxes = set(model.voicemail_boxes) | set(model.skill_groups)
    for flow_name, image in sorted(images.items()):
        for node in image.nodes:
            where = f"flow {flow_name!r} node {node.index} ({node.op.name}, {node.loc})"
            refs = _node_refs(node.op, dict(zip((n for n, _ in SPECS[node.op].operands),
                                                node.operands, strict=True)))
            for kind, name in refs:
                known = {"flow": flows, "schedule": model.schedules,
                         "blacklist": model.blacklists, "function": model.functions,
                         "skill group": model.skill_groups, "voicemail box": boxes,
                         "prompt": model.prompts, "agent": model.agents}[kind]
                if name not in known:
                    problems.append(f"{where}: unknown {kind} {name!r}")
    return problems


def _check_outbound(model: BundleConfig) -> list[str]:
    """The outbound policy's names exist, and a fixed caller id can be one (never a 400)."""
    problems = [f"phone number {n}: unknown trunk {p.trunk!r}"
                for n, p in sorted(model.phone_numbers.items())
                if p.trunk is not None and p.trunk not in model.trunks]
    policy = model.outbound
    if policy is None:
        return problems
    try:
        parse_range(policy.calling_hours)
    except ValueError as exc:
        problems.append(f"outbound.calling_hours: {exc}")
    if policy.blacklist is not None and policy.blacklist not in model.blacklists:
        problems.append(f"outbound.blacklist: unknown blacklist {policy.blacklist!r}")
    fixed = policy.caller_id.number
    if policy.caller_id.mode == "fixed":
        info = model.phone_numbers.get(fixed or "")
        if info is None:
            problems.append(f"outbound.caller_id: {fixed!r} is not one of the phone numbers")
        elif info.type == "400":
            problems.append(f"outbound.caller_id: {fixed} is a 400 number, never a caller id")
    return problems


def _node_refs(op: Op, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    simple = {Op.CALL_FLOW: ("flow", "flow"), Op.HOURS: ("schedule", "schedule"),
              Op.BLACKLIST: ("blacklist", "list"), Op.CALL_FUNCTION: ("function", "function"),
              Op.STAFFING: ("skill group", "group"), Op.QUEUE: ("skill group", "group"),
              Op.VOICEMAIL: ("voicemail box", "box")}
    if op in simple and not (op is Op.QUEUE and values["group"] == DATA_GROUP):
        kind, operand = simple[op]
        refs.append((kind, str(values[operand])))
    if op is Op.RECORD and values["box"] is not None:
        refs.append(("voicemail box", str(values["box"])))
    if op is Op.TRANSFER_AGENT:
        agent = values["agent"]
        if isinstance(agent, list) and agent[0] == "const":
            refs.append(("agent", str(agent[1])))
    for (_, kind_), value in zip(SPECS[op].operands, values.values(), strict=True):
        if kind_ in (Kind.PROMPT, Kind.OPT_PROMPT):
            refs += [("prompt", p) for p in _prompt_names(value)]
        elif kind_ is Kind.ANNOUNCES:
            refs += [("prompt", p) for a in value for p in _prompt_names(a[2])]
        elif kind_ is Kind.OFFERS:
            refs += [("prompt", p) for o in value for p in _prompt_names(o[3])]
    return refs
