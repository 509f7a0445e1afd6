"""The whole program the passes see: every flow's IR plus the manifest model.

Some analyses need facts about other flows (what a sub-flow may set, how long it talks before
returning); `Program` computes them once, on first use, so each pass stays a small function of
(flow, program).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ccc_runtime.bytecode import Op

from ccc_dsl.compiler.ir import INPUT_OPS, FlowIR
from ccc_dsl.manifest.model import Model


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """What other flows' analyses need of a flow, kept by the incremental build
    (ccc_dsl/compiler/cache.py) for a flow it doesn't lower again."""

    calls: tuple[str, ...]
    own_writes: frozenset[str]
    asks: bool
    returns: bool


@dataclass
class Program:
    flows: dict[str, FlowIR]
    model: Model | None = None
    root: Path | None = None
    """The config repo folder (prompt files are read relative to it for their length)."""
    memo: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    """Results of analyses that other flows reuse (time to agent, prompt lengths), by
    (what, name)."""
    summaries: dict[str, FlowSummary] = field(default_factory=dict)
    """Flows of the repo without an IR here (reused from an earlier build): their facts."""
    _written: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _asks: dict[str, bool] = field(default_factory=dict, repr=False)
    _reached: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @cached_property
    def callers(self) -> dict[str, set[str]]:
        """Flow name -> the flows that call it as a sub-flow."""
        out: dict[str, set[str]] = {name: set() for name in (*self.flows, *self.summaries)}
        for name, callees in self.calls_of():
            for callee in callees:
                out.setdefault(callee, set()).add(name)
        return out

    def calls_of(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every flow (summarized ones too) with the sub-flows it calls."""
        return [*((ir.name, tuple(callee for callee, _ in ir.calls)) for ir in self.flows.values()),
                *((name, summary.calls) for name, summary in self.summaries.items())]

    def summary(self, name: str) -> FlowSummary:
        """The facts of a lowered flow that other flows' analyses use."""
        ir = self.flows[name]
        return FlowSummary(tuple(callee for callee, _ in ir.calls), self.own_writes(name),
                           self._asks_itself(name), self.returns(name))

    @cached_property
    def callees(self) -> dict[str, dict[str, None]]:
        """Flow -> the sub-flows it calls (each once, in the order first called), every name
        called included as a flow with no calls: the adjacency an nx.DiGraph of the calls
        would hold, in its order. The analyses walk this; networkx is for `call_graph`."""
        adj: dict[str, dict[str, None]] = {}
        for name, callees in self.calls_of():
            out = adj.setdefault(name, {})
            for callee in callees:
                out[callee] = None
                adj.setdefault(callee, {})
        return adj

    @cached_property
    def call_graph(self) -> Any:
        """nx.DiGraph of flow -> sub-flow calls (`callees` as a networkx graph)."""
        import networkx as nx  # for `ccc graph` and a recursion's words; the analyses walk dicts

        graph = nx.DiGraph()
        for name, callees in self.callees.items():
            graph.add_node(name)
            graph.add_edges_from((name, callee) for callee in callees)
        return graph

    def reach(self, name: str) -> frozenset[str]:
        """The flows a flow's calls lead to, transitively, itself left out (as
        nx.descendants of `call_graph`; computed once per flow)."""
        known = self._reached.get(name)
        if known is not None:
            return known
        known = self._reached[name] = frozenset(_closure(self.callees, name))
        return known

    def postorder(self, name: str | None = None) -> list[str]:
        """The flows of a depth-first search of the calls from `name` (None: from every flow
        in turn), each after the sub-flows it leads to: nx.dfs_postorder_nodes's order."""
        adj = self.callees
        order: list[str] = []
        visited: set[str] = set()
        for start in adj if name is None else (name,) if name in adj else ():
            if start in visited:
                continue
            visited.add(start)
            stack = [(start, iter(adj[start]))]
            while stack:
                node, children = stack[-1]
                for child in children:
                    if child not in visited:
                        visited.add(child)
                        stack.append((child, iter(adj[child])))
                        break
                else:
                    stack.pop()
                    order.append(node)
        return order

    def own_writes(self, name: str) -> frozenset[str]:
        """Variable roots a flow sets anywhere in its own graph."""
        ir = self.flows.get(name)
        if ir is None:
            summary = self.summaries.get(name)
            return frozenset() if summary is None else summary.own_writes
        roots = {w for node in ir.nodes.values() for w in node.writes}
        roots.update(w for edges in ir.edges.values() for edge in edges for w in edge.writes)
        return frozenset(roots)

    def writes(self, name: str) -> frozenset[str]:
        """Variable roots a flow may set, its sub-flows (transitively) included."""
        if name not in self._written:
            reach = self.reach(name)
            self._written[name] = frozenset().union(
                *(self.own_writes(flow) for flow in (name, *reach)))
        return self._written[name]

    @cached_property
    def call_depth(self) -> dict[str, int]:
        """Flow name -> the longest chain of nested sub-flow calls it makes (0: none). A call
        that closes a cycle (A609) adds nothing."""
        depth: dict[str, int] = {}
        adj = self.callees
        for name in self.postorder():  # callees before callers, no recursion
            depth[name] = max((1 + depth[callee] for callee in adj[name] if callee in depth),
                              default=0)
        return depth

    def asks_caller(self, name: str) -> bool:
        """Whether a flow or one of its sub-flows waits for the caller's keys (the sub-flows
        found by a search of the call graph, not by recursion: a chain may be long)."""
        if name not in self._asks:
            reach = self.reach(name)
            self._asks[name] = any(self._asks_itself(flow) for flow in (name, *reach))
        return self._asks[name]

    def _asks_itself(self, name: str) -> bool:
        ir = self.flows.get(name)
        if ir is None:
            summary = self.summaries.get(name)
            return summary is not None and summary.asks
        return any(node.op in INPUT_OPS for node in ir.nodes.values())

    def returns(self, name: str) -> bool:
        """Whether a sub-flow can come back (a `return` is reachable); calling one that can't
        (it always hangs up or transfers) never continues after the `call flow`. An unknown
        flow counts as returning, so its callers are still checked."""
        ir = self.flows.get(name)
        if ir is None:
            summary = self.summaries.get(name)
            return summary is None or summary.returns
        key = ("returns", name)
        if key not in self.memo:
            nodes = ir.nodes
            self.memo[key] = any(nodes[n].op is Op.RETURN for n in ir.reachable())
        found: bool = self.memo[key]
        return found

    @cached_property
    def inherited(self) -> dict[str, frozenset[str]]:
        """Variable roots that may already be set when a flow starts: for a sub-flow, anything
        its callers (transitively) may set before calling it. An over-approximation on
        purpose: "read before set" must never fire on a variable a caller provides."""
        return {name: self.inherited_of(name) for name in self.flows}

    def inherited_of(self, name: str) -> frozenset[str]:
        """`inherited` of one flow (summarized ones too)."""
        return frozenset().union(*(self.writes(caller) for caller in self.ancestors(name)))

    def ancestors(self, name: str) -> set[str]:
        """The flows whose calls lead to `name`, transitively, itself left out (as
        nx.ancestors of `call_graph`)."""
        return _closure(self.callers, name)


def _closure(edges: Mapping[str, Iterable[str]], name: str) -> set[str]:
    """The names `edges` lead to from `name`, transitively, `name` itself left out."""
    found: set[str] = set()
    todo = [name]
    while todo:
        for other in edges.get(todo.pop(), ()):
            if other not in found:
                found.add(other)
                todo.append(other)
    found.discard(name)
    return found
