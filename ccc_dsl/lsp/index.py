"""What the language server knows about names: which symbol is at a position, where it is
defined, where it is used, and what to say about it on hover.

Everything is read off a `RepoCheck` (the parsed flows and the loaded manifests of the same
pipeline `ccc validate` runs), asked for when a request comes: nothing is indexed ahead, so a
10,000-resource repo costs nothing until someone asks about one of its names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ccc_dsl.diagnostics import Span
from ccc_dsl.grammar import ast
from ccc_dsl.manifest.model import Model

MANIFEST_KINDS: dict[str, str] = {
    ast.RefKind.PROMPT: "prompts",
    ast.RefKind.GROUP: "skill_groups",
    ast.RefKind.VOICEMAIL: "skill_groups",  # voicemail boxes are named after skill groups
    ast.RefKind.AGENT: "agents",
    ast.RefKind.FUNCTION: "functions",
    ast.RefKind.SCHEDULE: "schedules",
    ast.RefKind.BLACKLIST: "blacklists",
}
"""Name kinds of the flows -> the manifest kind that declares them."""

_KIND_OF_MANIFEST = {"prompts": "prompt", "skill_groups": "group", "agents": "agent",
                     "functions": "function", "schedules": "schedule",
                     "blacklists": "blacklist"}


@dataclass(frozen=True, slots=True)
class Symbol:
    """A name: its kind (`ast.RefKind` values; voicemail boxes are groups), and for a label
    the flow it belongs to."""

    kind: str
    name: str
    flow: str = ""


def symbol_of_ref(ref: ast.Ref, flow: str) -> Symbol:
    kind = ast.RefKind.GROUP if ref.kind is ast.RefKind.VOICEMAIL else ref.kind
    return Symbol(str(kind), ref.name, flow if ref.kind is ast.RefKind.LABEL else "")


def _holds(span: Span, line: int, column: int) -> bool:
    return (span.line, span.column) <= (line, column) < (span.end_line, span.end_column)


def same_file(a: str, b: str) -> bool:
    return a == b or Path(a).resolve() == Path(b).resolve()


def module_for(modules: list[ast.Module], file: str) -> ast.Module | None:
    return next((m for m in modules if same_file(m.file, file)), None)


def node_in_flow_at(module: ast.Module, line: int,
                    column: int) -> tuple[ast.Flow, ast.Node] | None:
    """The flow holding a position and the innermost node there."""
    for flow in module.flows:
        if _holds(flow.span, line, column):
            node = flow.node_at(line, column)
            return (flow, node) if node is not None else None
    return None


def symbol_in_flow(module: ast.Module, line: int, column: int) -> Symbol | None:
    """The name at a position of a .ivr file: a use (`Ref`), a flow's name or a step's label."""
    found = node_in_flow_at(module, line, column)
    if found is None:
        return None
    flow, node = found
    if isinstance(node, ast.Ref):
        return symbol_of_ref(node, flow.name)
    if _holds(flow.name_span, line, column):
        return Symbol(str(ast.RefKind.FLOW), flow.name)
    if isinstance(node, ast.Step) and _holds(node.label_span, line, column):
        return Symbol(str(ast.RefKind.LABEL), node.label, flow.name)
    return None


def symbol_in_manifest(model: Model, file: str, line: int, column: int) -> Symbol | None:
    """The resource whose key (its name) is at a position of a manifest file."""
    here: dict[str, bool] = {}  # file as the loader spelt it -> is it this one (resolved once)
    for (kind, name), source in model.sources.items():
        spelt = source.parsed.file
        if spelt not in here:
            here[spelt] = same_file(spelt, file)
        if kind not in _KIND_OF_MANIFEST or not here[spelt]:
            continue
        span = model.span_of(kind, name)
        if span is not None and _holds(span, line, column):
            return Symbol(_KIND_OF_MANIFEST[kind], name)
    return None


def definition(symbol: Symbol, modules: list[ast.Module], model: Model | None) -> Span | None:
    """Where a name is declared: a flow, a step label, or the resource's key in a manifest."""
    if symbol.kind == ast.RefKind.FLOW:
        for module in modules:
            for flow in module.flows:
                if flow.name == symbol.name:
                    return flow.name_span
        return None
    if symbol.kind == ast.RefKind.LABEL:
        for module in modules:
            for flow in module.flows:
                if flow.name == symbol.flow and (step := flow.step(symbol.name)) is not None:
                    return step.label_span
        return None
    kind = MANIFEST_KINDS.get(symbol.kind)
    if kind is None or model is None:
        return None
    return model.span_of(kind, symbol.name)


def references(symbol: Symbol, modules: list[ast.Module], model: Model | None) -> Iterator[Span]:
    """Every use of a name: in the flows, and where the manifests name flows (flow bindings)
    and skill groups (agents' `groups`)."""
    for module in modules:
        for flow in module.flows:
            if symbol.kind == ast.RefKind.LABEL and flow.name != symbol.flow:
                continue
            for ref in flow.find_all(ast.Ref):
                if ref.name == symbol.name and symbol_of_ref(ref, flow.name) == symbol:
                    yield ref.span
    if model is None:
        return
    if symbol.kind == ast.RefKind.FLOW:
        for binding in model.flow_bindings.values():
            if binding.flow == symbol.name and (
                    span := model.span_of("flow_bindings", binding.name, "flow")) is not None:
                yield span
    elif symbol.kind == ast.RefKind.GROUP:
        for agent in model.agents.values():
            if symbol.name in agent.groups and (span := model.span_of(
                    "agents", agent.name, "groups", symbol.name, key=True)) is not None:
                yield span


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def describe(symbol: Symbol, modules: list[ast.Module], model: Model | None) -> str | None:
    """Markdown for hover over a name: a prompt's text per language, a group's agents, ..."""
    if symbol.kind == ast.RefKind.LABEL:
        return f"step {_code(symbol.name)} of flow {_code(symbol.flow)}"
    if symbol.kind == ast.RefKind.FLOW:
        for module in modules:
            for flow in module.flows:
                if flow.name == symbol.name:
                    title = f" \"{flow.title}\"" if flow.title else ""
                    return (f"flow {_code(flow.name)}{title}: {len(flow.steps)} step(s), "
                            f"in {_code(Path(module.file).name)}")
        return None
    if model is None:
        return None
    lines = _describe_resource(symbol, model)
    return "\n\n".join(lines) if lines else None


def _describe_resource(symbol: Symbol, model: Model) -> list[str]:
    name = symbol.name
    if symbol.kind == ast.RefKind.PROMPT and (prompt := model.prompts.get(name)) is not None:
        out = [f"prompt {_code(name)} (default language {prompt.default_language})"]
        for language, variant in prompt.languages.items():
            said = f"\"{variant.tts}\"" if variant.tts is not None else f"file {variant.file}"
            out.append(f"- **{language}**: {said}")
        return out
    if symbol.kind == ast.RefKind.GROUP and (group := model.skill_groups.get(name)) is not None:
        agents = model.agents_of(name)
        return [f"skill group {_code(name)}" + (f": {group.description}" if group.description
                                                   else ""),
                f"{len(agents)} agent(s); routing {group.routing}; outbound numbers: "
                + (", ".join(group.outbound_numbers) or "none")]
    if symbol.kind == ast.RefKind.AGENT and (agent := model.agents.get(name)) is not None:
        groups = ", ".join(f"{g} ({level})" for g, level in agent.groups.items()) or "none"
        return [f"agent {_code(name)}: {agent.display_name}", f"skill groups: {groups}"]
    if symbol.kind == ast.RefKind.FUNCTION and (fn := model.functions.get(name)) is not None:
        return [f"function {_code(name)}: {fn.method} {fn.url}",
                f"timeout {fn.timeout_seconds:g}s" + (f"; returns {', '.join(fn.returns)}"
                                                      if fn.returns else "")]
    if symbol.kind == ast.RefKind.SCHEDULE and (hours := model.schedules.get(name)) is not None:
        weekly = "; ".join(f"{day} {', '.join(ranges)}"
                           for day, ranges in hours.weekly.items())
        return [f"schedule {_code(name)} ({hours.timezone})", weekly]
    if symbol.kind == ast.RefKind.BLACKLIST and (bl := model.blacklists.get(name)) is not None:
        return [f"blacklist {_code(name)} ({bl.direction}): {len(bl.numbers)} number(s), "
                f"{len(bl.prefixes)} prefix(es)"]
    return []


def construct_doc(node: ast.Node) -> str | None:
    """Hover text for a statement: the first paragraph of its AST class's docstring, which
    says what the construct does."""
    doc = type(node).__doc__
    if not doc or isinstance(node, (ast.Module, ast.Flow, ast.Step)):
        return None
    return " ".join(doc.strip().split("\n\n")[0].split())
