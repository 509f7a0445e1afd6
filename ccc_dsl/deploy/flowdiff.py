"""Flow changes in flow terms: what a reviewer reads instead of a bytecode diff.

A flow is summarised (`flow_summary`) from its graph IR as written: every node gets a stable
key from the labels of the DSL, not from node numbers or lines: the first node of a step is the
step's label (`main_menu`); a node inside it is reached by its exits (`main_menu/2` is what key
2 of that menu runs). Each node keeps what it does in DSL words, a hash of its operands, and
for each exit the key it leads to, with the DSL line of both. The state keeps this summary, so
a later plan compares old and new (`diff_flows`): nodes added, removed or changed, and exits
rewired ("menu `main_menu` key 2: `sales` -> `billing`"). Reformatting changes lines only, which
are shown but never count as a change.

Keys alone would mislead where the keys themselves move: a renamed menu key renames every node
under it, and a node inserted in a chain takes its successor's key. So old and new nodes are
matched first (`_match`): same key and same operands; then along exits from matched nodes (the
same exit, or a renamed one, leading to a node that does the same); then through a node
inserted in (or removed from) a chain; only then the rest by key ("changed"). A reviewer reads
one line per change: "menu `main_menu` key 2 is now key 4", "new play at `main_menu/2`:
play "x" (before `call flow account_lookup`)".
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


_MAX_HEAD = 12


def _head_lines(lines: list[str], first: int, last: int,
                exits: Any) -> list[list[Any]]:
    """[line, text] of a statement's own lines: from its first line to the line before its
    first exit (its block), non-blank, at most _MAX_HEAD."""
    below = [e["line"] for e in exits if e["line"] > first]
    end = min([last, *(n - 1 for n in below)])
    out = [[n, _line_text(lines, n)] for n in range(first, end + 1)]
    return [pair for pair in out if pair[1]][:_MAX_HEAD]


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
        # An operand listing the node's own exit names (a menu's keys) says what its exits
        # say: left out, so a new or renamed key is an exit change, not also "settings".
        names = set(exits)
        own = [o for o in a.operands if not (isinstance(o, list) and o and all(
            isinstance(x, str) for x in o) and set(o) <= names)]
        sig = hashlib.sha256(json.dumps([int(a.op), own], sort_keys=True,
                                        ensure_ascii=False).encode()).hexdigest()[:16]
        nodes[keys[node]] = {"what": a.what, "text": describe(a),
                             "sig": sig, "line": a.span.line,
                             "src": _line_text(lines, a.span.line),
                             "exits": dict(sorted(exits.items()))}
        head = _head_lines(lines, a.span.line, a.span.end_line, exits.values())
        if len(head) > 1:  # a statement over several lines: where a setting changed
            nodes[keys[node]]["head"] = head
    entry = keys.get(ir.entry) if ir.entry is not None else None
    return {"entry": entry, "nodes": dict(sorted(nodes.items()))}


def _exit_word(exit_name: str) -> str:
    return f"key {exit_name}" if _KEY_EXIT.fullmatch(exit_name) else exit_name


def _is_step(key: str) -> bool:
    return "/" not in key and "#" not in key


def _node_word(key: str, node: Mapping[str, Any]) -> str:
    return f"{node['what']} `{key}`" if _is_step(key) else f"{node['what']} at `{key}`"


def _target_word(key: str, nodes: Mapping[str, Any]) -> str:
    """Where an exit leads, for a reader: a step by its label, a node inside one by what it
    does."""
    node = nodes.get(key)
    return key if _is_step(key) or node is None else str(node["text"])


def _src(entry: Mapping[str, Any]) -> SourceLine:
    return SourceLine(int(entry["line"]), str(entry["src"]))


def _changed_line(before: Mapping[str, Any], after: Mapping[str, Any]
                  ) -> tuple[SourceLine, SourceLine]:
    """The DSL line that shows a node's change: the first of its own lines whose text
    differs (a setting on the third line of a queue), else its first line."""
    old_head = before.get("head") or [[before["line"], before["src"]]]
    new_head = after.get("head") or [[after["line"], after["src"]]]
    old_texts = [t for _, t in old_head]
    new_texts = [t for _, t in new_head]
    for i in range(max(len(old_head), len(new_head))):
        was = old_head[min(i, len(old_head) - 1)]
        now = new_head[min(i, len(new_head) - 1)]
        if was[1] != now[1] and not (was[1] in new_texts and now[1] in old_texts):
            return SourceLine(int(was[0]), str(was[1])), SourceLine(int(now[0]), str(now[1]))
    return _src(before), _src(after)


_MAX_CHAIN = 8
"""Nodes followed along a chain to find one inserted or removed in it."""


def _chain(nodes: Mapping[str, Any], start: str) -> list[str]:
    """`start` and the nodes after it while each has exactly one exit (a chain)."""
    out = [start]
    while len(out) < _MAX_CHAIN:
        exits = nodes.get(out[-1], {}).get("exits", {})
        if len(exits) != 1:
            break
        nxt = next(iter(exits.values()))["to"]
        if nxt in out:
            break
        out.append(nxt)
    return out


class _Matching:
    """Old node key -> new node key (`pairs`), and the nodes a chain gained (`inserted`: new
    node -> the new node it was inserted before) or lost (`removed`: old node -> the old node
    that came after it)."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.old, self.new = old, new
        self.pairs: dict[str, str] = {}
        self.inserted: dict[str, str] = {}
        self.removed: dict[str, str] = {}
        self._taken: set[str] = set()

    def pair(self, a: str, b: str) -> bool:
        if a in self.pairs or b in self._taken or a not in self.old or b not in self.new:
            return False
        self.pairs[a] = b
        self._taken.add(b)
        return True

    def free_old(self, a: str) -> bool:
        return a in self.old and a not in self.pairs and a not in self.removed

    def free_new(self, b: str) -> bool:
        return b in self.new and b not in self._taken and b not in self.inserted

    def same(self, a: str, b: str) -> bool:
        return bool(self.old[a]["sig"] == self.new[b]["sig"]
                    and self.old[a]["what"] == self.new[b]["what"])

    def renamed_exits(self, a: str, b: str) -> list[tuple[str, str]]:
        """(old exit, new exit) pairs of a matched node: an exit that is only old and one
        that is only new, leading to the same node (the key was renamed)."""
        old_exits, new_exits = self.old[a]["exits"], self.new[b]["exits"]
        gone = [e for e in old_exits if e not in new_exits]
        came = [e for e in new_exits if e not in old_exits]
        out = []
        for e in gone:
            target = self.pairs.get(old_exits[e]["to"])
            for f in came:
                if target is not None and new_exits[f]["to"] == target:
                    out.append((e, f))
                    came.remove(f)
                    break
        return out

    def propagate(self) -> None:
        """Match along exits from matched nodes, to a fixpoint: targets of the same exit (or
        of an exit renamed: an old-only and a new-only one) that do the same thing."""
        todo = list(self.pairs.items())
        while todo:
            a, b = todo.pop()
            old_exits, new_exits = self.old[a]["exits"], self.new[b]["exits"]
            candidates = [(old_exits[e]["to"], new_exits[e]["to"])
                          for e in old_exits if e in new_exits]
            gone = [old_exits[e]["to"] for e in old_exits if e not in new_exits]
            came = [new_exits[e]["to"] for e in new_exits if e not in old_exits]
            candidates += [(x, y) for x in gone for y in came]
            for x, y in candidates:
                if self.free_old(x) and self.free_new(y) and self.same(x, y) \
                        and self.pair(x, y):
                    todo.append((x, y))

    def chains(self) -> None:
        """A node inserted in a chain (old a -> x, new a' -> n ... -> x'), or removed from
        one (old a -> r ... -> x, new a' -> x'); a step's first node is the head of a chain
        (`ask: play "x"` put before what `ask` did: the old first node is `ask/next` now)."""
        starts = [(k, k) for k in self.old if _is_step(k) and k in self.new]
        for a, b in list(self.pairs.items()):
            old_exits, new_exits = self.old[a]["exits"], self.new[b]["exits"]
            starts += [(old_exits[e]["to"], new_exits[e]["to"])
                       for e in old_exits if e in new_exits]
        for x, y in starts:
            if not (self.free_old(x) and self.free_new(y)):
                continue
            new_chain = _chain(self.new, y)
            hit = next((i for i, n in enumerate(new_chain[1:], 1)
                        if self.free_new(n) and self.same(x, n)), None)
            if hit is not None:
                for i in range(hit):
                    self.inserted[new_chain[i]] = new_chain[hit]
                self.pair(x, new_chain[hit])
                continue
            old_chain = _chain(self.old, x)
            hit = next((i for i, n in enumerate(old_chain[1:], 1)
                        if self.free_old(n) and self.same(n, y)), None)
            if hit is not None:
                for i in range(hit):
                    self.removed[old_chain[i]] = old_chain[hit]
                self.pair(old_chain[hit], y)

    def explained(self, was: str, now: str) -> bool:
        """Whether an exit leading to `was` (old) and now to `now` (new) only reflects a node
        inserted or removed right there."""
        if now in self.inserted and self.pairs.get(was) == self.inserted[now]:
            return True
        return was in self.removed and self.pairs.get(self.removed[was]) == now


def _match(old: Mapping[str, Any], new: Mapping[str, Any]) -> _Matching:
    m = _Matching(old, new)
    for key in old:
        if key in new and m.same(key, key):
            m.pair(key, key)
    for by_key in ("", "what", "any"):
        # then what is left and kept its key: first a node of the same kind whose settings
        # changed, last one that does something else now
        for key in old if by_key else ():
            if m.free_old(key) and m.free_new(key) and (
                    by_key == "any" or old[key]["what"] == new[key]["what"]):
                m.pair(key, key)
        before = -1
        while before != len(m.pairs):
            before = len(m.pairs)
            m.propagate()
            m.chains()
    return m


def diff_flows(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[FlowChange]:
    """What changed between two flow summaries, in DSL words, one change per line a reviewer
    reads (nodes in new-key order, each followed by its exits)."""
    old_nodes: Mapping[str, Any] = (old or {}).get("nodes", {})
    new_nodes: Mapping[str, Any] = (new or {}).get("nodes", {})
    m = _match(old_nodes, new_nodes)
    changes: list[FlowChange] = []
    for key in sorted(new_nodes):
        after = new_nodes[key]
        if key in m.inserted:
            before_word = _target_word(m.inserted[key], new_nodes)
            changes.append(FlowChange("added", key, f"new {_node_word(key, after)}: "
                                      f"{after['text']} (before `{before_word}`)",
                                      None, _src(after)))
        elif m.free_new(key):
            changes.append(FlowChange("added", key, f"new {_node_word(key, after)}: "
                                      f"{after['text']}", None, _src(after)))
    for old_key in sorted(old_nodes):
        before = old_nodes[old_key]
        if old_key in m.removed:
            after_word = _target_word(m.removed[old_key], old_nodes)
            changes.append(FlowChange("removed", old_key,
                                      f"removed {_node_word(old_key, before)}: "
                                      f"{before['text']} (it was before `{after_word}`)",
                                      _src(before), None))
        elif old_key not in m.pairs:
            changes.append(FlowChange("removed", old_key,
                                      f"removed {_node_word(old_key, before)}: "
                                      f"{before['text']}", _src(before), None))
    for old_key, key in sorted(m.pairs.items(), key=lambda p: p[1]):
        before, after = old_nodes[old_key], new_nodes[key]
        word = _node_word(key, after)
        if before["sig"] != after["sig"] or before["what"] != after["what"]:
            text = (f"{before['text']} -> {after['text']}" if before["text"] != after["text"]
                    else f"{after['text']} (settings changed)")
            was_line, now_line = _changed_line(before, after)
            changes.append(FlowChange("changed", key, f"{word}: {text}", was_line, now_line))
        changes += _exit_changes(m, old_key, key, word)
    order = {k: i for i, k in enumerate(sorted(new_nodes))}
    return sorted(changes, key=lambda c: (order.get(c.node, len(order)), c.node))


def _exit_changes(m: _Matching, old_key: str, key: str, word: str) -> list[FlowChange]:
    old_exits, new_exits = m.old[old_key]["exits"], m.new[key]["exits"]
    renamed = m.renamed_exits(old_key, key)
    out = []
    for e, f in renamed:
        was, now = old_exits[e], new_exits[f]
        out.append(FlowChange("rewired", key, f"{word}: {_exit_word(e)} is now "
                              f"{_exit_word(f)} (to `{_target_word(now['to'], m.new)}`)",
                              _src(was), _src(now)))
    gone = {e for e, _ in renamed}
    came = {f for _, f in renamed}
    for exit_name in sorted((set(old_exits) | set(new_exits)) - gone - came):
        was, now = old_exits.get(exit_name), new_exits.get(exit_name)
        what = f"{word} {_exit_word(exit_name)}"
        if was is not None and now is not None:
            if m.pairs.get(was["to"]) == now["to"] or m.explained(was["to"], now["to"]):
                continue
            message = (f"{what}: `{_target_word(was['to'], m.old)}` -> "
                       f"`{_target_word(now['to'], m.new)}`")
        elif was is None:
            message = f"{what}: new exit to `{_target_word(now['to'], m.new)}`"
        else:
            message = f"{what}: exit removed (it led to `{_target_word(was['to'], m.old)}`)"
        out.append(FlowChange("rewired", key, message,
                              _src(was) if was else None, _src(now) if now else None))
    return out


def changed_nodes(changes: list[FlowChange]) -> set[str]:
    """Keys of the nodes a diff touches that exist in the new flow (to mark in a picture)."""
    return {c.node for c in changes if c.change != "removed"}
