"""The flow-test file format: YAML read with positions (the manifests' safe reader), validated
by pydantic, every problem a located `Diagnostic` (codes T70x here, T71x in the runner).

A file holds `defaults` (call setup shared by its tests) and `tests`, each a call setup plus
`expect`. Format and examples: docs/testing.md.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from ccc_runtime.calldata import MAX_HEADER_VALUE, MAX_HEADERS, PASSED_HEADERS, passes
from ccc_runtime.functions import MAX_REPLY_BYTES
from ccc_runtime.limits import MAX_VALUE_DEPTH
from ccc_runtime.simchannel import Press
from ccc_runtime.values import json_too_deep
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.manifest.parsed import MAX_FILE_BYTES, ParsedFile, PathKey
from ccc_dsl.manifest.yamlsafe import parse_yaml
from ccc_dsl.util import did_you_mean

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
MAX_DURATION_MS = 86_400_000
"""No call lasts a day; a bigger time would overflow the call's clock."""
KEYS = "0123456789*#"


def parse_duration_ms(value: object) -> int:
    """`30s`, `2m`, `1500ms`, `1.5s` or a plain number of milliseconds -> milliseconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 2m or 1500ms")
    if isinstance(value, int | float) and value >= 0:
        ms = float(value)
    else:
        match = _DURATION.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"expected a duration such as 30s, 2m or 1500ms, got {value!r}")
        ms = float(match[1]) * _UNIT_MS[match[2] or "ms"]
    if not ms <= MAX_DURATION_MS:
        raise ValueError(f"a duration in a call is at most 24h, got {value!r}")
    return round(ms)


def parse_press(item: str) -> Press:
    """One key-script item: `1`, `#`, `-` (silence), or `K@WHEN` (`2@12s`, `2@12000`)."""
    key, sep, when = item.strip().partition("@")
    key = key.strip()
    if key == "-" and not sep:
        return Press(None)
    if len(key) != 1 or key not in KEYS:
        raise ValueError(f"bad key {item.strip()!r}: expected one of 0-9 * # or - (silence)")
    return Press(key, parse_duration_ms(when) if sep else None)


def parse_key_script(text: str) -> list[Press]:
    """`1,#,-,2@12s` -> presses (also what `ccc simulate --keys` takes)."""
    return [parse_press(item) for item in text.split(",") if item.strip()]


def parse_instant(value: object) -> datetime:
    """An ISO date and time with a UTC offset (`--at`, a test's `at`); ValueError if not."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected a date and time like 2026-12-25T10:00+08:00, "
                             f"got {value!r}") from None
    else:
        raise ValueError("expected a date and time like 2026-12-25T10:00+08:00")
    if moment.tzinfo is None:
        raise ValueError("the time needs a UTC offset, e.g. 2026-12-25T10:00+08:00")
    if not 1 < moment.year < 9999:
        # the call's clock must be able to run on (and convert zones) without overflowing
        raise ValueError(f"the year must be between 2 and 9998, got {moment.year}")
    return moment


def _keys(value: object) -> list[Press]:
    if isinstance(value, str):
        return parse_key_script(value)
    if not isinstance(value, list):
        raise ValueError("expected key presses: \"1,#,2@12s\" or a list of them")
    presses = []
    for item in value:
        if isinstance(item, bool):
            raise ValueError(f"bad key {item!r}")
        if isinstance(item, int) and 0 <= item <= 9:
            presses.append(Press(str(item)))
        elif isinstance(item, str):
            presses.append(parse_press(item))
        elif isinstance(item, dict) and set(item) <= {"key", "at"} and "key" in item:
            press = parse_press(str(item["key"]))
            at = item.get("at")
            presses.append(Press(press.key, None if at is None else parse_duration_ms(at)))
        else:
            raise ValueError(f"bad key {item!r}: write `1`, `\"#\"`, `\"-\"`, `\"2@12s\"` "
                             "or {key: 2, at: 12s}")
    return presses


def parse_source(value: object) -> str:
    """An IP address (`call.source`), ValueError if not."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValueError(f"expected an IP address such as 192.0.2.10, got {value!r}") from None


def parse_headers(value: object) -> dict[str, str]:
    """SIP headers as an INVITE would bring them: names that reach flows, bounded values."""
    if not isinstance(value, dict):
        raise ValueError("expected SIP headers: {X-Customer-Id: \"42\", Diversion: ...}")
    if len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers reach a flow")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not passes(str(name)):
            raise ValueError(f"header `{str(name)[:40]}` never reaches a flow: only X- headers "
                             f"and {', '.join(sorted(PASSED_HEADERS))}")
        if not isinstance(text, str | int) or isinstance(text, bool):
            raise ValueError(f"header `{name}`: expected text")
        if len(str(text)) > MAX_HEADER_VALUE:
            raise ValueError(f"header `{name}`: over {MAX_HEADER_VALUE} characters (a live "
                             "call cuts it there)")
        out[str(name)] = str(text)
    return out


Duration = Annotated[int, BeforeValidator(parse_duration_ms)]
SourceAddress = Annotated[str, BeforeValidator(parse_source)]
SipHeaders = Annotated[dict[str, str], BeforeValidator(parse_headers)]
Instant = Annotated[datetime, BeforeValidator(parse_instant)]
KeyScript = Annotated[list[Press], BeforeValidator(_keys)]
AgentStateName = Literal["available", "busy", "after-call-work", "offline"]
FailureKind = Literal["timeout", "http-status", "refused", "network", "bad-json"]
MAX_STUB_TURNS = 10
"""Outcomes a stub may give in turn (the last repeats): retries are at most 3."""
MAX_SCENARIO_CALLS = 20
"""Calls in one scenario test."""
TransferName = Literal["answered", "busy", "no-answer"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class FunctionStub(_Strict):
    """A canned function reply: `reply` (JSON, or a string for a text function), `file` (a
    JSON file next to the test file) or `error` (the failure kind, so the flow takes the
    function's `timeout` or `error` exit); `status` is the HTTP status of an `http-status`
    error (default 500: a 5xx is retried, a 4xx is not)."""

    reply: Any = None
    file: str | None = None
    error: FailureKind | None = None
    status: int | None = Field(default=None, ge=400, le=599)

    @model_validator(mode="after")
    def _exactly_one(self) -> FunctionStub:
        given = [k for k in ("reply", "file", "error") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of `reply`, `file` or `error`")
        if self.status is not None and self.error != "http-status":
            raise ValueError("`status` goes with `error: http-status`")
        return self


def _turns(value: object) -> object:
    return value if isinstance(value, list) else [value]


StubTurns = Annotated[list[FunctionStub], BeforeValidator(_turns),
                      Field(min_length=1, max_length=MAX_STUB_TURNS)]
"""A stub, or a list of them: outcomes one per call in turn, the last one repeating (a failed
attempt, then its retry)."""


class FunctionExpect(_Strict):
    """What a test expects of calls to one function: how many attempts (retries count) and
    their arguments: a mapping every attempt's arguments include, or a list of such mappings,
    one per attempt in order."""

    calls: int | None = Field(default=None, ge=0)
    args: dict[str, Any] | list[dict[str, Any]] | None = None


class AgentEvent(_Strict):
    """An agent changes state during the call, e.g. becomes free 30 s into the queue."""

    at: Duration
    agent: str
    state: AgentStateName


class History(_Strict):
    """What the call history knows about the caller before this call."""

    agent: str | None = None
    language: str | None = None


class Expect(_Strict):
    """Expected results; only the keys given are checked."""

    outcome: str | None = None
    prompts: list[str] | None = None
    prompts_include: list[str] | None = None
    variables: dict[str, Any] | None = None
    agent: str | None = None
    queue: str | None = None
    faults: int | None = Field(default=None, ge=0)
    survey_score: int | None = None
    functions: dict[str, FunctionExpect] | None = None


MAX_WAITING = 10_000
"""The most calls a test may put in a queue before its call (a queue's largest capacity)."""


class CallSetup(_Strict):
    """Everything about one simulated call except what is expected of it."""

    flow: str | None = None
    called: str | None = None
    caller: str | None = None
    at: Instant | None = None
    language: str | None = None
    keys: KeyScript | None = None
    agents: dict[str, AgentStateName] | None = None
    functions: dict[str, StubTurns] | None = None
    history: History | None = None
    agent_answers: dict[str, bool] | None = None
    numbers: dict[str, TransferName] | None = None
    events: list[AgentEvent] | None = None
    hangup_at: Duration | None = None
    source: SourceAddress | None = None
    headers: SipHeaders | None = None
    waiting: dict[str, Annotated[int, Field(ge=0, le=MAX_WAITING)]] | None = None
    """Calls already waiting in a skill group's queue when the call starts (so a queue's
    `capacity` can be met in a test of one call)."""


class ScenarioCall(CallSetup):
    """One call of a scenario: its own setup (over the test's) and expectations; `after` is
    the time from the end of the call before (default 1m); `at` instead places it at a time."""

    after: Duration | None = None
    expect: Expect = Field(default_factory=Expect)


class CaseSpec(CallSetup):
    """A test: one call (`expect`), or a scenario of `calls` in order that share the ACD,
    the call history and the clock."""

    name: str = Field(min_length=1)
    expect: Expect | None  # required, unless the test is a scenario (`calls`)
    calls: list[ScenarioCall] | None = Field(default=None, min_length=1,
                                             max_length=MAX_SCENARIO_CALLS)

    @model_validator(mode="before")
    @classmethod
    def _scenario_expects_per_call(cls, data: Any) -> Any:
        if isinstance(data, dict) and "calls" in data and "expect" not in data:
            return {**data, "expect": None}
        return data

    @model_validator(mode="after")
    def _not_both(self) -> CaseSpec:
        if self.calls is not None and self.expect is not None:
            raise ValueError("a scenario's expectations go in each of its `calls`, not in "
                             "`expect`")
        if self.calls is None and self.expect is None:
            raise ValueError("`expect` must be a mapping of expectations")
        return self


class SuiteModel(_Strict):
    defaults: CallSetup | None = None
    tests: list[CaseSpec] = Field(min_length=1)


MERGED_MAPPINGS = ("agents", "functions", "agent_answers", "numbers", "headers")
"""Defaults and test mappings merge key by key (the test wins); other fields are replaced."""


def merged(defaults: CallSetup | None, test: CallSetup) -> CallSetup:
    """The test's call setup with the file's defaults filled in (also: a scenario call's
    setup over its test's)."""
    values: dict[str, Any] = {}
    for name in CallSetup.model_fields:
        base = getattr(defaults, name) if defaults is not None else None
        own = getattr(test, name)
        if name in MERGED_MAPPINGS and base is not None and own is not None:
            values[name] = {**base, **own}
        else:
            values[name] = own if name in test.model_fields_set else base
    return CallSetup.model_construct(**values)


class SuiteFile:
    """One parsed test file: the validated model (None if it has errors) and the positions,
    so later checks (unknown flow or agent) can point at the right line."""

    def __init__(self, path: Path, display: str, parsed: ParsedFile,
                 model: SuiteModel | None, diagnostics: list[Diagnostic]) -> None:
        self.path = path
        self.display = display
        self.parsed = parsed
        self.model = model
        self.diagnostics = diagnostics

    def span(self, path: PathKey, key: bool = False) -> Span:
        return self.parsed.span(path, key)

    def stub_value(self, stub: FunctionStub, where: PathKey) -> tuple[Any, Diagnostic | None]:
        """A stub's reply; a `file` is read relative to the test file (T706 if it can't be)."""
        if stub.file is None:
            return stub.reply, None
        target = self.path.parent / stub.file
        try:
            with target.open("rb") as handle:
                raw = handle.read(MAX_REPLY_BYTES + 1)
            if len(raw) > MAX_REPLY_BYTES or json_too_deep(raw):
                raise ValueError(f"over {MAX_REPLY_BYTES} bytes or nested deeper than "
                                 f"{MAX_VALUE_DEPTH}, as no function reply may be")
            return json.loads(raw.decode("utf-8")), None
        except OSError as exc:
            problem = f"can't read {stub.file}: {exc.strerror or exc}"
        except (ValueError, UnicodeDecodeError) as exc:
            problem = f"{stub.file} is not JSON: {exc}"
        return None, error("T706", problem, self.span((*where, "file")),
                           "the path is relative to the test file")


def load_test_file(path: Path, display: str | None = None) -> SuiteFile:
    """Read and validate one test file; never raises for bad input."""
    shown = display or str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        parsed = ParsedFile(shown)
        problem = error("T700", f"can't read the test file: {exc.strerror or exc}",
                        Span.point(shown, 1, 1))
        return SuiteFile(path, shown, parsed, None, [problem])
    parsed = parse_yaml(shown, raw)
    if parsed.diagnostics:
        return SuiteFile(path, shown, parsed, None, list(parsed.diagnostics))
    try:
        model = SuiteModel.model_validate(parsed.data)
    except ValidationError as exc:
        return SuiteFile(path, shown, parsed, None, _located(exc, parsed))
    return SuiteFile(path, shown, parsed, model, [])


def _located(exc: ValidationError, parsed: ParsedFile) -> list[Diagnostic]:
    out = []
    for err in exc.errors(include_url=False):
        where = _data_path(err["loc"], parsed.data)
        last = err["loc"][-1] if err["loc"] else ""
        if err["type"] == "missing":
            owner = _owner(where[:-1], parsed.data)
            out.append(error("T702", f"{owner}: missing required key `{last}`",
                             parsed.span(where[:-1], key=True), f"add `{last}:`"))
        elif err["type"] == "extra_forbidden":
            allowed = _allowed_keys(where[:-1])
            hint = did_you_mean(str(last), allowed) if allowed else None
            if hint is None and allowed:
                hint = "allowed keys: " + ", ".join(sorted(allowed))
            out.append(error("T701", f"{_owner(where[:-1], parsed.data)}: unknown key `{last}`",
                             parsed.span(where, key=True), hint))
        else:
            out.append(error("T703", f"{_owner(where, parsed.data)}: {_message(err)}",
                             parsed.span(where)))
    return out


def _owner(path: PathKey, data: Any) -> str:
    """Where in the file, in one numbering for every T70x: a test by its name where it has
    one (else `test #N`, counting from 1), then the key path inside it."""
    if len(path) >= 2 and path[0] == "tests" and isinstance(path[1], int):
        rest = ".".join(str(p) for p in path[2:])
        return _test_label(path[1], data) + (f" `{rest}`" if rest else "")
    return (f"`{'.'.join(str(p) for p in path)}`" if path else "") or "test file"


def _test_label(index: int, data: Any) -> str:
    tests = data.get("tests") if isinstance(data, dict) else None
    case = tests[index] if isinstance(tests, list) and index < len(tests) else None
    name = case.get("name") if isinstance(case, dict) else None
    if isinstance(name, str) and name.strip():
        return f"test `{name[:80]}`"
    return f"test #{index + 1}"


_MODELS: dict[str, type[BaseModel]] = {
    "defaults": CallSetup, "functions": FunctionStub, "history": History, "expect": Expect,
    "events": AgentEvent, "calls": ScenarioCall,
}


def _allowed_keys(path: PathKey) -> set[str]:
    """The keys allowed in the mapping at `path` (for did-you-mean on an unknown key)."""
    names = [p for p in path if isinstance(p, str)]
    if not path:
        return set(SuiteModel.model_fields)
    if names == ["tests"]:
        return set(CaseSpec.model_fields)
    # the mapping's own model is named by the nearest field name that has one
    for i in range(len(names) - 1, -1, -1):
        name = names[i]
        if name in _MODELS:
            # `functions.NAME` holds a stub (in `expect`: what is expected of it); `functions`
            # itself maps names
            if name == "functions" and path[-1] == "functions":
                return set()
            if name == "functions" and "expect" in names[:i]:
                return set(FunctionExpect.model_fields)
            return set(_MODELS[name].model_fields)
    return set()


def _data_path(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """A pydantic `loc` as a path into the YAML data (drops union and validator markers)."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        in_map = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_list:
            out.append(part)
            node = node[part]
        elif i == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str):
            out.append(part)  # a missing or unknown key, located at or under its parent
    return tuple(out)


_TYPES = {str: "text", int: "a number", float: "a number", bool: "a boolean", list: "a list",
          dict: "a mapping", type(None): "nothing"}


def _message(err: Any) -> str:
    got = _TYPES.get(type(err.get("input")), "something else")
    kind = err["type"]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value), got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind == "string_type":
        return f"expected text, got {got}"
    return str(err["msg"]).removeprefix("Value error, ")
