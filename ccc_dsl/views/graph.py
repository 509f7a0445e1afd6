"""Pictures of a flow: Mermaid (renders in pull requests), Graphviz DOT, and SVG through `dot`.

Nodes are labelled with what they do (`menu "main-greeting"`, `transfer queue "sales"`) and their
source line; edges with the exit or key. The picture is of the flow as written (before
optimization): unreachable nodes are drawn dashed, and an exit that runs off the end of the
flow leads to a red "dead end". Output is deterministic (nodes in source order).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Collection
from typing import Final

from ccc_runtime.bytecode import DATA_GROUP, Const, Op

from ccc_dsl.compiler.ir import FlowIR, IRNode

FORMATS: Final = ("mermaid", "dot", "svg")
_MAX_LABEL = 40
_TERMINAL = frozenset({Op.HANGUP, Op.RETURN, Op.VOICEMAIL})
_DECISION = frozenset({Op.BRANCH, Op.HOURS, Op.BLACKLIST, Op.STAFFING})


class RenderError(Exception):
    """The picture can't be made (Graphviz missing or failing); the message says what to do."""


def expr_text(expr: Const) -> str:
    """A bytecode expression tree back in DSL-like text."""
    if not isinstance(expr, list) or not expr:
        return str(expr)
    op, args = expr[0], expr[1:]
    if op == "const":
        value = args[0]
        return f'"{value}"' if isinstance(value, str) else str(value).lower() \
            if isinstance(value, bool) or value is None else str(value)
    if op == "var":
        return str(args[0])
    if op == "list":
        return "[" + ", ".join(expr_text(a) for a in args) + "]"
    if op == "not":
        return f"not {expr_text(args[0])}"
    if op == "neg":
        return f"-{expr_text(args[0])}"
    if op == "?":
        return f"{expr_text(args[0])} ? {expr_text(args[1])} : {expr_text(args[2])}"
    if op == "call":
        name = str(args[0])
        return name if name == "now" and len(args) == 1 else (
            f"{name}(" + ", ".join(expr_text(a) for a in args[1:]) + ")")
    if op == "index":
        return f"{expr_text(args[0])}[{expr_text(args[1])}]"
    return f" {op} ".join(expr_text(a) for a in args)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_LABEL else text[:_MAX_LABEL - 1] + "…"


def _audio(prompt: Const) -> str:
    if not isinstance(prompt, list):
        return ""
    parts = []
    for item in prompt[1:]:
        if isinstance(item, list) and item[0] == "prompt":
            parts.append(f'"{item[1]}"')
        elif isinstance(item, list) and item[0] == "recording":
            parts.append(f"recording {item[1]}")
        elif isinstance(item, list):
            value = item[1]
            first = value[0] if isinstance(value, list) and value else None
            text = value if isinstance(value, str) else (
                str(first[1]) if isinstance(first, list) and len(first) == 2 else "")
            parts.append(f'say "{_short(text)}"')
    return ", ".join(parts)


_NAMED = {Op.HOURS: ("hours", "schedule"), Op.BLACKLIST: ("blacklist", "list"),
          Op.CALL_FUNCTION: ("call function", "function"), Op.STAFFING: ("staffing", "group"),
          Op.QUEUE: ("transfer queue", "group"), Op.VOICEMAIL: ("voicemail", "box")}
"""Opcodes described by a word and the resource their operand names."""


def describe(node: IRNode) -> str:
    """What a node does, in a few words."""
    op = node.op
    o = node.operand
    if op is Op.QUEUE and o("group") == DATA_GROUP:
        text = f"transfer queue {expr_text(o('group_from'))}"
    elif op in _NAMED:
        word, operand = _NAMED[op]
        text = f'{word} "{o(operand)}"'
    elif op in (Op.PLAY, Op.MENU):
        text = f"{op.name.lower()} {_audio(o('prompt'))}"
    elif op is Op.COLLECT:
        text = f"collect {o('var')} ({o('min_digits')}..{o('max_digits')} digits)"
    elif op is Op.SET:
        text = f"set {o('var')} = {expr_text(o('value'))}"
    elif op is Op.BRANCH:
        text = f"if {expr_text(o('cond'))}"
    elif op is Op.TRANSFER_AGENT:
        text = f"transfer agent {expr_text(o('agent'))}"
    elif op is Op.TRANSFER_NUMBER:
        text = f"transfer number {expr_text(o('number'))}"
    elif op is Op.TRANSFER_SIP:
        text = f"transfer sip {expr_text(o('uri'))}"
    elif op is Op.RECORD:
        text = f"record {o('var')}"
    elif op is Op.PAUSE:
        ms = o("duration_ms")
        text = f"pause {ms / 1000:g}s" if isinstance(ms, int) else "pause"
    elif op is Op.SURVEY:
        text = f"survey {o('min_score')}..{o('max_score')}"
    elif op is Op.SET_LANGUAGE:
        text = f"language {expr_text(o('language'))}"
    elif op is Op.CALL_FLOW:
        text = f"call flow {o('flow')}"
    else:
        text = op.name.lower()
    return _short(text)


def _ordered(ir: FlowIR) -> list[int]:
    nodes = ir.nodes
    return sorted(nodes, key=lambda n: (nodes[n].span.line, nodes[n].span.column, n))


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


MARKED_STYLE: Final = "fill:#fff3b0,stroke:#d4a000,stroke-width:2px"
"""How to_mermaid fills a marked node (a plan's picture marks what it changes)."""


def mermaid_ids(ir: FlowIR) -> dict[int, str]:
    """IR node -> its id in to_mermaid's picture (`n0`, `n1`, ... in line order)."""
    return {node: f"n{i}" for i, node in enumerate(_ordered(ir))}


def to_mermaid(ir: FlowIR, marked: Collection[int] = ()) -> str:
    """A Mermaid flowchart (GitHub renders ```mermaid blocks in pull requests); `marked` nodes
    (e.g. what a plan changes) are filled yellow."""
    nodes = ir.nodes
    order = _ordered(ir)
    ids = mermaid_ids(ir)
    reachable = ir.reachable()
    lines = ["flowchart TD", f'  start(["{_mermaid_text(ir.name)}"])']
    dead = False
    for node in order:
        attrs = nodes[node]
        label = _mermaid_text(f"{attrs.span.line}: {describe(attrs)}")
        if attrs.op in _TERMINAL:
            lines.append(f'  {ids[node]}(["{label}"])')
        elif attrs.op in _DECISION:
            lines.append(f'  {ids[node]}{{"{label}"}}')
        else:
            lines.append(f'  {ids[node]}["{label}"]')
    if ir.entry is not None:
        lines.append(f"  start --> {ids[ir.entry]}")
    for node in order:
        for edge in ir.edges[node]:
            lines.append(f'  {ids[node]} -->|"{_mermaid_text(edge.exit)}"| {ids[edge.target]}')
        for exit_name, _ in nodes[node].falls_off:
            dead = True
            lines.append(f'  {ids[node]} -->|"{_mermaid_text(exit_name)}"| dead')
    if dead:
        lines += ['  dead(["dead end"])', "  style dead fill:#fdd,stroke:#c00"]
    for node in order:
        if node not in reachable:
            lines.append(f"  style {ids[node]} stroke-dasharray: 5 5,color:#888")
        if node in marked:
            lines.append(f"  style {ids[node]} {MARKED_STYLE}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(ir: FlowIR) -> str:
    """Graphviz DOT (`dot -Tsvg` draws it)."""
    nodes = ir.nodes
    order = _ordered(ir)
    ids = {node: f"n{i}" for i, node in enumerate(order)}
    reachable = ir.reachable()
    lines = [f'digraph "{_dot_text(ir.name)}" {{',
             '  node [shape=box, style=rounded, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];',
             f'  start [label="{_dot_text(ir.name)}", shape=oval];']
    dead = False
    for node in order:
        attrs = nodes[node]
        shape = ("oval" if attrs.op in _TERMINAL else
                 "diamond" if attrs.op in _DECISION else "box")
        style = ', style="rounded,dashed", fontcolor=gray' if node not in reachable else ""
        label = _dot_text(f"{attrs.span.line}: {describe(attrs)}")
        lines.append(f'  {ids[node]} [label="{label}", shape={shape}{style}];')
    if ir.entry is not None:
        lines.append(f"  start -> {ids[ir.entry]};")
    for node in order:
        for edge in ir.edges[node]:
            lines.append(f'  {ids[node]} -> {ids[edge.target]} [label="{_dot_text(edge.exit)}"];')
        for exit_name, _ in nodes[node].falls_off:
            dead = True
            lines.append(f'  {ids[node]} -> dead [label="{_dot_text(exit_name)}"];')
    if dead:
        lines.append('  dead [label="dead end", shape=oval, color=red, fontcolor=red];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(ir: FlowIR) -> str:
    """SVG drawn by Graphviz `dot` (installed by scripts/setup.sh: Debian package graphviz)."""
    dot = shutil.which("dot")
    if dot is None:
        raise RenderError("Graphviz `dot` is not installed; install it (`apt-get install "
                          "graphviz`, or run scripts/setup.sh) or use --format mermaid|dot")
    try:
        done = subprocess.run([dot, "-Tsvg"], input=to_dot(ir), capture_output=True,
                              text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"Graphviz `dot` failed: {exc}") from None
    if done.returncode != 0:
        raise RenderError(f"Graphviz `dot` failed: {done.stderr.strip()}")
    return done.stdout


def render(ir: FlowIR, fmt: str) -> str:
    """The flow in one of FORMATS."""
    if fmt == "mermaid":
        return to_mermaid(ir)
    if fmt == "dot":
        return to_dot(ir)
    if fmt == "svg":
        return to_svg(ir)
    raise ValueError(f"unknown format {fmt!r}")
