"""Flow changes in flow terms: what a reviewer reads instead of a bytecode diff.

A flow is summarised (`flow_summary`) from its graph IR as written: every node gets a stable
key from the labels of the DSL, not from node numbers or lines: the first node of a step is the
step's label (`main_menu`); a node inside it is reached by its exits (`main_menu/2` is what key
2 of that menu runs). Each node keeps what it does in DSL words, a hash of its operands, and
for each exit the key it leads to, with the DSL line of both. The state keeps this summary, so
a later plan compares old and new by key (`diff_flows`): nodes added, removed or changed, and
exits rewired ("menu `main_menu` key 2: `sales` -> `billing`"). Reformatting changes lines only,
which are shown but never count as a change.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # summaries are made when compiling; a plan only compares them
    from ccc_dsl.compiler.ir import FlowIR

_MAX_SRC = 120
_KEY_EXIT = re.compile(r"[0-9*#]+")


@dataclass(frozen=True, slots=True)
class SourceLine:
    """A line of DSL: its number and its text (stripped, shortened)."""

    line: int
    text: str


@dataclass(frozen=True, slots=True)
class FlowChange:
    """One change in a flow, in DSL words, with the DSL line before and after."""

    change: str
    """`added`, `removed`, `changed` (what a node does) or `rewired` (where an exit leads)."""
    node: str
    message: str
    before: SourceLine | None = None
    after: SourceLine | None = None


def node_keys(ir: FlowIR) -> dict[int, str]:
    """IR node -> its stable key (see the module docstring); deterministic."""
    attrs = ir.nodes
    succ = ir.successors()
    keys: dict[int, str] = {}
    by_step: dict[str, list[int]] = {}
    for node, a in attrs.items():
        by_step.setdefault(a.step, []).append(node)
    for step, nodes in by_step.items():
        members = set(nodes)
        firsts = [n for n in nodes if attrs[n].first]
        todo = []
        for n in firsts[:1]:
            keys[n] = step
            todo.append(n)
        while todo:
            node = todo.pop(0)
            for edge in succ[node]:
                target = edge.target
                if target in members and target not in keys and not attrs[target].first:
                    keys[target] = f"{keys[node]}/{edge.exit}"
                    todo.append(target)
        rest = sorted((n for n in nodes if n not in keys),
                      key=lambda n: (attrs[n].span.line, attrs[n].span.column, n))
        for i, n in enumerate(rest, 1):
            keys[n] = f"{step}#{i}"
    return keys


def _line_text(lines: list[str], line: int) -> str:
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return text if len(text) <= _MAX_SRC else text[: _MAX_SRC - 1] + "…"


def flow_summary(ir: FlowIR, root: Path | None = None) -> dict[str, Any]:
    """The compact, JSON-ready graph of a flow that the state keeps for later diffs."""
    from ccc_dsl.views.graph import describe

    path = Path(ir.file)
    try:
        lines = (path if path.is_absolute() or root is None or path.exists()
                 else root / path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    keys = node_keys(ir)
    attrs = ir.nodes
    nodes: dict[str, Any] = {}
    for node, a in attrs.items():
        exits = {}
        for edge in ir.successors()[node]:
            span = edge.span
            exits[edge.exit] = {"to": keys[edge.target], "line": span.line,
                                "src": _line_text(lines, span.line)}
        sig = hashlib.sha256(json.dumps([int(a.op), a.operands], sort_keys=True,
                                        ensure_ascii=False).encode()).hexdigest()[:16]
        nodes[keys[node]] = {"what": a.what, "text": describe(a),
                             "sig": sig, "line": a.span.line,
                             "src": _line_text(lines, a.span.line),
                             "exits": dict(sorted(exits.items()))}
    entry = keys.get(ir.entry) if ir.entry is not None else None
    return {"entry": entry, "nodes": dict(sorted(nodes.items()))}


def _exit_word(exit_name: str) -> str:
    return f"key {exit_name}" if _KEY_EXIT.fullmatch(exit_name) else exit_name


def _node_word(key: str, node: Mapping[str, Any]) -> str:
    return f"{node['what']} `{key}`" if "/" not in key and "#" not in key \
        else f"{node['what']} at `{key}`"


def _src(entry: Mapping[str, Any]) -> SourceLine:
    return SourceLine(int(entry["line"]), str(entry["src"]))


def diff_flows(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[FlowChange]:
    """What changed between two flow summaries, node by node in key order."""
    old_nodes: Mapping[str, Any] = (old or {}).get("nodes", {})
    new_nodes: Mapping[str, Any] = (new or {}).get("nodes", {})
    changes: list[FlowChange] = []
    for key in sorted(set(old_nodes) | set(new_nodes)):
        before, after = old_nodes.get(key), new_nodes.get(key)
        if before is None:
            assert after is not None
            changes.append(FlowChange("added", key, f"new {_node_word(key, after)}: "
                                      f"{after['text']}", None, _src(after)))
            continue
        if after is None:
            changes.append(FlowChange("removed", key, f"removed {_node_word(key, before)}: "
                                      f"{before['text']}", _src(before), None))
            continue
        word = _node_word(key, after)
        if before["sig"] != after["sig"]:
            text = (f"{before['text']} -> {after['text']}" if before["text"] != after["text"]
                    else f"{after['text']} (settings changed)")
            changes.append(FlowChange("changed", key, f"{word}: {text}",
                                      _src(before), _src(after)))
        old_exits, new_exits = before["exits"], after["exits"]
        for exit_name in sorted(set(old_exits) | set(new_exits)):
            was, now = old_exits.get(exit_name), new_exits.get(exit_name)
            if was is not None and now is not None and was["to"] == now["to"]:
                continue
            what = f"{word} {_exit_word(exit_name)}"
            if was is None:
                message = f"{what}: new exit to `{now['to']}`"
            elif now is None:
                message = f"{what}: exit removed (it led to `{was['to']}`)"
            else:
                message = f"{what}: `{was['to']}` -> `{now['to']}`"
            changes.append(FlowChange("rewired", key, message,
                                      _src(was) if was else None, _src(now) if now else None))
    return changes


def changed_nodes(changes: list[FlowChange]) -> set[str]:
    """Keys of the nodes a diff touches that exist in the new flow (to mark in a picture)."""
    return {c.node for c in changes if c.change != "removed"}
