"""Time to agent: the worst-case seconds of prompts and key presses before a caller reaches a
person (a queue, an agent or an outside number).

The caller is assumed to answer every prompt at once and correctly (no-input, wrong-key and
`exhausted` exits are mistakes, not routes), and never to go back: the paths are those of the
flow's graph with the back edges of a depth-first search from the entry removed, which is a DAG,
so the worst case is a longest path, found in linear time. A sub-flow call costs what the
sub-flow costs up to its `return` (or up to a person, if it reaches one itself).

Prompt lengths come from ccc_runtime.durations, as the simulator's do: a WAV prompt's real
length (read from the file); text-to-speech estimated at 0.25 s per CJK character and 0.065 s
per other character (about 160 words a minute), one second per `{{ placeholder }}`; the longest
language variant counts. Key presses: the presses of each
menu key on the path (`1XX` is three; digits typed into `collect` are data, not navigation, and
don't count). A menu with `retries forever` repeats until the caller acts: its repeats are
mistakes like any no-input, so the figures hold for a caller who answers, and the timing says
where such a menu is (`repeats`; `ccc compile` and build.json show it), since a silent caller
never reaches anyone there.
"""

from __future__ import annotations

from typing import Any

from ccc_runtime.bytecode import Const, Op
from ccc_runtime.durations import tts_seconds, wav_seconds
from ccc_runtime.patterns import key_error, parse_key

from ccc_dsl.compiler.ir import INPUT_OPS, PERSON_OPS, FlowIR, IRNode
from ccc_dsl.compiler.program import Program
from ccc_dsl.compiler.results import Timing
from ccc_dsl.diagnostics import Span

_MISTAKES = frozenset({"noinput", "nomatch", "exhausted"})
_Best = tuple[float | None, "Span | None", int | None, float | None, int | None]
"""Worst case from a node: seconds, span and keys to a person; seconds and keys to `return`."""


def _tts_seconds(program: Program, text: str) -> float:
    """`tts_seconds`, once per distinct text of the program (flows repeat their texts)."""
    key = ("tts-seconds", text)
    seconds: float | None = program.memo.get(key)
    if seconds is None:
        seconds = program.memo[key] = tts_seconds(text)
    return seconds


def prompt_seconds(program: Program, name: str) -> float:
    """The longest language variant of a prompt resource (0 when unknown)."""
    key = ("prompt-seconds", name)
    if key not in program.memo:
        prompt = program.model.prompts.get(name) if program.model is not None else None
        lengths = [0.0]
        for variant in prompt.languages.values() if prompt is not None else ():
            if variant.tts is not None:
                lengths.append(tts_seconds(variant.tts))
            elif variant.file is not None and program.root is not None:
                lengths.append(wav_seconds(program.root / variant.file))
        program.memo[key] = max(lengths)
    seconds: float = program.memo[key]
    return seconds


def audio_seconds(program: Program, prompt: Const) -> float:
    """Length of a bytecode `prompt` operand: `[barge_in, item, ...]`."""
    total = 0.0
    if not isinstance(prompt, list):
        return total
    for item in prompt[1:]:
        if not isinstance(item, list) or len(item) != 2:
            continue
        kind, value = item
        if kind == "prompt":
            total += prompt_seconds(program, str(value))
        elif kind == "recording":
            continue  # the caller's own recording: its length is known only at call time
        elif isinstance(value, str):
            total += _tts_seconds(program, value)
        elif isinstance(value, list):
            total += max((_tts_seconds(program, str(p[1])) for p in value
                          if isinstance(p, list)), default=0.0)
    return total


_PROMPT_OPERANDS = {Op.PLAY: ("prompt",), Op.MENU: ("prompt",), Op.COLLECT: ("prompt",),
                    Op.SURVEY: ("prompt", "thanks")}


def node_seconds(program: Program, attrs: IRNode) -> float:
    """Seconds of prompts a node plays before it moves on."""
    if attrs.op is Op.PAUSE or attrs.op is Op.RECORD:  # silence, or a recording's longest
        ms = attrs.operand("duration_ms" if attrs.op is Op.PAUSE else "max_ms")
        return ms / 1000 if isinstance(ms, int) else 0.0
    names = _PROMPT_OPERANDS.get(attrs.op)
    if names is None:
        return 0.0
    if len(names) == 1:  # the same float as the sum of one
        return audio_seconds(program, attrs.operand(names[0]))
    return sum(audio_seconds(program, attrs.operand(name)) for name in names)


def _forward_edges(ir: FlowIR) -> tuple[dict[int, list[tuple[int, str]]], list[int]]:
    """Edges of the DFS tree, forward and cross edges (back edges and mistakes dropped), and
    the nodes the search reached, each after everything it leads to (the order in which the
    search finished them)."""
    nodes = ir.nodes
    forward: dict[int, list[tuple[int, str]]] = {n: [] for n in nodes}
    order: list[int] = []
    if ir.entry is None:
        return forward, order
    succ = ir.successors()
    state: dict[int, int] = {ir.entry: 1}  # 1 on the stack, 2 done
    stack: list[tuple[int, Any]] = [(ir.entry, iter(succ[ir.entry]))]
    while stack:
        node, edges = stack[-1]
        asks = nodes[node].op in INPUT_OPS  # its no-input, wrong-key, `exhausted`: mistakes
        for edge in edges:
            target, key = edge.target, edge.exit
            if asks and key in _MISTAKES:
                continue
            if state.get(target) == 1:
                continue  # a back edge: going round again is not progress
            forward[node].append((target, key))
            if target not in state:
                state[target] = 1
                stack.append((target, iter(succ[target])))
                break
        else:
            state[node] = 2
            stack.pop()
            order.append(node)
    return forward, order


def _repeats(program: Program, ir: FlowIR, reached: list[int]) -> Span | None:
    """The first menu with a `forever` counter that a call reaches (in source order), in this
    flow or a sub-flow it calls."""
    found: list[Span] = []
    for node in reached:
        attrs = ir.nodes[node]
        if attrs.op is Op.MENU and (attrs.operand("noinput_forever") is True
                                    or attrs.operand("nomatch_forever") is True):
            found.append(attrs.span)
        elif attrs.op is Op.CALL_FLOW:
            sub = flow_timing(program, str(attrs.operand("flow"))).repeats
            if sub is not None:
                found.append(sub)
    return min(found, key=lambda sp: (sp.file, sp.line, sp.column)) if found else None


def _presses(exit_name: str) -> int:
    """Key presses a menu exit stands for: a key's length (`1XX` is three), 0 for the other
    exits (figured once per exit name)."""
    presses = _PRESSES.get(exit_name)
    if presses is None:
        presses = 0 if key_error(exit_name) is not None else len(parse_key(exit_name))
        if len(_PRESSES) < 4096:
            _PRESSES[exit_name] = presses
    return presses


_PRESSES: dict[str, int] = {}


def flow_timing(program: Program, name: str) -> Timing:
    """The time-to-agent figures of a flow (memoized in the program). Its sub-flows are
    figured first, deepest first, so a long chain of them doesn't recurse once per level."""
    key = ("timing", name)
    if key in program.memo:
        cached: Timing = program.memo[key]
        return cached
    for sub in program.postorder(name) if program.callees.get(name) else ():
        if sub != name and ("timing", sub) not in program.memo:
            _flow_timing(program, sub)
    return _flow_timing(program, name)


def _flow_timing(program: Program, name: str) -> Timing:
    key = ("timing", name)
    program.memo[key] = Timing(None, None, None)  # recursion (A609) reaches nobody
    ir = program.flows.get(name)
    if ir is None or ir.entry is None:
        return Timing(None, None, None)
    nodes = ir.nodes
    forward, order = _forward_edges(ir)
    # best[node] = (person seconds, person span, person keys, return seconds, return keys)
    best: dict[int, _Best] = {}

    for node in order:  # each after everything it leads to
        attrs = nodes[node]
        op = attrs.op
        if op in PERSON_OPS:
            best[node] = (0.0, attrs.span, 0, None, None)
            continue
        if op is Op.RETURN:
            best[node] = (None, None, None, 0.0, 0)
            continue
        secs: float | None = None
        span: Span | None = None
        keys: int | None = None
        ret_s: float | None = None
        ret_k: int | None = None
        options: list[tuple[float, int, _Best]] = []
        if op is Op.CALL_FLOW:
            sub = flow_timing(program, str(attrs.operand("flow")))
            if sub.seconds is not None:
                options.append((0.0, 0, (sub.seconds, sub.person, sub.key_presses, None, None)))
            if sub.return_seconds is not None:
                options += [(sub.return_seconds, sub.return_keys or 0, best[target])
                            for target, _ in forward[node]]
        elif forward[node]:
            cost = node_seconds(program, attrs)
            if op is Op.MENU:
                options = [(cost, _presses(exit_name), best[target])
                           for target, exit_name in forward[node]]
            else:
                options = [(cost, 0, best[target]) for target, _ in forward[node]]
        for add_s, add_k, (p_s, p_span, p_k, r_s, r_k) in options:
            if p_s is not None and p_k is not None:
                if secs is None or add_s + p_s > secs:
                    secs, span = add_s + p_s, p_span
                keys = max(keys if keys is not None else 0, add_k + p_k)
            if r_s is not None and r_k is not None:
                ret_s = max(ret_s if ret_s is not None else 0.0, add_s + r_s)
                ret_k = max(ret_k if ret_k is not None else 0, add_k + r_k)
        best[node] = (secs, span, keys, ret_s, ret_k)
    s, span, k, r_s, r_k = best[ir.entry]
    result = Timing(s, k, span, r_s, r_k, _repeats(program, ir, order))
    program.memo[key] = result
    return result
