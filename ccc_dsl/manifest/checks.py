"""Cross-resource checks: references (M3xx) and the domain rules (D4xx, docs/manifest.md).

Each check is a small function from the model to diagnostics; `run_checks` runs them all. Figures
(what a number type may do, supplier windows, regions, size limits) come from the data file.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ccc_runtime.sipuri import domain_problem

from ccc_dsl.diagnostics import Diagnostic, Span, error, warning
from ccc_dsl.manifest.domain import domain_data
from ccc_dsl.manifest.model import WEEKDAYS, Model, Schedule, Source, expand_days
from ccc_dsl.manifest.phones import parse_phone
from ccc_dsl.util import did_you_mean

INSTANCE_NAME_RE = re.compile(r"^[^\W_]+$")
DOMAIN_RE = re.compile(r"^[A-Za-z0-9_-]+$")
Check = Callable[[Model, Path], Iterator[Diagnostic]]


def _span(model: Model, kind: str, name: str, *path: str | int) -> Span | None:
    return model.span_of(kind, name, *path)


def _ref(model: Model, target: str, value: str, kind: str, name: str,
         *path: str | int) -> Iterator[Diagnostic]:
    """M301 when `value` names no declared resource of kind `target`."""
    if value in model.declared.get(target, set()):
        return
    what = target.removesuffix("s").replace("_", " ").replace("policie", "policy")
    declared = model.declared.get(target, set())
    yield error("M301", f"{what} `{value}` does not exist", _span(model, kind, name, *path),
                did_you_mean(value, declared) or f"declare it under `{target}:`")


def _group_refs(model: Model, groups: Iterable[str], source: Source) -> Iterator[Diagnostic]:
    """M301 for each of an agent's `groups` keys that names no declared skill group."""
    declared = model.declared.get("skill_groups", set())
    for group in groups:
        if group not in declared:
            yield error("M301", f"skill group `{group}` does not exist",
                        source.parsed.span((*source.path, "groups", group), key=True),
                        did_you_mean(group, declared) or "declare it under `skill_groups:`")


def check_references(model: Model, _: Path) -> Iterator[Diagnostic]:
    """Every name a resource uses refers to a declared resource of the right kind."""
    if model.instance and model.instance.outbound_policy:
        yield from _ref(model, "outbound_policies", model.instance.outbound_policy, "instance",
                        "instance", "outbound_policy")
    for n in model.numbers.values():
        if n.trunk is not None:
            yield from _ref(model, "trunks", n.trunk, "numbers", n.name, "trunk")
    for g in model.skill_groups.values():
        for i, num in enumerate(g.outbound_numbers):
            yield from _ref(model, "numbers", num, "skill_groups", g.name, "outbound_numbers", i)
    for a in model.agents.values():
        yield from _group_refs(model, a.groups, model.sources[("agents", a.name)])
        if a.mobile_forwarding is not None and a.mobile_forwarding.via is not None:
            yield from _ref(model, "numbers", a.mobile_forwarding.via, "agents", a.name,
                            "mobile_forwarding", "via")
    for (kind, _name), (source, data) in model.unvalidated.items():
        groups = data.get("groups") if kind == "agents" else None
        if isinstance(groups, dict):  # an agent that failed validation still names groups
            yield from _group_refs(model, [g for g in groups if isinstance(g, str)], source)
    for b in model.flow_bindings.values():
        yield from _ref(model, "numbers", b.number, "flow_bindings", b.name, "number")
    data = domain_data()
    for p in model.outbound_policies.values():
        if p.caller_id.number is not None:
            yield from _ref(model, "numbers", p.caller_id.number, "outbound_policies", p.name,
                            "caller_id", "number")
        if p.blacklist is not None:
            yield from _ref(model, "blacklists", p.blacklist, "outbound_policies", p.name,
                            "blacklist")
            bl = model.blacklists.get(p.blacklist)
            if bl is not None and bl.direction != "outbound":
                yield error("D427", f"blacklist `{bl.name}` is for {bl.direction} calls",
                            _span(model, "outbound_policies", p.name, "blacklist"),
                            "an outbound policy needs a blacklist with direction: outbound")
        if p.supplier not in data.suppliers:
            yield error("M301", f"supplier `{p.supplier}` is not known",
                        _span(model, "outbound_policies", p.name, "supplier"),
                        did_you_mean(p.supplier, set(data.suppliers))
                        or "known: " + ", ".join(sorted(data.suppliers)))


CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"}
"""Headers that carry credentials: written as plain values they would reach the bundle."""


def check_function_secrets(model: Model, _: Path) -> Iterator[Diagnostic]:
    """A credential in a plain header is a secret written as a value (D422)."""
    for f in model.functions.values():
        for header in f.headers:
            if header.lower() in CREDENTIAL_HEADERS:
                yield error("D422", f"function `{f.name}`: header `{header}` carries a "
                            "credential as a plain value",
                            model.span_of("functions", f.name, "headers", header, key=True),
                            "use `token: {env: VARIABLE}` (sent as a Bearer token); never put "
                            "a secret's value in the config repo")


def check_function_replies(model: Model, _: Path) -> Iterator[Diagnostic]:
    """A text reply is one string: it has no fields for `returns:` to list (M210)."""
    for f in model.functions.values():
        if f.reply == "text" and f.returns:
            yield error("M210", f"function `{f.name}` replies with text, which has no fields "
                        "to list in `returns:`",
                        model.span_of("functions", f.name, "returns", key=True),
                        "remove `returns:` (the flow reads the text as `result`), or make the "
                        "function reply JSON (`reply: json`)")


def check_instance(model: Model, _: Path) -> Iterator[Diagnostic]:
    """Name and domain character sets (D401, D402); seats in monthly billing (D411)."""
    inst = model.instance
    if inst is None:
        return
    if not INSTANCE_NAME_RE.fullmatch(inst.name):
        yield error("D401", f"instance name `{inst.name}` may only hold letters and digits",
                    _span(model, "instance", "instance", "name"),
                    "letters (Chinese allowed) and digits; no spaces or punctuation")
    if not DOMAIN_RE.fullmatch(inst.domain):
        yield error("D402", f"instance domain `{inst.domain}` may only hold ASCII letters, "
                    "digits, `_` and `-`", _span(model, "instance", "instance", "domain"),
                    "the domain is the access address; note it can't be changed later (D403)")
    seats = inst.billing.seats
    agents = len(model.declared.get("agents", model.agents))  # broken agents still take seats
    if inst.billing.mode == "monthly_seats" and seats is not None and agents > seats:
        yield error("D411", f"{agents} agents but only {seats} purchased seats",
                    _span(model, "instance", "instance", "billing", "seats"),
                    "buy more seats, remove agents, or switch to pay_as_you_go")


def check_numbers(model: Model, _: Path) -> Iterator[Diagnostic]:
    """Type facts (D420), concurrency (D410), trunks (D424), duplicates (M304), flows (D409,
    D423)."""
    types = domain_data().number_types
    seen: dict[str, str] = {}
    bound: dict[str, str] = {}
    unknown_bindings = any(_broken(model, "flow_bindings", b)
                           for b in model.declared.get("flow_bindings", set()))
    for b in sorted(model.flow_bindings.values(), key=lambda b: b.name):
        if b.number in bound:
            yield error("D423", f"number `{b.number}` is already bound to a flow by "
                        f"`{bound[b.number]}`", _span(model, "flow_bindings", b.name, "number"),
                        "a number runs exactly one flow")
        bound.setdefault(b.number, b.name)
    for n in model.numbers.values():
        info = types[n.type]
        if n.number in seen:
            yield error("M304", f"{n.number} is also declared as number `{seen[n.number]}`",
                        _span(model, "numbers", n.name, "number"), "declare each number once")
        seen.setdefault(n.number, n.name)
        phone = parse_phone(n.number)
        if not isinstance(phone, str) and info.library_types:
            if not phone.valid:
                yield error("D419", f"{n.number} is not a valid phone number",
                            _span(model, "numbers", n.name, "number"),
                            "check the digits and the area code")
            elif phone.library_type not in info.library_types:
                yield error("D420", f"{n.number} is a {phone.library_type.lower()} number, "
                            f"not a {n.type} number", _span(model, "numbers", n.name, "type"),
                            f"a {n.type} number is one of: "
                            + ", ".join(t.lower() for t in info.library_types))
            elif info.country_codes and not any(
                    phone.e164.startswith(f"+{code}") for code in info.country_codes):
                yield error("D420", f"{n.number} is not a {n.type} number: those have the "
                            "country code " + ", ".join(f"+{c}" for c in info.country_codes),
                            _span(model, "numbers", n.name, "type"),
                            "a toll-free number of another country is `type: toll_free`"
                            if phone.library_type == "TOLL_FREE"
                            else "choose the type of what the number is")
        if n.outbound_concurrency > info.max_outbound_concurrency:
            yield error("D410", f"outbound concurrency {n.outbound_concurrency} exceeds what a "
                        f"{n.type} number allows ({info.max_outbound_concurrency})",
                        _span(model, "numbers", n.name, "outbound_concurrency"),
                        "carriers block numbers above this; spread calls over more numbers"
                        if info.outbound else f"a {n.type} number can't call out")
        if (n.type == "sip_trunk") != (n.trunk is not None):
            yield error("D424", "a sip_trunk number needs `trunk:`" if n.trunk is None else
                        f"only sip_trunk numbers have a trunk, not {n.type} numbers",
                        _span(model, "numbers", n.name, "trunk" if n.trunk else "type"),
                        "name the SIP trunk (voice gateway) that carries the number")
        if n.name not in bound and info.inbound and not unknown_bindings:
            yield warning("D409", f"number `{n.name}` is bound to no flow: it can't take calls",
                          _span(model, "numbers", n.name),
                          "bind it under `flow_bindings:` (number and flow)")


def _broken(model: Model, kind: str, name: str) -> bool:
    """Declared but not validated (its own error is reported): what it would allow is unknown,
    so checks that depend on it stay silent rather than add false positives."""
    return name in model.declared.get(kind, set()) and name not in model.resources(kind)


def _outbound_ok(model: Model, number: str) -> bool:
    n = model.numbers.get(number)
    return n is not None and domain_data().number_types[n.type].outbound


def check_outbound(model: Model, _: Path) -> Iterator[Diagnostic]:
    """400 numbers never call out, show as caller id or forward to mobiles (D404-D407);
    staffed skill groups have an outbound number (D408: only when none is listed, since a
    listed one that can't call out is D404 or M301 already, at the number itself)."""
    types = domain_data().number_types
    staffed = {group for agent in model.agents.values() for group in agent.groups}
    for g in model.skill_groups.values():
        for i, name in enumerate(g.outbound_numbers):
            n = model.numbers.get(name)
            if n is not None and not types[n.type].outbound:
                yield error("D404", f"{n.type} number `{name}` can't be used for outbound calls",
                            _span(model, "skill_groups", g.name, "outbound_numbers", i),
                            "bind a landline or mobile number for outbound instead")
        if g.name in staffed and not g.outbound_numbers:
            yield warning("D408", f"skill group `{g.name}` has agents but no outbound number",
                          _span(model, "skill_groups", g.name),
                          "its agents can't call out; list a landline or mobile number in "
                          "`outbound_numbers:`")
    for p in model.outbound_policies.values():
        n = model.numbers.get(p.caller_id.number or "")
        if n is not None and not types[n.type].caller_id:
            yield error("D405", f"{n.type} number `{n.name}` can't be a displayed caller id",
                        _span(model, "outbound_policies", p.name, "caller_id", "number"),
                        "use a landline or mobile number as caller id")
    for a in model.agents.values():
        fwd = a.mobile_forwarding
        if fwd is None:
            continue
        if fwd.via is not None:
            n = model.numbers.get(fwd.via)
            if n is not None and not types[n.type].mobile_forwarding:
                yield error("D406", f"{n.type} number `{n.name}` can't forward calls to an "
                            "agent's mobile", _span(model, "agents", a.name, "mobile_forwarding",
                                                    "via"),
                            "forwarding places an outbound call; use a landline or mobile number")
            continue
        reach = [num for g in a.groups if g in model.skill_groups
                 for num in model.skill_groups[g].outbound_numbers]
        if any(_broken(model, "skill_groups", g) for g in a.groups) or any(
                _broken(model, "numbers", num) for num in reach):
            continue
        if not any(_outbound_ok(model, num) and types[model.numbers[num].type].mobile_forwarding
                   for num in reach):
            yield error("D407", f"agent `{a.name}` forwards to a mobile but no outbound-capable "
                        "number is in reach", _span(model, "agents", a.name, "mobile_forwarding"),
                        "set `via:` to a landline, or give one of the agent's skill groups an "
                        "outbound number")


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _range(text: str) -> tuple[int, int]:
    a, b = text.split("-")
    return _minutes(a), _minutes(b)


Where = tuple[str | int, ...]


def _range_problems(items: list[tuple[str, Where]]) -> Iterator[tuple[str, Where, str, Where]]:
    """(code, path, message tail, other path): D416 for an empty or inverted range, D415 for a
    range that overlaps an earlier one."""
    seen: list[tuple[int, int, Where]] = []
    for text, path in items:
        start, end = _range(text)
        if start >= end or end > 24 * 60:
            yield "D416", path, f"`{text}` is an empty time range", ()
            continue
        for s, e, other in seen:
            if start < e and s < end:
                yield "D415", path, f"`{text}` overlaps `{_fmt(s)}-{_fmt(e)}`", other
                break
        seen.append((start, end, path))


def _range_diagnostics(model: Model, name: str, found: dict[tuple[str, Where, str, Where],
                                                                list[str]],
                       what: str) -> Iterator[Diagnostic]:
    """One diagnostic per problem, naming the days it occurs on (a `mon-fri` range overlaps
    on five days, but is one mistake)."""
    for (code, path, tail, other), days in found.items():
        on = f" on {', '.join(days)}" if days and days[0] else ""
        hint = ("the end must be after the start, at most 24:00" if code == "D416" else
                f"merge the ranges or remove one; the other is at "
                f"{_span(model, 'schedules', name, *other)}")
        yield error(code, f"{what}{on}: {tail}", _span(model, "schedules", name, *path), hint)


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _timezone_ok(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def check_schedules(model: Model, _: Path) -> Iterator[Diagnostic]:
    """Weekday keys (M202), time zones (D417), empty (D416) and overlapping (D415) hours."""
    for s in model.schedules.values():
        if not _timezone_ok(s.timezone):
            yield error("D417", f"time zone `{s.timezone}` does not exist",
                        _span(model, "schedules", s.name, "timezone"),
                        did_you_mean(s.timezone, _zones(s.timezone))
                        or "use an IANA name like Asia/Shanghai")
        yield from _weekly(model, s)
        seen: dict[str, int] = {}
        for i, ex in enumerate(s.exceptions):
            day = ex.date.isoformat()
            if day in seen:
                yield error("D415", f"two exceptions for {day}",
                            _span(model, "schedules", s.name, "exceptions", i, "date"),
                            "merge them into one")
            seen[day] = i
            found = {problem: [""] for problem in _range_problems(
                [(h, ("exceptions", i, "hours", j)) for j, h in enumerate(ex.hours)])}
            yield from _range_diagnostics(model, s.name, found, f"exception {day}")


def _weekly(model: Model, s: Schedule) -> Iterator[Diagnostic]:
    per_day: dict[str, list[tuple[str, Where]]] = {}
    for key, ranges in s.weekly.items():
        days = expand_days(key)
        if days is None:
            yield error("M202", f"`{key}` is not a weekday or a range of weekdays",
                        model.span_of("schedules", s.name, "weekly", key, key=True),
                        "use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri")
            continue
        for day in days:
            per_day.setdefault(day, []).extend(
                (text, ("weekly", key, j)) for j, text in enumerate(ranges))
    if not any(per_day.values()):
        yield error("D416", f"schedule `{s.name}` has no open hours in the week",
                    _span(model, "schedules", s.name, "weekly"),
                    "give at least one day hours like 09:00-18:00")
    found: dict[tuple[str, Where, str, Where], list[str]] = {}
    for day in WEEKDAYS:
        for problem in _range_problems(per_day.get(day, [])):
            found.setdefault(problem, []).append(day)
    yield from _range_diagnostics(model, s.name, found, f"schedule `{s.name}`")


def _zones(name: str) -> set[str]:
    """Available zone names close in shape to `name` (for did-you-mean)."""
    prefix = name.split("/")[0]
    start = prefix[:2].lower()
    return {z for z in zoneinfo.available_timezones() if z.lower().startswith(start)}


def check_prompts(model: Model, repo: Path) -> Iterator[Diagnostic]:
    """Prompt files exist, are WAV, and are at most the size limit (D412-D414); the default
    language has a variant (D425)."""
    limit = domain_data().prompt_max_bytes
    real_root = repo.resolve()
    for p in model.prompts.values():
        if p.default_language not in p.languages:
            yield error("D425", f"prompt `{p.name}` has no `{p.default_language}` variant for "
                        "its default language",
                        _span(model, "prompts", p.name, "default_language"),
                        "add the language under `languages:` or change default_language")
        for lang, variant in p.languages.items():
            if variant.file is None:
                continue
            where = _span(model, "prompts", p.name, "languages", lang, "file")
            try:
                path = (repo / variant.file).resolve()
                inside = path.relative_to(real_root)
            except RuntimeError:  # a symlink loop
                yield error("D412", f"prompt file `{variant.file}` is a symlink loop", where,
                            "point the link at a WAV file")
                continue
            except (ValueError, OSError):  # outside the repo, or not a path at all (a NUL)
                yield error("D412", f"prompt file `{variant.file}` is outside the repo", where,
                            "paths are relative to the folder of ccc.yaml")
                continue
            if any(part.startswith(".") for part in inside.parts[:-1]):
                yield error("D412", f"prompt file `{variant.file}` is in a hidden folder", where,
                            "hidden folders are not part of the config repo; move the file")
                continue
            try:
                size = path.stat().st_size
                with path.open("rb") as handle:
                    head = handle.read(12)
            except (OSError, ValueError):
                yield error("D412", f"prompt file `{variant.file}` does not exist", where,
                            "paths are relative to the folder of ccc.yaml")
                continue
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                yield error("D413", f"prompt file `{variant.file}` is not a WAV file", where,
                            "convert it: ffmpeg -i in.mp3 -ar 8000 -ac 1 out.wav")
            if size > limit:
                yield error("D414", f"prompt file `{variant.file}` is {size} bytes; the limit is "
                            f"{limit} (5 MB)", where, "shorten it or lower its sample rate")


def check_policies(model: Model, _: Path) -> Iterator[Diagnostic]:
    """Calling hours within the supplier window (D418), known regions (D421), SIP hosts that
    are hosts (M208), callee caps in use by suppliers (D426)."""
    data = domain_data()
    for p in model.outbound_policies.values():
        supplier = data.suppliers.get(p.supplier)
        if supplier is not None:
            start, end = _range(p.calling_hours)
            w_start, w_end = _range(supplier.window)
            if start >= end:
                yield error("D416", f"calling hours `{p.calling_hours}` are an empty range",
                            _span(model, "outbound_policies", p.name, "calling_hours"),
                            "the end must be after the start")
            elif start < w_start or end > w_end:
                yield error("D418", f"calling hours {p.calling_hours} are outside supplier "
                            f"`{p.supplier}`'s window {supplier.window}",
                            _span(model, "outbound_policies", p.name, "calling_hours"),
                            f"stay within {supplier.window} ({supplier.timezone})")
        for i, region in enumerate(p.blocked_regions):
            if region not in data.regions:
                yield error("D421", f"unknown region `{region}`",
                            _span(model, "outbound_policies", p.name, "blocked_regions", i),
                            did_you_mean(region, set(data.regions))
                            or "use a province name like Xinjiang or Tibet")
        for i, host in enumerate(p.sip_domains):
            problem = domain_problem(host)
            if problem is not None:
                yield error("M208", f"`{host[:80]}` in `sip_domains` is not a host: {problem}",
                            _span(model, "outbound_policies", p.name, "sip_domains", i),
                            "write only the host, e.g. `pbx.example.com` or `*.example.com`")
        cap = p.callee_cap
        if cap is not None and all((c.calls, c.per_hours) != (cap.calls, cap.per_hours)
                                   for c in data.callee_caps):
            yield warning("D426", f"a cap of {cap.calls} call(s) per {cap.per_hours} h is not "
                          "one the suppliers use",
                          _span(model, "outbound_policies", p.name, "callee_cap"),
                          "in use: " + ", ".join(f"{c.calls}/{c.per_hours}h"
                                                 for c in data.callee_caps))


CHECKS: tuple[Check, ...] = (
    check_references, check_function_secrets, check_function_replies, check_instance,
    check_numbers, check_outbound,
    check_schedules, check_prompts, check_policies,
)


def run_checks(model: Model, repo: Path) -> list[Diagnostic]:
    """Every check over the model; checks only read the resources that validated."""
    out: list[Diagnostic] = []
    for check in CHECKS:
        out.extend(check(model, repo))
    return out
