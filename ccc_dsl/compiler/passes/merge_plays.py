"""Optimization: merge a `play` into the `play` right after it, when nothing can tell.

`play "a"` then `play "b"` becomes one node playing `"a", "b"`, if neither can be
interrupted (with barge-in, a key stops only the prompt it is pressed in, so merging would
change what is heard) and the second is reached only from the first."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from ccc_runtime.bytecode import Op

from ccc_dsl.compiler.ir import FlowIR, IRNode
from ccc_dsl.diagnostics import Span


def _quiet_play(node: IRNode) -> bool:
    prompt = node.operand("prompt") if node.op is Op.PLAY else None
    return isinstance(prompt, list) and prompt[0] is False


def merge_plays(ir: FlowIR) -> FlowIR:
    nodes = ir.nodes
    succ = ir.successors()
    candidates = []  # (u, v): u a quiet play whose one exit leads to another quiet play v
    for u, node in nodes.items():
        if not _quiet_play(node) or node.falls_off:
            continue
        out = succ[u]
        if len(out) != 1:
            continue
        v = out[0].target
        if v != u and v != ir.entry and _quiet_play(nodes[v]):
            candidates.append((u, v))
    if not candidates:
        return ir
    in_degree = Counter(edge.target for edges in succ.values() for edge in edges)
    pairs = [(u, v) for u, v in candidates if in_degree[v] == 1]
    if not pairs:
        return ir
    new = dict(nodes)  # the nodes that absorb another are copied before they change
    edges = {n: list(out) for n, out in succ.items()}
    merged: dict[int, int] = {}  # absorbed node -> the node that absorbed it
    for u, v in pairs:
        while u in merged:
            u = merged[u]
        if new[u] is nodes[u]:
            new[u] = nodes[u].copy()
        a, b = new[u], new[v]
        first, second = a.operand("prompt"), b.operand("prompt")
        assert isinstance(first, list) and isinstance(second, list)
        a.operands = [[False, *first[1:], *second[1:]]]
        a.tts, a.prompts, a.reads = (*a.tts, *b.tts), (*a.prompts, *b.prompts), (*a.reads,
                                                                                  *b.reads)
        a.falls_off = b.falls_off
        sa, sb = a.span, b.span
        if sa.file == sb.file and (sb.end_line, sb.end_column) > (sa.end_line, sa.end_column):
            a.span = Span(sa.file, sa.line, sa.column, sb.end_line, sb.end_column)
        edges[u] = [e for e in edges[u] if e.target != v] + [
            replace(e, target=u) if e.target == v else e for e in edges.pop(v)]
        del new[v]
        merged[v] = u
    return ir.rebuilt(new, ((n, e) for n, out in edges.items() for e in out))
