"""Optimization: merge a `play` into the `play` right after it, when nothing can tell.

`play "a"` then `play "b"` becomes one node playing `"a", "b"`, if neither can be
interrupted (with barge-in, a key stops only the prompt it is pressed in, so merging would
change what is heard) and the second is reached only from the first."""

from __future__ import annotations

from collections import Counter

from ccc_runtime.bytecode import Op

from ccc_dsl.compiler.ir import FlowIR, copy_graph
from ccc_dsl.diagnostics import Span


def _quiet_play(attrs: dict[str, object]) -> bool:
    operands = attrs["operands"]
    return (attrs["op"] is Op.PLAY and isinstance(operands, list)
            and isinstance(operands[0], list) and operands[0][0] is False)


def merge_plays(ir: FlowIR) -> FlowIR:
    nodes = ir.attrs()
    succ = ir.successors()
    in_degree = Counter(target for edges in succ.values() for target, _, _ in edges)
    pairs = []
    for u, attrs in nodes.items():
        if not _quiet_play(attrs) or attrs["falls_off"]:
            continue
        out = succ[u]
        if len(out) != 1:
            continue
        v = out[0][0]
        if v != u and v != ir.entry and _quiet_play(nodes[v]) and in_degree[v] == 1:
            pairs.append((u, v))
    if not pairs:
        return ir
    g = copy_graph(ir.graph)
    merged: dict[int, int] = {}  # absorbed node -> the node that absorbed it
    for u, v in pairs:
        while u in merged:
            u = merged[u]
        a, b = g.nodes[u], g.nodes[v]
        a["operands"] = [[False, *a["operands"][0][1:], *b["operands"][0][1:]]]
        for name in ("tts", "prompts", "reads"):
            a[name] = (*a[name], *b[name])
        a["falls_off"] = b["falls_off"]
        sa, sb = a["span"], b["span"]
        if sa.file == sb.file and (sb.end_line, sb.end_column) > (sa.end_line, sa.end_column):
            a["span"] = Span(sa.file, sa.line, sa.column, sb.end_line, sb.end_column)
        g.remove_edge(u, v)
        for _, target, key, data in list(g.out_edges(v, keys=True, data=True)):
            g.add_edge(u, target if target != v else u, key=key, **data)
        g.remove_node(v)
        merged[v] = u
    return ir.with_graph(g, ir.entry)
