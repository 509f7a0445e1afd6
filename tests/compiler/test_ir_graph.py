"""The IR keeps each node's exits in the order networkx keeps a multigraph's edges, and its
reachability agrees with networkx's; these tests hold `FlowIR` to networkx's own API (through
`to_networkx`), so the IR and the graph tools see the same graph."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from cc_helpers import EXAMPLES

from ccc_dsl.compiler.ir import FlowIR, IREdge, lower_flow
from ccc_dsl.grammar.parser import parse_file, parse_text

GEN = Path(__file__).parents[2] / "bench" / "gen_flows.py"


def _corpus_flows() -> list[FlowIR]:
    spec = importlib.util.spec_from_file_location("gen_flows", GEN)
    assert spec is not None and spec.loader is not None
    gen: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    flows = []
    for name, text in gen.generate_corpus(60, 7):
        module = parse_text(text, name).module
        assert module is not None
        flows += [lower_flow(f, name) for f in module.flows]
    for path in sorted((EXAMPLES / "flows").glob("*.ivr")):
        module = parse_file(path).module
        assert module is not None
        flows += [lower_flow(f, str(path)) for f in module.flows]
    return flows


FLOWS = _corpus_flows()


@pytest.mark.parametrize("ir", FLOWS, ids=lambda ir: ir.name)
def test_graph_matches_what_networkx_builds(ir: FlowIR) -> None:
    twin = ir.to_networkx()
    assert list(twin.nodes) == list(ir.nodes)
    for node, attrs in twin.nodes(data=True):
        assert attrs["op"] is ir.nodes[node].op and attrs["span"] == ir.nodes[node].span
    for node in twin:
        assert [(v, k) for _, v, k in twin.out_edges(node, keys=True)] == [
            (e.target, e.exit) for e in ir.successors()[node]]
    if ir.entry is not None:
        assert ir.reachable() == {ir.entry} | nx.descendants(twin, ir.entry)
    for node in list(ir.nodes)[:5]:
        assert ir.descendants(node) == nx.descendants(twin, node)


def test_rebuilt_orders_and_replaces_exits_as_add_edge_does() -> None:
    ir = FLOWS[0]
    nodes = {n: ir.nodes[n].copy() for n in list(ir.nodes)[:3]}
    span = ir.span
    added = [(0, 2, "a"), (0, 1, "b"), (0, 2, "c"), (0, 1, "b"), (1, 2, "d")]
    kinds = ["auto", "auto", "auto", "choice", "auto"]
    rebuilt = ir.rebuilt(nodes, [(u, IREdge(v, k, kind, (), span))  # type: ignore[arg-type]
                                 for (u, v, k), kind in zip(added, kinds, strict=True)])
    reference = nx.MultiDiGraph()
    reference.add_nodes_from(nodes)
    for (u, v, k), kind in zip(added, kinds, strict=True):
        reference.add_edge(u, v, key=k, kind=kind)
    for node in nodes:
        assert [(e.target, e.exit, e.kind) for e in rebuilt.edges[node]] == [
            (v, k, d["kind"]) for _, v, k, d in reference.out_edges(node, keys=True, data=True)]


@pytest.mark.parametrize("ir", FLOWS[:20], ids=lambda ir: ir.name)
def test_a_node_copy_is_independent(ir: FlowIR) -> None:
    node = next(iter(ir.nodes))
    copy = ir.nodes[node].copy()
    assert copy == ir.nodes[node] and copy is not ir.nodes[node]
    copy.operands.append("changed")
    assert "changed" not in ir.nodes[node].operands
