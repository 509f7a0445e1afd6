"""Name resolution: every name a flow uses must exist in the manifests (or among the flows).

Each `ast.Ref` is looked up in its kind's namespace; a miss is an R5xx error at the name, with a
did-you-mean hint. Also checked here: flow names unique across files (R512), flow bindings that
name a flow no `.ivr` file defines (R509, at the binding in the manifest), and outside numbers
of `transfer number` (valid E.164, R510; allowed by the instance's outbound policy, R511),
and literal call languages (R514). The compile-time type checks of expressions (A616-A618,
passes/expressions.py) run here too: they need the AST, per file, like the rest.
Names are checked against `Model.declared`, so a resource that failed validation isn't also
reported as missing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from ccc_runtime.numbers import normalise

from ccc_dsl.compiler.destinations import check_transfer
from ccc_dsl.compiler.passes.expressions import EXPRESSIONS, root_types
from ccc_dsl.diagnostics import Diagnostic, error, warning
from ccc_dsl.grammar import ast
from ccc_dsl.manifest.model import Model
from ccc_dsl.manifest.phones import PhoneInfo, parse_phone, region_of
from ccc_dsl.util import did_you_mean

_KINDS: dict[ast.RefKind, tuple[str, str, str]] = {
    # ref kind: (code, word for messages, manifest kind holding the names)
    ast.RefKind.PROMPT: ("R501", "prompt", "prompts"),
    ast.RefKind.GROUP: ("R502", "skill group", "skill_groups"),
    ast.RefKind.AGENT: ("R503", "agent", "agents"),
    ast.RefKind.SCHEDULE: ("R504", "schedule", "schedules"),
    ast.RefKind.FUNCTION: ("R505", "function", "functions"),
    ast.RefKind.BLACKLIST: ("R506", "blacklist", "blacklists"),
    ast.RefKind.VOICEMAIL: ("R507", "voicemail box (a skill group)", "skill_groups"),
    ast.RefKind.FLOW: ("R508", "flow", ""),
    ast.RefKind.LABEL: ("R513", "label", ""),
}


_NAMELESS: tuple[type[ast.Node], ...] = (*EXPRESSIONS, ast.Tts, ast.TtsText)
"""AST classes that can't hold a name to resolve, at any depth (expressions, inline speech):
the search doesn't enter them. Inline speech holds no expression either, so the outermost
expressions the search meets are all of them (what `expression_types` would find)."""


def _declared(model: Model | None, kind: str) -> set[str]:
    if model is None:
        return set()
    names = model.declared.get(kind)
    return set(names) if names is not None else set(model.resources(kind))


def resolve_names(modules: list[ast.Module], model: Model | None,
                  known_flows: Collection[str] = (), bindings: bool = True) -> list[Diagnostic]:
    """R5xx diagnostics for every name of `modules` that doesn't resolve against `model` (with
    no model, only flow names and labels are checked: the manifests already failed).
    `known_flows`: flows of the repo defined outside `modules` (an incremental build checks
    only the files that changed); `bindings`: check the flow bindings too."""
    out: list[Diagnostic] = []
    flows: dict[str, ast.Flow] = {}
    for module in modules:
        for flow in module.flows:
            first = flows.get(flow.name)
            if first is not None and first.span.file != flow.span.file:
                out.append(error("R512", f"flow `{flow.name}` is also defined in "
                                 f"{first.span.file}:{first.name_span.line}", flow.name_span,
                                 "flow names are global across all .ivr files: rename one"))
            flows.setdefault(flow.name, flow)
    names = {kind: _declared(model, manifest_kind)
             for kind, (_, _, manifest_kind) in _KINDS.items() if manifest_kind}
    names[ast.RefKind.FLOW] = set(flows).union(known_flows)
    languages = call_languages(model) if model is not None else set()
    roots: list[ast.Expr] = []
    """The outermost expressions, for their type checks: found by the same walk."""
    add_root = roots.append
    for module in modules:
        for flow in module.flows:
            names[ast.RefKind.LABEL] = {s.label for s in flow.steps}
            for node in flow.find_all(ast.Ref, ast.TransferNumber, ast.TransferSip,
                                      ast.Language, ast.TransferQueue, *EXPRESSIONS,
                                      skip=_NAMELESS):
                if isinstance(node, EXPRESSIONS):
                    add_root(node)
                elif isinstance(node, ast.Ref):
                    if model is None and node.kind not in (ast.RefKind.FLOW, ast.RefKind.LABEL):
                        continue
                    if node.name not in names[node.kind]:
                        out.append(_unknown(node, names[node.kind]))
                elif isinstance(node, ast.TransferNumber | ast.TransferSip) and model is not None:
                    if isinstance(node, ast.TransferNumber):
                        out += check_outside_number(node.number, model)
                    out += check_transfer(node, model)
                elif isinstance(node, ast.Language) and model is not None:
                    out += _check_language(node.value, languages)
                elif isinstance(node, ast.TransferQueue) and model is not None:
                    out += _check_waiting(node, model)
    if model is not None and bindings:
        out += _bindings(model, names[ast.RefKind.FLOW])
    return out + root_types(roots)


def _unknown(ref: ast.Ref, known: set[str]) -> Diagnostic:
    code, word, manifest_kind = _KINDS[ref.kind]
    hint = did_you_mean(ref.name, known)
    if hint is None:
        hint = (f"declare it under `{manifest_kind}:` in a manifest" if manifest_kind
                else "define it in a .ivr file" if ref.kind is ast.RefKind.FLOW
                else "define a step with this label")
    return error(code, f"unknown {word} `{ref.name}`", ref.span, hint)


def _check_waiting(queue: ast.TransferQueue, model: Model) -> list[Diagnostic]:
    """R520: `when_empty wait` on a skill group no agent belongs to: nobody can ever log in,
    so every caller waits for the queue's whole timeout."""
    group = queue.group
    if not queue.when_empty_wait or not isinstance(group, ast.Ref) or (
            group.name not in model.skill_groups):
        return []
    if any(group.name in agent.groups for agent in model.agents.values()):
        return []
    return [warning("R520", f"queue `{group.name}` waits when nobody is logged in, but no "
                    "agent belongs to the group: every caller would wait until the timeout",
                    group.span, f"add an agent to `{group.name}`, or write `when_empty busy`")]


def call_languages(model: Model) -> set[str]:
    """The languages a call can be in: the instance's default and those prompts are in (what
    bundle.py gives the runtime, which refuses any other `language`)."""
    default = model.instance.default_language if model.instance else "zh"
    return {default} | {lang for p in model.prompts.values() for lang in p.languages}


def _check_language(expr: ast.Expr, known: set[str]) -> list[Diagnostic]:
    """A literal `language "xx"` must be one the call can be in (data is checked at call
    time)."""
    if not isinstance(expr, ast.Literal) or expr.value in known:
        return []
    return [error("R514", f"unknown call language `{expr.value}`", expr.span,
                  did_you_mean(str(expr.value), known)
                  or f"languages of this call center: {', '.join(sorted(known))}")]


def _bindings(model: Model, flows: set[str]) -> Iterator[Diagnostic]:
    for binding in model.flow_bindings.values():
        if binding.flow not in flows:
            yield error("R509", f"flow binding `{binding.name}` names flow `{binding.flow}`, "
                        "which no .ivr file defines",
                        model.span_of("flow_bindings", binding.name, "flow"),
                        did_you_mean(binding.flow, flows) or "define the flow or fix the name")


def check_outside_number(expr: ast.Expr, model: Model) -> list[Diagnostic]:
    """A literal outside number must be E.164 and allowed by the instance's outbound policy
    (its blacklist and blocked regions). Numbers from call data are checked at call time."""
    if not isinstance(expr, ast.Literal):
        return []
    if not isinstance(expr.value, str):  # the runtime calls only a string in E.164 form
        return [error("R510", f"`{expr.value}` is not a phone number the runtime can call: "
                      "numbers are strings", expr.span,
                      "write it in E.164 form, in quotes, e.g. \"+8613800138000\"")]
    text = expr.value
    info = parse_phone(text)
    if (isinstance(info, PhoneInfo) and not info.valid and info.e164 == text
            and normalise(text) == text):  # E.164 of a possible length, but unassigned
        return [error("R510", f"`{text}` is in E.164 form but is not an assigned number: no "
                      "number range of its country starts like that", expr.span,
                      "check the country code and the digits after it; the runtime won't dial "
                      "a number that can't exist")]
    if not isinstance(info, PhoneInfo) or not info.valid:
        why = info if isinstance(info, str) else "not a valid number"
        return [error("R510", f"`{text}` is not a phone number the runtime can call: {why}",
                      expr.span, "write it in E.164 form, e.g. \"+8613800138000\"")]
    if info.e164 != text:
        return [error("R510", f"outside number `{text}` is not in E.164 form", expr.span,
                      f"write \"{info.e164}\"")]
    name = model.instance.outbound_policy if model.instance else None
    policy = model.outbound_policies.get(name) if name else None
    if policy is None:
        return []
    bl = model.blacklists.get(policy.blacklist) if policy.blacklist is not None else None
    if bl is not None and (text in bl.numbers or any(
            text.startswith(p if p.startswith("+") else "+" + p) for p in bl.prefixes)):
        return [error("R511", f"outside number `{text}` is on outbound blacklist "
                      f"`{bl.name}` (policy `{policy.name}`)", expr.span,
                      "the runtime will refuse the call: use another number")]
    if policy.blocked_regions:
        city, province = region_of(text)
        blocked = {r.lower() for r in policy.blocked_regions}
        hit = next((r for r in (province, city) if r and r.lower() in blocked), None)
        if hit is not None:
            return [error("R511", f"outside number `{text}` is in {hit}, a region outbound "
                          f"policy `{policy.name}` blocks", expr.span,
                          "the supplier refuses calls there: use another number")]
    return []
