"""The manifest model: one pydantic class per resource kind (as written in YAML), and `Model`,
the validated, environment-resolved whole that later stages (compiler, bundle, plan) read.

Resources are keyed by name in YAML (`agents: {alice: {...}}`), so a resource's `name` is its
key; the loader fills it in. Cross-resource rules live in `checks.py`, not in validators here,
so that each problem is reported once, at the right place.

No `from __future__ import annotations` here: pydantic would compile and evaluate each of the
125 annotations as a string at import (about 9 M instructions of the 30 ms this module takes).
"""

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ccc_dsl.diagnostics import Span
from ccc_dsl.manifest.parsed import ParsedFile, PathKey
from ccc_dsl.manifest.phones import region_of

TIME_RANGE_RE = r"^([01][0-9]|2[0-4]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$"
TimeRange = Annotated[str, StringConstraints(pattern=TIME_RANGE_RE)]
"""`HH:MM-HH:MM`, local time; `24:00` ends a day."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_TOKEN_PREFIXES = ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_", "whsec_", "ghp_",
                   "gho_", "ghs_", "ghu_", "ghr_", "github_pat_", "glpat", "xoxb", "xoxp", "xoxa",
                   "xoxs", "AIza", "shpat_", "npm_")
"""How well-known API keys start, case as issued (Stripe, GitHub, GitLab, Slack, Google,
Shopify, npm): a value pasted where a variable name belongs (NPM_TOKEN is a name)."""
_AWS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")


def is_env_name(text: str) -> bool:
    """Whether `text` can be an environment variable's name and does not look like the secret
    itself (a known key prefix, or a long run mixing upper case, lower case and digits the
    way generated keys do; names are ACME_TRUNK_PASSWORD or sip_password)."""
    if (not _ENV_NAME.fullmatch(text) or text.startswith(_TOKEN_PREFIXES)
            or _AWS_KEY_ID.fullmatch(text)):
        return False
    return not any(len(part) >= 16 and re.search("[a-z]", part) and re.search("[A-Z]", part)
                   and re.search("[0-9]", part) for part in text.split("_"))


def _env_name(value: str) -> str:
    if not is_env_name(value):  # never echo it: it may be the secret
        raise ValueError("this looks like a secret's value, not an environment variable's name")
    return value


EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
                       AfterValidator(_env_name)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
SkillLevel = Annotated[int, Field(ge=1, le=10)]


def _number_type(value: Any) -> Any:
    """`type: 400` is an int in YAML; accept it for the string type name."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


NumberType = Annotated[
    Literal["landline", "400", "95", "virtual_mobile", "mobile_display", "international",
            "toll_free", "sip_trunk"],
    BeforeValidator(_number_type),
]


def _empty_list() -> list[Any]:
    """A default factory. With `list` itself pydantic would ask `inspect` for the signature of a
    C type, which parses its text signature with `tokenize`: 0.1 ms a field, and 1.4 ms more
    for the first (tokenize's regular expression)."""
    return []


def _empty_dict() -> dict[Any, Any]:
    """A default factory, for the reason `_empty_list` gives."""
    return {}


class Spec(BaseModel):
    """Base of every manifest class: unknown keys are errors (with a did-you-mean)."""

    model_config = ConfigDict(extra="forbid", validate_default=False)


class Lifecycle(Spec):
    """Guards for `ccc plan` (docs/deploy.md): with `prevent_destroy`, a plan that would delete
    or replace the resource fails with an error at this setting."""

    prevent_destroy: bool = False


class Resource(Spec):
    """A named resource; `name` is the YAML key and is set by the loader, not written."""

    name: str = Field(default="", exclude=True)
    lifecycle: Lifecycle | None = None


class SecretRef(Spec):
    """Where a secret comes from at run time; the value itself is never in the config repo."""

    env: EnvVarName | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` (a variable name) or `file` (a path)")
        return self

    def describe(self) -> str:
        """Where the secret comes from, for messages; never the value."""
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"


class Limits(Spec):
    """Analysis limits the compiler enforces on bound flows."""

    max_time_to_agent_seconds: int | None = Field(default=None, gt=0)
    max_key_presses: int | None = Field(default=None, gt=0)


class Billing(Spec):
    mode: Literal["pay_as_you_go", "monthly_seats"] = "pay_as_you_go"
    seats: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _seats_for_monthly(self) -> Self:
        if self.mode == "monthly_seats" and self.seats is None:
            raise ValueError("monthly_seats billing needs `seats` (the purchased seat count)")
        return self


class Instance(Spec):
    """The call center. `domain` can't change after creation (the plan replaces the instance)."""

    name: str
    domain: str
    description: str = ""
    admins: list[str] = Field(default_factory=_empty_list)
    billing: Billing = Field(default_factory=Billing)
    outbound_policy: str | None = None
    default_language: Language = "zh"
    limits: Limits = Field(default_factory=Limits)
    lifecycle: Lifecycle | None = None


IMMUTABLE_FIELDS: dict[str, tuple[str, ...]] = {"instance": ("domain",)}
"""Fields whose change forces a replacement; `ccc plan` reads this (diagnostic D403)."""


class Number(Resource):
    """A phone number. `number` is normalized to E.164 by the loader."""

    number: str
    type: NumberType
    outbound_concurrency: int = Field(default=0, ge=0)
    trunk: str | None = None
    description: str = ""


class SkillGroup(Resource):
    description: str = ""
    outbound_numbers: list[str] = Field(default_factory=_empty_list)
    routing: Literal["longest_idle", "familiar_agent"] = "longest_idle"


class MobileForwarding(Spec):
    """Offline answering: calls go to the agent's mobile, placed from `via` (a number name)."""

    mobile: str
    via: str | None = None


class Agent(Resource):
    """A seat; its name is the userName."""

    display_name: str
    sip: Annotated[str, StringConstraints(pattern=r"^sips?:[^@\s:]+@[^\s@]+$")]
    groups: dict[str, SkillLevel] = Field(default_factory=_empty_dict)
    mobile_forwarding: MobileForwarding | None = None


class Holiday(Spec):
    """One day (`date`) or a run of days (`date` to `end`, inclusive)."""

    name: str
    date: dt.date
    end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end is not None and self.end < self.date:
            raise ValueError("`end` is before `date`")
        return self

    def days(self) -> list[dt.date]:
        last = self.end or self.date
        return [self.date + dt.timedelta(days=i) for i in range((last - self.date).days + 1)]


class ScheduleException(Spec):
    """A day with special hours; no hours means closed all day."""

    date: dt.date
    hours: list[TimeRange] = Field(default_factory=_empty_list)
    note: str = ""


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Schedule(Resource):
    """Work hours: weekly hours (keys `mon`..`sun` or ranges like `mon-fri`) in a time zone."""

    timezone: str
    weekly: dict[str, list[TimeRange]]
    holidays: list[Holiday] = Field(default_factory=_empty_list)
    exceptions: list[ScheduleException] = Field(default_factory=_empty_list)

    def hours_by_day(self) -> dict[str, list[str]]:
        """Weekly hours per single weekday, day ranges expanded (keys checked by checks.py)."""
        out: dict[str, list[str]] = {d: [] for d in WEEKDAYS}
        for key, ranges in self.weekly.items():
            for day in expand_days(key) or []:
                out[day].extend(ranges)
        return out


def expand_days(key: str) -> list[str] | None:
    """`mon` -> [mon]; `mon-fri` -> [mon..fri]; None when the key isn't a day or day range."""
    parts = key.lower().split("-")
    if len(parts) == 1 and parts[0] in WEEKDAYS:
        return [parts[0]]
    if len(parts) == 2 and parts[0] in WEEKDAYS and parts[1] in WEEKDAYS:
        a, b = WEEKDAYS.index(parts[0]), WEEKDAYS.index(parts[1])
        if a <= b:
            return list(WEEKDAYS[a : b + 1])
    return None


class PromptVariant(Spec):
    """A prompt in one language: a WAV file (path from the repo root) or text-to-speech text."""

    file: str | None = None
    tts: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.file is None) == (self.tts is None):
            raise ValueError("give exactly one of `file` (a WAV path) or `tts` (text)")
        if self.tts and "{" in self.tts:  # the check `say` templates get (docs/security.md)
            from ccc_runtime.templates import template_error  # jinja2: for a placeholder only

            problem = template_error(self.tts)
            if problem is not None:
                raise ValueError(f"`tts` is not a valid speech template: {problem}")
        return self


class Prompt(Resource):
    default_language: Language = "zh"
    languages: dict[Language, PromptVariant] = Field(min_length=1)
    barge_in: bool = True


class Function(Resource):
    """An HTTP endpoint of the customer's system that flows call; `token` is sent as Bearer."""

    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    headers: dict[str, str] = Field(default_factory=_empty_dict)
    token: SecretRef | None = None
    returns: list[str] = Field(default_factory=_empty_list)
    reply: Literal["json", "text"] = "json"
    """How the runtime reads the reply body: parsed JSON, or the text itself (a string)."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


class FlowBinding(Resource):
    """Which flow (by the name declared in its .ivr file) a number runs."""

    number: str
    flow: str
    limits: Limits | None = None


PrefixStr = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{1,15}$")]


class Blacklist(Resource):
    direction: Literal["inbound", "outbound"]
    numbers: list[str] = Field(default_factory=_empty_list)
    prefixes: list[PrefixStr] = Field(default_factory=_empty_list)


class CalleeCap(Spec):
    calls: int = Field(gt=0)
    per_hours: int = Field(gt=0)


class CallerId(Spec):
    """`fixed`: always `number`; `auto`: a number in the callee's city, else province, else any."""

    mode: Literal["fixed", "auto"] = "auto"
    number: str | None = None

    @model_validator(mode="after")
    def _fixed_needs_number(self) -> Self:
        if self.mode == "fixed" and self.number is None:
            raise ValueError("caller_id mode `fixed` needs `number`")
        return self


class OutboundPolicy(Resource):
    supplier: str = "default"
    calling_hours: TimeRange
    callee_cap: CalleeCap | None = None
    blocked_regions: list[str] = Field(default_factory=_empty_list)
    caller_id: CallerId = Field(default_factory=CallerId)
    blacklist: str | None = None
    sip_domains: list[str] = Field(default_factory=_empty_list)
    """Hosts `transfer sip` may reach: `pbx.example.com`, `*.example.com` (any host below),
    an IPv4 address (M208 otherwise)."""


class TrunkRegistration(Spec):
    """Registration mode: the runtime registers at the trunk's gateway (a registrar such as
    Kamailio) as `username` and takes the calls it routes to us, instead of INVITEs sent
    straight to us. `domain` is the AOR's host (the gateway when not given)."""

    expires_seconds: int = Field(default=300, ge=30, le=86_400)
    domain: str | None = None


class Trunk(Resource):
    """The customer's voice gateway: SIP over UDP, G.711."""

    gateway: str
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp"] = "udp"
    codec: Literal["PCMA", "PCMU"] = "PCMA"
    allowed_sources: list[str] = Field(default_factory=_empty_list)
    username: str | None = None
    password: SecretRef | None = None
    registration: TrunkRegistration | None = None

    @model_validator(mode="after")
    def _registration_credentials(self) -> Self:
        if self.registration is not None and (self.username is None or self.password is None):
            raise ValueError("`registration` needs `username` and `password` (the registrar's "
                             "credentials)")
        return self

    @field_validator("gateway")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                                r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*", value):
                raise ValueError("must be an IP address or a host name") from None
        return value

    @field_validator("allowed_sources")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return value


class LocalTarget(Spec):
    """Deploy to a runtime directory on this machine (`path`, relative to the repo root)."""

    type: Literal["local"]
    path: str
    state: str | None = None
    """Where the state file lives (default `.ccc/state/<env>.json` in the repo)."""
    keep_bundles: int = Field(default=3, ge=0, le=1000)
    """Old bundles kept after an apply besides `current` and the one it replaced."""


class SshHost(Spec):
    """One runtime host: its runtime directory `path` is reached over SSH."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    path: str


class SshTarget(Spec):
    """Deploy to runtime directories on hosts over SSH; host keys always checked."""

    type: Literal["ssh"]
    hosts: list[SshHost] = Field(min_length=1)
    identity_file: str | None = None
    known_hosts: str | None = None
    state: str | None = None
    """Where the state file lives (default `.ccc/state/<env>.json` in the repo)."""
    keep_bundles: int = Field(default=3, ge=0, le=1000)
    """Old bundles kept on each host after an apply besides `current` and the one it
    replaced."""


TargetSpec = Annotated[LocalTarget | SshTarget, Field(discriminator="type")]


class Environment(Spec):
    """Per-environment values, used as `${var.NAME}` anywhere in the manifests, and where the
    environment is deployed (`target`, read by `ccc plan` and `ccc apply`)."""

    description: str = ""
    variables: dict[str, Any] = Field(default_factory=_empty_dict)
    target: TargetSpec | None = None


class RootSettings(Spec):
    """Keys only the root file (`ccc.yaml`) may have."""

    ccc: Literal[1] = 1
    include: list[str] = Field(default_factory=lambda: ["*.yaml"])
    flows: list[str] = Field(default_factory=lambda: ["flows/**/*.ivr"])
    environments: dict[str, Environment] = Field(default_factory=_empty_dict)
    default_env: str | None = None


KINDS: dict[str, type[Resource]] = {
    "numbers": Number,
    "skill_groups": SkillGroup,
    "agents": Agent,
    "schedules": Schedule,
    "prompts": Prompt,
    "functions": Function,
    "flow_bindings": FlowBinding,
    "blacklists": Blacklist,
    "outbound_policies": OutboundPolicy,
    "trunks": Trunk,
}
"""Top-level YAML key -> resource class. `instance` (one, not keyed by name) is separate."""


class ManifestFile(Spec):
    """One manifest file: any subset of the kinds. Used for the JSON Schema only; the loader
    validates resource by resource so that one bad resource doesn't hide the others."""

    # its validator (and RootFile's) is built when a schema is asked for, not at every import
    model_config = ConfigDict(defer_build=True)

    instance: Instance | None = None
    numbers: dict[str, Number] = Field(default_factory=_empty_dict)
    skill_groups: dict[str, SkillGroup] = Field(default_factory=_empty_dict)
    agents: dict[str, Agent] = Field(default_factory=_empty_dict)
    schedules: dict[str, Schedule] = Field(default_factory=_empty_dict)
    prompts: dict[str, Prompt] = Field(default_factory=_empty_dict)
    functions: dict[str, Function] = Field(default_factory=_empty_dict)
    flow_bindings: dict[str, FlowBinding] = Field(default_factory=_empty_dict)
    blacklists: dict[str, Blacklist] = Field(default_factory=_empty_dict)
    outbound_policies: dict[str, OutboundPolicy] = Field(default_factory=_empty_dict)
    trunks: dict[str, Trunk] = Field(default_factory=_empty_dict)


class RootFile(ManifestFile, RootSettings):
    """The root file: settings plus, optionally, resources."""


@dataclass(frozen=True)
class Source:
    """Where a resource was written: its file and the path of its key inside that file."""

    parsed: ParsedFile
    path: PathKey


@dataclass
class Model:
    """The validated, env-resolved config repo. Plain typed fields; spans on request."""

    root: str
    env: str | None
    environment: Environment | None = None
    """The selected environment's settings (its deploy target), None without one."""
    instance: Instance | None = None
    numbers: dict[str, Number] = field(default_factory=_empty_dict)
    skill_groups: dict[str, SkillGroup] = field(default_factory=_empty_dict)
    agents: dict[str, Agent] = field(default_factory=_empty_dict)
    schedules: dict[str, Schedule] = field(default_factory=_empty_dict)
    prompts: dict[str, Prompt] = field(default_factory=_empty_dict)
    functions: dict[str, Function] = field(default_factory=_empty_dict)
    flow_bindings: dict[str, FlowBinding] = field(default_factory=_empty_dict)
    blacklists: dict[str, Blacklist] = field(default_factory=_empty_dict)
    outbound_policies: dict[str, OutboundPolicy] = field(default_factory=_empty_dict)
    trunks: dict[str, Trunk] = field(default_factory=_empty_dict)
    sources: dict[tuple[str, str], Source] = field(default_factory=_empty_dict, repr=False)
    declared: dict[str, set[str]] = field(default_factory=_empty_dict, repr=False)
    """Every name declared per kind, including resources that failed validation: check that a
    name exists against this, so a broken resource isn't also reported as missing."""
    unvalidated: dict[tuple[str, str], tuple[Source, Any]] = field(default_factory=_empty_dict,
                                                                    repr=False)
    """Resources that failed validation, with their env-resolved data: reference checks still
    read the names in them, so a missing `display_name` doesn't hide a misspelt group."""

    def resources(self, kind: str) -> dict[str, Any]:
        """The resources of a kind by name (`kind` as in YAML, e.g. `skill_groups`)."""
        if kind == "instance":
            return {self.instance.name: self.instance} if self.instance else {}
        table: dict[str, Any] = getattr(self, kind)
        return table

    def span_of(self, kind: str, name: str, *path: str | int, key: bool = False) -> Span | None:
        """Where resource `name` of `kind` is written (its key), or the value (or `key`) of its
        field at `path`; for messages. Kinds as in YAML (`agents`); the instance is
        `span_of("instance", "instance")`."""
        source = self.sources.get((kind, name))
        if source is None:
            return None
        full = (*source.path, *path)
        return source.parsed.span(full, key=key or not path)

    def binding_for(self, number: str) -> FlowBinding | None:
        """The flow binding of a number (by number name)."""
        for binding in self.flow_bindings.values():
            if binding.number == number:
                return binding
        return None

    def agents_of(self, group: str) -> dict[str, int]:
        """Agents in a skill group with their skill levels."""
        return {a.name: a.groups[group] for a in self.agents.values() if group in a.groups}

    def outbound_groups_of(self, number: str) -> list[str]:
        """Skill groups that call out through a number."""
        return [g.name for g in self.skill_groups.values() if number in g.outbound_numbers]

    def region_of(self, number: str) -> tuple[str, str]:
        """(city, province) of a number resource, for caller-id choice; empty if unknown."""
        n = self.numbers.get(number)
        return region_of(n.number) if n is not None else ("", "")

    def limits_for(self, flow: str) -> Limits:
        """The analysis limits for a flow: its bindings' limits over the instance's."""
        base = self.instance.limits if self.instance else Limits()
        merged = base.model_dump()
        for binding in self.flow_bindings.values():
            if binding.flow == flow and binding.limits is not None:
                for key, value in binding.limits.model_dump().items():
                    if value is not None and (merged[key] is None or value < merged[key]):
                        merged[key] = value
        return Limits.model_validate(merged)
