"""The IR graphs are built straight into networkx's storage (for speed: ccc_dsl/compiler/ir.py)
and copied the same way; these tests hold them to what networkx's own API would have built, so a
networkx release that stores graphs differently fails here and not in a user's analysis."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from cc_helpers import EXAMPLES

from ccc_dsl.compiler.ir import FlowIR, copy_graph, lower_flow
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


def _public_twin(ir: FlowIR) -> Any:
    """The same graph built only through networkx's public API."""
    twin = nx.MultiDiGraph()
    twin.add_nodes_from((n, dict(a)) for n, a in ir.graph.nodes(data=True))
    for node, exits in ir.successors().items():
        for target, key, data in exits:
            twin.add_edge(node, target, key=key, **data)
    return twin


@pytest.mark.parametrize("ir", FLOWS, ids=lambda ir: ir.name)
def test_graph_matches_what_networkx_builds(ir: FlowIR) -> None:
    g = ir.graph
    twin = _public_twin(ir)
    assert list(g.nodes(data=True)) == list(twin.nodes(data=True))
    assert list(g.edges(keys=True, data=True)) == list(twin.edges(keys=True, data=True))
    assert sorted(g.in_edges(keys=True)) == sorted(twin.in_edges(keys=True))
    for node in g:
        assert ir.successors()[node] == [
            (v, k, d) for _, v, k, d in twin.out_edges(node, keys=True, data=True)]
    if ir.entry is not None:
        assert ir.reachable() == {ir.entry} | nx.descendants(twin, ir.entry)


@pytest.mark.parametrize("ir", FLOWS[:20], ids=lambda ir: ir.name)
def test_copy_graph_is_a_deep_copy_like_networkx(ir: FlowIR) -> None:
    copy = copy_graph(ir.graph)
    reference = ir.graph.copy()
    assert list(copy.nodes(data=True)) == list(reference.nodes(data=True))
    assert list(copy.edges(keys=True, data=True)) == list(reference.edges(keys=True, data=True))
    node = next(iter(copy))
    copy.nodes[node]["changed"] = True
    assert "changed" not in ir.graph.nodes[node]
