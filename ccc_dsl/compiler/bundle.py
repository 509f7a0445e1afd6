"""The call-time configuration of a bundle (`bundle.json` without `flows`), from the Model.

The runtime reads this JSON and nothing of the manifests (docs/runtime.md and
runtime/ccc_runtime/bundle.py): here every manifest resource is reduced to what a call needs:
numbers in E.164 mapped to flow names, skill groups, agents with their SIP address and mobile
forwarding, schedules with day ranges expanded, functions with secrets as environment-variable
references (never values), prompts by language, blacklists (prefixes as `+86165*`), the
instance's region, its outbound policy, its numbers' types and outbound concurrency, and its
trunks.
Deterministic: keys sorted on dump.
"""

from __future__ import annotations

from typing import Any

from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.manifest.model import Model
from ccc_dsl.manifest.phones import DEFAULT_REGION

RUNTIME_METHODS = frozenset({"GET", "POST", "PUT"})


def _timezone(model: Model) -> str:
    """The bundle's clock zone (`time.hour` etc.): the schedules' zone when they agree."""
    zones = sorted({s.timezone for s in model.schedules.values()})
    return zones[0] if len(zones) == 1 else "UTC"


def bundle_config(model: Model) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The configuration for `ccc_runtime.bundle.bundle_from_parts`, and B8xx diagnostics for
    manifest values the runtime can't carry out (a function method or a secret from a file)."""
    problems: list[Diagnostic] = []
    default_language = model.instance.default_language if model.instance else "zh"
    languages = sorted({default_language} | {lang for p in model.prompts.values()
                                              for lang in p.languages})
    numbers = {}
    for binding in sorted(model.flow_bindings.values(), key=lambda b: b.name):
        number = model.numbers.get(binding.number)
        if number is not None:
            numbers[number.number] = binding.flow
    agents: dict[str, Any] = {}
    for agent in sorted(model.agents.values(), key=lambda a: a.name):
        fwd = agent.mobile_forwarding
        agents[agent.name] = {"skills": dict(sorted(agent.groups.items())),
                              "display_name": agent.display_name, "address": agent.sip,
                              "mobile": fwd.mobile if fwd else None,
                              "forward_when_offline": fwd is not None}
    schedules: dict[str, Any] = {}
    for sched in sorted(model.schedules.values(), key=lambda s: s.name):
        schedules[sched.name] = {
            "timezone": sched.timezone,
            "weekly": {day: ranges for day, ranges in sched.hours_by_day().items() if ranges},
            "holidays": [h.date.isoformat() + (f"..{h.end.isoformat()}" if h.end else "")
                         for h in sched.holidays],
            "exceptions": {e.date.isoformat(): list(e.hours) for e in sched.exceptions},
        }
    functions: dict[str, Any] = {}
    for fn in sorted(model.functions.values(), key=lambda f: f.name):
        span = model.span_of("functions", fn.name)
        if fn.method not in RUNTIME_METHODS:
            problems.append(_problem(f"function `{fn.name}`: the runtime calls functions with "
                                     f"GET, POST or PUT, not {fn.method}", span))
        secret: list[dict[str, str]] = []
        if fn.token is not None:
            if fn.token.env is None:
                problems.append(_problem(f"function `{fn.name}`: the runtime reads tokens from "
                                         "environment variables only (`token: {env: NAME}`)",
                                         span))
            else:
                secret.append({"header": "Authorization", "env": fn.token.env,
                               "prefix": "Bearer "})
        functions[fn.name] = {"url": fn.url, "method": fn.method,
                              "timeout_ms": max(1, round(fn.timeout_seconds * 1000)),
                              "headers": dict(sorted(fn.headers.items())),
                              "secret_headers": secret,
                              **({"reply": fn.reply} if fn.reply != "json" else {})}
    prompts = {p.name: {lang: ({"file": v.file} if v.file is not None else {"tts": v.tts})
                        for lang, v in sorted(p.languages.items())}
               for p in sorted(model.prompts.values(), key=lambda p: p.name)}
    blacklists = {b.name: sorted(b.numbers) + sorted(
        (p if p.startswith("+") else "+" + p) + "*" for p in b.prefixes)
        for b in sorted(model.blacklists.values(), key=lambda b: b.name)}
    config: dict[str, Any] = {
        "format": 1,
        "timezone": _timezone(model),
        "default_language": default_language,
        "languages": languages,
        "numbers": dict(sorted(numbers.items())),
        "skill_groups": {name: {} for name in sorted(model.skill_groups)},
        "agents": agents,
        "schedules": schedules,
        "functions": functions,
        "prompts": prompts,
        "blacklists": blacklists,
        "voicemail_boxes": [],
        "region": DEFAULT_REGION,
        **_outbound(model),
    }
    problems += [_problem(f"trunk `{t.name}`: the runtime reads a registration password from "
                          "an environment variable only (`password: {env: NAME}`)",
                          model.span_of("trunks", t.name))
                 for t in sorted(model.trunks.values(), key=lambda t: t.name)
                 if t.registration is not None and t.password is not None
                 and t.password.env is None]
    return config, problems


def _outbound(model: Model) -> dict[str, Any]:
    """What the toll-fraud guard and the SIP layer need: the instance's outbound policy (a
    fixed caller id as E.164), every number's type, concurrency and trunk, and the trunks
    (a password only as the name of its environment variable)."""
    phone_numbers = {n.number: {"type": n.type, "outbound_concurrency": n.outbound_concurrency,
                                "trunk": n.trunk}
                     for n in sorted(model.numbers.values(), key=lambda n: n.number)}
    trunks = {t.name: {"gateway": t.gateway, "port": t.port, "transport": t.transport,
                       "codec": t.codec, "allowed_sources": list(t.allowed_sources),
                       "username": t.username,
                       "password_env": t.password.env if t.password is not None else None,
                       **({"registration": {"expires_s": t.registration.expires_seconds,
                                            "domain": t.registration.domain or t.gateway}}
                          if t.registration is not None else {})}
              for t in sorted(model.trunks.values(), key=lambda t: t.name)}
    name = model.instance.outbound_policy if model.instance else None
    policy = model.outbound_policies.get(name) if name is not None else None
    outbound: dict[str, Any] | None = None
    if policy is not None:
        fixed = model.numbers.get(policy.caller_id.number or "")
        outbound = {
            "calling_hours": policy.calling_hours,
            "blacklist": policy.blacklist,
            "callee_cap": (policy.callee_cap.model_dump() if policy.callee_cap else None),
            "blocked_regions": list(policy.blocked_regions),
            "sip_domains": list(policy.sip_domains),
            "caller_id": {"mode": policy.caller_id.mode,
                          "number": fixed.number if fixed is not None
                          else policy.caller_id.number},
        }
    return {"outbound": outbound, "phone_numbers": phone_numbers, "trunks": trunks}


def _problem(message: str, span: Span | None) -> Diagnostic:
    return error("B801", message, span, "change the manifest, or extend the runtime")
