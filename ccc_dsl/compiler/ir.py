"""The graph IR: per flow, typed nodes and exits, lowered from the AST.

A node (`IRNode`) is one runtime step with opcode-level meaning: `op`, `operands` exactly as
the bytecode builder takes them (read them by their SPECS name: `node.operand("keys")`) and
`span`; an edge (`IREdge`) is one exit, named as in SPECS (`ok`, `busy`) or by its key (`"1"`).
Labels and gotos disappear here: a `goto` is an edge. Exits the bytecode may leave unconnected
(a menu's `noinput`, a transfer's `done`) have no edge and keep the runtime default; an exit
whose path runs off the end of the flow is listed in the node's `falls_off`, so the dead-end
analysis can point at it.

`FlowIR` owns the graph: nodes in creation order, each node's exits in networkx's edge order
(grouped by target), the reachable set; `to_networkx()` gives the same graph as a networkx
`MultiDiGraph` (node and edge attributes as named here) for graph algorithms and tests.
The IR is not changed after lowering: optimizations build new IRs (`FlowIR.rebuilt`).

Lowering runs statements back to front: each statement is lowered with its continuation (what
runs after it), so `If`, exits and fall-through between steps need no patching.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from ccc_runtime.bytecode import DATA_GROUP, OPERAND_INDEX, Const, Op
from ccc_runtime.expressions import ARITHMETIC

from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.transformer import fast_constructor

if TYPE_CHECKING:  # jinja2 and networkx: imported where used (a cold `ccc plan` uses neither)
    import jinja2

INPUT_OPS = frozenset({Op.MENU, Op.COLLECT, Op.SURVEY})
"""Nodes that wait for the caller's keys."""
WAIT_OPS = frozenset({Op.QUEUE, Op.TRANSFER_AGENT, Op.TRANSFER_NUMBER, Op.TRANSFER_SIP,
                      Op.VOICEMAIL, Op.RECORD, Op.PAUSE})
"""Nodes that wait on the world (an agent, a number, a recording, the clock)."""
PERSON_OPS = frozenset({Op.QUEUE, Op.TRANSFER_AGENT, Op.TRANSFER_NUMBER, Op.TRANSFER_SIP})
"""Nodes where the caller reaches a person (time-to-agent ends here)."""
CALL_DATA_ROOTS = frozenset({"caller", "called", "call", "time", "queue", "menu", "survey"})
"""Variable roots the runtime provides (or sets itself); never "read before set"."""
CALL_DATA = frozenset({
    "caller.number", "caller.previous_agent", "caller.language", "called.number",
    "call.language", "call.id", "call.dialled", "call.source", "call.headers",
    "time.hour", "time.minute", "time.weekday", "time.date", "queue.position",
    "queue.wait_seconds", "menu.key", "menu.input", "survey.score",
})
"""The call data fields the runtime sets (docs/bytecode.md, "Call data variables")."""
SURVEY_VAR = "survey.score"

EdgeKind = Literal["choice", "counted", "auto"]
"""`choice`: the caller chose it; `counted`: a retry counter bounds it; `auto`: anything else."""
Located = tuple[tuple[str, Span], ...]
"""Names or texts with where they are written."""


@dataclass(slots=True)
class IRNode:
    """One step of a flow. Built by lowering and not changed after (optimizations copy)."""

    op: Op
    operands: list[Const]
    """Positional, as the builder takes them; read them by name with `operand`."""
    span: Span
    step: str
    """Label of the step it was written in."""
    what: str
    """A word for messages, e.g. `menu`."""
    written: frozenset[str] = frozenset()
    """Exit names written in the source."""
    reads: Located = ()
    """Variables read: dotted paths from expressions, roots from `say` templates."""
    writes: tuple[str, ...] = ()
    """Variable roots set on every exit."""
    tts: Located = ()
    """Inline speech texts."""
    prompts: Located = ()
    """Prompt resources played."""
    falls_off: Located = ()
    """(exit, span) of the exits whose path runs off the end of the flow."""
    first: bool = False
    """The first statement of its step (then `step_span` is the step label's span)."""
    step_span: Span | None = None

    def operand(self, name: str) -> Const:
        """The operand called `name` in the opcode's SPECS (KeyError for another name)."""
        return self.operands[OPERAND_INDEX[self.op][name]]

    def copy(self) -> IRNode:
        return IRNode(self.op, list(self.operands), self.span, self.step, self.what,
                      self.written, self.reads, self.writes, self.tts, self.prompts,
                      self.falls_off, self.first, self.step_span)


@ast.node  # @dataclass(frozen=True, slots=True), cheaper to declare
class IREdge:
    """One connected exit of a node."""

    target: int
    exit: str
    kind: EdgeKind
    writes: tuple[str, ...]
    """Variable roots set only on this exit (a collect's `ok`, a function's `ok`)."""
    span: Span


_new_edge = fast_constructor(IREdge)
"""IREdge(...) at half the cost (lowering makes some 20 per flow)."""
_NODE_FIELDS = tuple(f.name for f in fields(IRNode))
_EDGE_DATA = ("kind", "writes", "span")


@dataclass(frozen=True, slots=True)
class FlowIR:
    """One flow's graph and what the emitter and analyses need besides it."""

    name: str
    file: str
    span: Span
    name_span: Span
    nodes: Mapping[int, IRNode]
    """Node id -> node, in creation order (deterministic)."""
    edges: Mapping[int, list[IREdge]]
    """Node id -> its exits, in networkx's edge order (grouped by target)."""
    entry: int | None
    calls: tuple[tuple[str, Span], ...] = ()
    """Sub-flows called (flow name, span of the name), in source order."""
    lowering: tuple[Diagnostic, ...] = ()
    """Problems found while lowering (goto cycles), reported by the driver."""
    _memo: dict[str, frozenset[int]] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.nodes)

    def successors(self) -> Mapping[int, list[IREdge]]:
        """Node -> its exits (the same as `edges`; the name the analyses read best with)."""
        return self.edges

    def reachable(self) -> frozenset[int]:
        """Nodes a call can reach from the entry (computed once per IR)."""
        cached = self._memo.get("reachable")
        if cached is None:
            cached = self._memo["reachable"] = frozenset(
                self.descendants(self.entry, inclusive=True) if self.entry is not None else ())
        return cached

    def descendants(self, node: int, inclusive: bool = False) -> set[int]:
        """Nodes reachable from `node`: without it, as nx.descendants, or with it."""
        found: set[int] = {node}
        todo = [node]
        succ = self.edges
        while todo:
            for edge in succ[todo.pop()]:
                if edge.target not in found:
                    found.add(edge.target)
                    todo.append(edge.target)
        if not inclusive:
            found.discard(node)
        return found

    def rebuilt(self, nodes: dict[int, IRNode], edges: Iterable[tuple[int, IREdge]]) -> FlowIR:
        """The same flow with other nodes and exits (what optimizations return): `edges` are
        (source, exit) pairs in connection order; an exit connected twice keeps its place and
        takes the later data, as networkx's add_edge does."""
        return FlowIR(self.name, self.file, self.span, self.name_span, nodes,
                      _grouped(nodes, edges), self.entry, self.calls, self.lowering)

    def replaced(self, nodes: Mapping[int, IRNode], edges: Mapping[int, list[IREdge]]) -> FlowIR:
        """The same flow with other nodes and exits (one list per node), already in the IR's
        order: this IR's own lists for a subset of its nodes, or emptied ones. Unlike
        `rebuilt`, nothing is regrouped."""
        return FlowIR(self.name, self.file, self.span, self.name_span, nodes, edges, self.entry,
                      self.calls, self.lowering)

    def to_networkx(self) -> Any:
        """The graph as a networkx MultiDiGraph (nx.MultiDiGraph; networkx has no type
        hints): node attributes are IRNode's fields, edges keyed by exit name with `label`,
        `kind`, `writes` and `span`. Built through networkx's public API."""
        import networkx as nx  # for the callers that want it; the build itself never does

        graph = nx.MultiDiGraph()
        graph.add_nodes_from((n, {name: getattr(node, name) for name in _NODE_FIELDS})
                             for n, node in self.nodes.items())
        graph.add_edges_from((u, e.target, e.exit, {"label": e.exit, "kind": e.kind,
                                                    "writes": e.writes, "span": e.span})
                             for u, out in self.edges.items() for e in out)
        return graph


def _grouped(nodes: Mapping[int, IRNode], edges: Iterable[tuple[int, IREdge]],
             ) -> dict[int, list[IREdge]]:
    """Each node's exits in networkx's order: grouped by target in order of first connection,
    then by exit in order of first connection; a repeated (target, exit) replaces the data."""
    by_target: dict[int, dict[int, dict[str, IREdge]]] = {n: {} for n in nodes}
    for source, edge in edges:
        by_target[source].setdefault(edge.target, {})[edge.exit] = edge
    return {n: [e for keyed in targets.values() for e in keyed.values()]
            for n, targets in by_target.items()}


# ------------------------------------------------------------------------- expressions


def lower_expr(expr: ast.Expr) -> Const:
    """An AST expression as a bytecode expression tree."""
    if isinstance(expr, ast.Literal):
        return ["const", expr.value]
    if isinstance(expr, ast.Var):
        return ["var", expr.dotted]
    if isinstance(expr, ast.ListExpr):
        return ["list", *(lower_expr(e) for e in expr.items)]
    if isinstance(expr, ast.Unary):
        return ["not" if expr.op is ast.UnaryOp.NOT else "neg", lower_expr(expr.operand)]
    if isinstance(expr, ast.Call):
        return ["call", expr.name, *(lower_expr(e) for e in expr.args)]
    if isinstance(expr, ast.Index):
        return ["index", lower_expr(expr.target), lower_expr(expr.index)]
    op = expr.op.value
    if op in ("and", "or"):
        operands: list[Const] = []
        for side in (expr.left, expr.right):  # flatten a and b and c into one node
            lowered = lower_expr(side)
            if isinstance(side, ast.Binary) and side.op is expr.op and isinstance(lowered, list):
                operands += lowered[1:]
            else:
                operands.append(lowered)
        return [op, *operands]
    left = lower_expr(expr.left)
    if op in ARITHMETIC and isinstance(expr.left, ast.Binary) and expr.left.op is expr.op and (
            isinstance(left, list)):  # a - b - c is one node, folded from the left
        return [*left, lower_expr(expr.right)]
    return [op, left, lower_expr(expr.right)]


def expr_reads(expr: ast.Expr | None) -> list[tuple[str, Span]]:
    """Variables an expression reads, as dotted paths (`result.balance`), left to right."""
    out: list[tuple[str, Span]] = []
    if expr is not None:
        _reads_into(expr, out)
    return out


def _reads_into(expr: ast.Expr, out: list[tuple[str, Span]]) -> None:
    if isinstance(expr, ast.Var):
        out.append((expr.dotted, expr.span))
    elif isinstance(expr, ast.Binary):
        _reads_into(expr.left, out)
        _reads_into(expr.right, out)
    elif isinstance(expr, ast.ListExpr):
        for item in expr.items:
            _reads_into(item, out)
    elif isinstance(expr, ast.Unary):
        _reads_into(expr.operand, out)
    elif isinstance(expr, ast.Call):
        for arg in expr.args:
            _reads_into(arg, out)
    elif isinstance(expr, ast.Index):
        _reads_into(expr.target, out)
        _reads_into(expr.index, out)


_PLACEHOLDER = re.compile(r"\{[{%]")


@lru_cache(maxsize=1)
def _jinja() -> jinja2.Environment:
    """The environment that parses templates (jinja2.Environment: imported for the first flow
    with a placeholder; a build without one, such as a cold `ccc plan`'s, never imports it)."""
    import jinja2

    return jinja2.Environment(autoescape=False)


@lru_cache(maxsize=4096)
def template_roots(template: str) -> tuple[str, ...]:
    """Variable roots a TTS template reads (`{{ result.balance }}` -> `result`)."""
    if not _PLACEHOLDER.search(template):
        return ()
    import jinja2.meta

    try:
        return tuple(sorted(jinja2.meta.find_undeclared_variables(_jinja().parse(template))))
    except jinja2.TemplateSyntaxError:  # the parser reports bad templates (P212)
        return ()


def lower_audio(audio: ast.Audio) -> Const:
    """An `Audio` as a bytecode `prompt` operand: `[barge_in, item, ...]`."""
    items: list[Const] = [audio.barge_in]
    for item in audio.items:
        if isinstance(item, ast.Ref):
            items.append(["prompt", item.name])
        elif isinstance(item, ast.Recording):
            items.append(["recording", item.var.dotted])
        elif len(item.texts) == 1 and item.texts[0].language is None:
            items.append(["tts", item.texts[0].template])
        else:
            items.append(["tts", [[t.language, t.template] for t in item.texts]])
    return items


def _opt_audio(audio: ast.Audio | None) -> Const:
    return None if audio is None else lower_audio(audio)


DEFAULT_ANNOUNCEMENTS: dict[str, Const] = {
    "position": [False, ["tts", [
        ["zh", "您现在排在第{{ queue.position }}位\uff0c请耐心等待。"],
        [None, "You are number {{ queue.position }} in the queue. Please hold."],
    ]]],
    "wait": [False, ["tts", [
        ["zh", "预计等待时间约{{ (queue.wait_seconds / 60) | round | int }}分钟。"],
        [None, "Your expected wait is about "
               "{{ (queue.wait_seconds / 60) | round | int }} minutes."],
    ]]],
}
"""What a queue announcement without its own prompt says (the runtime plays nothing for an
announcement without a prompt)."""


# ------------------------------------------------------------------------- lowering


@ast.node  # @dataclass(frozen=True, slots=True), cheaper to declare
class _Label:
    """A continuation not known yet: the entry of a step."""

    name: str
    span: Span


@ast.node  # @dataclass(frozen=True, slots=True), cheaper to declare
class _End:
    """The continuation after the last step: the end of the flow."""


_END = _End()
Target = int | _Label | _End


@dataclass(slots=True)
class _Lowering:
    flow: ast.Flow
    model_routing: dict[str, str]
    nodes: dict[int, IRNode] = field(default_factory=dict)
    """Node id (0, 1, 2... in creation order) -> the node."""
    pending: list[tuple[int, str, Target, EdgeKind, tuple[str, ...], Span]] = field(
        default_factory=list)
    calls: list[tuple[str, Span]] = field(default_factory=list)
    step: str = ""

    def node(self, op: Op, operands: list[Const], stmt: Any, what: str, *,
             reads: list[tuple[str, Span]] | None = None, writes: tuple[str, ...] = (),
             audios: tuple[ast.Audio | None, ...] = (), written: tuple[str, ...] = ()) -> int:
        """Add a node; `reads` (a list of its own, extended here) are its expressions' reads."""
        node_id = len(self.nodes)
        tts: list[tuple[str, Span]] = []
        prompts: list[tuple[str, Span]] = []
        read_list = reads if reads is not None else []
        for audio in audios:
            if audio is None:
                continue
            for item in audio.items:
                if isinstance(item, ast.Ref):
                    prompts.append((item.name, item.span))
                elif isinstance(item, ast.Recording):
                    read_list.append((item.var.dotted, item.var.span))
                else:
                    for text in item.texts:
                        tts.append((text.template, text.span))
                        roots = template_roots(text.template)
                        if roots:
                            read_list += [(root, text.span) for root in roots]
        self.nodes[node_id] = IRNode(
            op, operands, stmt.span, self.step, what,
            frozenset(written) if written else _NONE, tuple(read_list) if read_list else (),
            writes, tuple(tts) if tts else (), tuple(prompts) if prompts else ())
        return node_id

    def connect(self, node: int, exit_name: str, target: Target, kind: EdgeKind = "auto",
                writes: tuple[str, ...] = (), span: Span | None = None) -> None:
        self.pending.append((node, exit_name, target, kind, writes,
                             span or self.nodes[node].span))

    def block(self, stmts: ast.Block, cont: Target, reprompt: int | None) -> Target:
        for stmt in reversed(stmts):
            cont = _STATEMENTS[type(stmt)](self, stmt, cont, reprompt)
        return cont

    def exits(self, node: int, stmt: Any, cont: Target, reprompt: int | None,
              defaults: dict[str, bool], choice: frozenset[str] = frozenset(),
              counted: frozenset[str] = frozenset(),
              edge_writes: dict[str, tuple[str, ...]] | None = None) -> None:
        """Connect written exits to their bodies. An unwritten exit in `defaults` continues
        with `cont` when its value is True (the language's rule), or stays unconnected when
        False: the runtime default, which for a transfer's `done` ends the call and for
        `noinput`/`nomatch` asks again."""
        written = {ex.name for ex in stmt.exits}
        writes = edge_writes or {}
        add = self.pending.append  # (as `connect`)
        for ex in stmt.exits:
            target = self.block(ex.body, cont, reprompt)
            name = ex.name
            kind: EdgeKind = ("choice" if ex.is_key or name in choice
                              else "counted" if name in counted else "auto")
            add((node, name, target, kind, writes.get(name, ()), ex.span))
        span = self.nodes[node].span
        for name, continues in defaults.items():
            if continues and name not in written:
                add((node, name, cont, "choice" if name in choice else "auto",
                     writes.get(name, ()), span))

    # One method per statement type (`_STATEMENTS` maps types to them): each lowers its
    # statement given its continuation and returns where the statement starts.

    def goto(self, stmt: ast.Goto, cont: Target, reprompt: int | None) -> Target:
        return _Label(stmt.target.name, stmt.target.span)

    def reprompt(self, stmt: ast.Reprompt, cont: Target, reprompt: int | None) -> Target:
        return reprompt if reprompt is not None else cont

    def hangup(self, stmt: ast.Hangup, cont: Target, reprompt: int | None) -> Target:
        return self.node(Op.HANGUP, [], stmt, "hangup")

    def return_(self, stmt: ast.Return, cont: Target, reprompt: int | None) -> Target:
        return self.node(Op.RETURN, [], stmt, "return")

    def play(self, stmt: ast.Play, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.PLAY, [lower_audio(stmt.audio)], stmt, "play", audios=(stmt.audio,))
        self.connect(n, "next", cont)
        return n

    def set(self, stmt: ast.Set, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.SET, [stmt.target.dotted, lower_expr(stmt.value)], stmt, "set",
                      reads=expr_reads(stmt.value), writes=(stmt.target.path[0],))
        self.connect(n, "next", cont)
        return n

    def language(self, stmt: ast.Language, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.SET_LANGUAGE, [lower_expr(stmt.value)], stmt, "language",
                      reads=expr_reads(stmt.value))
        self.connect(n, "next", cont)
        return n

    def if_(self, stmt: ast.If, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.BRANCH, [lower_expr(stmt.condition)], stmt, "if",
                      reads=expr_reads(stmt.condition))
        self.connect(n, "true", self.block(stmt.then, cont, reprompt), span=stmt.span)
        otherwise = cont if stmt.otherwise is None else self.block(stmt.otherwise, cont,
                                                                   reprompt)
        self.connect(n, "false", otherwise)
        return n

    def call_flow(self, stmt: ast.CallFlow, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.CALL_FLOW, [stmt.flow.name], stmt, "call flow")
        self.calls.append((stmt.flow.name, stmt.flow.span))
        self.connect(n, "next", cont)
        return n

    def menu(self, stmt: ast.Menu, cont: Target, reprompt: int | None) -> Target:
        keys: list[Const] = [ex.name for ex in stmt.exits if ex.is_key]
        n = self.node(Op.MENU, [lower_audio(stmt.prompt), stmt.timeout_ms,
                                stmt.interdigit_ms or 0, stmt.noinput_retries,
                                stmt.nomatch_retries, keys, stmt.noinput_forever,
                                stmt.nomatch_forever, stmt.reset_on_entry], stmt, "menu",
                      audios=(stmt.prompt,), written=_written(stmt))
        # with both counters `forever`, `exhausted` can't happen: left unconnected
        exhausts = not (stmt.noinput_forever and stmt.nomatch_forever)
        self.exits(n, stmt, cont, n, {"exhausted": exhausts}, counted=_RETRY_EXITS)
        return n

    def collect(self, stmt: ast.Collect, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.COLLECT, [stmt.var, lower_audio(stmt.prompt), stmt.min_digits,
                                   stmt.max_digits, stmt.terminator, stmt.timeout_ms,
                                   stmt.interdigit_ms or 0, stmt.pattern,
                                   stmt.noinput_retries, stmt.nomatch_retries],
                      stmt, "collect", audios=(stmt.prompt,), written=_written(stmt))
        root = (stmt.var.split(".")[0],)
        self.exits(n, stmt, cont, n, {"ok": True, "exhausted": True}, choice=_OK_EXIT,
                   counted=_RETRY_EXITS, edge_writes={"ok": root, "nomatch": root})
        return n

    def survey(self, stmt: ast.Survey, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.SURVEY, [lower_audio(stmt.prompt), stmt.min_score, stmt.max_score,
                                  SURVEY_VAR, stmt.timeout_ms, stmt.noinput_retries,
                                  stmt.nomatch_retries, _opt_audio(stmt.thanks)],
                      stmt, "survey", audios=(stmt.prompt, stmt.thanks), written=_written(stmt))
        self.exits(n, stmt, cont, n, {"ok": True, "exhausted": True}, choice=_OK_EXIT,
                   counted=_RETRY_EXITS)
        return n

    def hours(self, stmt: ast.Hours, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.HOURS, [stmt.schedule.name], stmt, "hours", written=_written(stmt))
        self.exits(n, stmt, cont, reprompt, {"open": True, "closed": True, "holiday": True})
        return n

    def blacklist(self, stmt: ast.Blacklist, cont: Target, reprompt: int | None) -> Target:
        subject = stmt.number or ast.Var(("caller", "number"), stmt.span)
        n = self.node(Op.BLACKLIST, [stmt.blacklist.name, lower_expr(subject)], stmt,
                      "blacklist", reads=expr_reads(stmt.number), written=_written(stmt))
        self.exits(n, stmt, cont, reprompt, {"listed": True, "clear": True})
        return n

    def call_function(self, stmt: ast.CallFunction, cont: Target,
                      reprompt: int | None) -> Target:
        args: list[Const] = [[a.name, lower_expr(a.value)] for a in stmt.args]
        # timeout 0: the function's own (the bundle has its manifest timeout_seconds)
        n = self.node(Op.CALL_FUNCTION, [stmt.function.name, args, stmt.timeout_ms or 0,
                                         stmt.result_var, stmt.retries], stmt, "call function",
                      reads=[r for a in stmt.args for r in expr_reads(a.value)],
                      written=_written(stmt))
        self.exits(n, stmt, cont, reprompt, {"ok": True, "error": True, "timeout": False},
                   edge_writes={"ok": (stmt.result_var.split(".")[0],)})
        return n

    def staffing(self, stmt: ast.Staffing, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.STAFFING, [stmt.group.name], stmt, "staffing", written=_written(stmt))
        self.exits(n, stmt, cont, reprompt, {"free": True, "busy": True, "none": True})
        return n

    def transfer(self, stmt: ast.TransferAgent | ast.TransferNumber | ast.TransferSip,
                 cont: Target, reprompt: int | None) -> Target:
        if isinstance(stmt, ast.TransferAgent):
            agent = stmt.agent
            value: Const = (["const", agent.name] if isinstance(agent, ast.Ref)
                            else lower_expr(agent))
            reads = None if isinstance(agent, ast.Ref) else expr_reads(agent)
            n = self.node(Op.TRANSFER_AGENT, [value, stmt.timeout_ms], stmt, "transfer agent",
                          reads=reads, written=_written(stmt))
        else:
            where, op, what = ((stmt.number, Op.TRANSFER_NUMBER, "transfer number")
                               if isinstance(stmt, ast.TransferNumber)
                               else (stmt.uri, Op.TRANSFER_SIP, "transfer sip"))
            caller_id = _NO_EXPR if stmt.caller_id is None else lower_expr(stmt.caller_id)
            n = self.node(op, [lower_expr(where), stmt.timeout_ms, caller_id], stmt, what,
                          reads=expr_reads(where) + expr_reads(stmt.caller_id),
                          written=_written(stmt))
        # an unwritten `failed` is left unconnected: the runtime then takes `busy`
        self.exits(n, stmt, cont, reprompt,
                   {"done": False, "busy": True, "timeout": True, "failed": False})
        return n

    def voicemail(self, stmt: ast.Voicemail, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.VOICEMAIL, [stmt.box.name, _opt_audio(stmt.prompt),
                                     stmt.max_length_ms], stmt, "voicemail",
                      audios=(stmt.prompt,), written=_written(stmt))
        self.exits(n, stmt, cont, reprompt, {"done": False})
        return n

    def record(self, stmt: ast.Record, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.RECORD, [stmt.var, stmt.max_length_ms, stmt.silence_ms or 0, stmt.beep,
                                  stmt.terminator, stmt.box.name if stmt.box else None],
                      stmt, "record", writes=(stmt.var.split(".")[0],))
        self.connect(n, "next", cont)
        return n

    def pause(self, stmt: ast.Pause, cont: Target, reprompt: int | None) -> Target:
        n = self.node(Op.PAUSE, [stmt.duration_ms, stmt.barge_in], stmt, "pause")
        self.connect(n, "next", cont)
        return n

    def queue(self, stmt: ast.TransferQueue, cont: Target, reprompt: int | None) -> Target:
        # a group from data: the NAME operand is `*` and `group_from` says where it comes from
        group, group_from = ((stmt.group.name, _NO_EXPR) if isinstance(stmt.group, ast.Ref)
                             else (DATA_GROUP, lower_expr(stmt.group)))
        routing = "familiar" if stmt.familiar else self.model_routing.get(group, "longest-idle")
        announces: list[Const] = [
            [a.kind.value, a.every_ms,
             DEFAULT_ANNOUNCEMENTS[a.kind.value] if a.prompt is None else lower_audio(a.prompt)]
            for a in stmt.announcements]
        script_offers = [i for i in stmt.script if isinstance(i, ast.Offer)]
        plays = [i for i in stmt.script if not isinstance(i, ast.Offer)]
        offers: list[Const] = [[o.kind.value, o.after_ms, o.key, _opt_audio(o.prompt)]
                               for o in (*stmt.offers, *script_offers)]
        script: list[Const] = [[p.start_ms, p.every_ms or 0, _script_action(p)] for p in plays]
        keys: list[Const] = [ex.name for ex in stmt.exits if ex.is_key]
        priority: Const = (["const", 0] if stmt.priority is None
                           else lower_expr(stmt.priority))
        audios = (stmt.hold, *(a.prompt for a in stmt.announcements),
                  *(o.prompt for o in (*stmt.offers, *script_offers)),
                  *(p.audio for p in plays if isinstance(p, ast.QueuePlay)))
        reads = expr_reads(stmt.priority)
        if not isinstance(stmt.group, ast.Ref):
            reads += expr_reads(stmt.group)
        n = self.node(Op.QUEUE, [group, priority, stmt.timeout_ms, routing,
                                 _opt_audio(stmt.hold), announces, offers, keys,
                                 stmt.capacity or 0, "wait" if stmt.when_empty_wait else "busy",
                                 script, group_from],
                      stmt, "transfer queue", reads=reads, audios=audios,
                      written=_written(stmt))
        offered = {o.kind.value for o in (*stmt.offers, *script_offers)}
        busy = queue_busy_possible("wait" if stmt.when_empty_wait else "busy",
                                   stmt.capacity or 0, script, group_from, _written(stmt))
        self.exits(n, stmt, cont, reprompt,
                   {"done": False, "timeout": True, "busy": busy, "failed": False,
                    "voicemail": "voicemail" in offered, "callback": "callback" in offered},
                   choice=_OFFER_EXITS)
        return n


_NONE: frozenset[str] = frozenset()
_NO_EXPR: Const = ["const", None]
_RETRY_EXITS = frozenset({"noinput", "nomatch"})
_OK_EXIT = frozenset({"ok"})
_OFFER_EXITS = frozenset({"voicemail", "callback"})
_STATEMENTS: dict[type, Callable[[_Lowering, Any, Target, int | None], Target]] = {
    ast.Goto: _Lowering.goto, ast.Reprompt: _Lowering.reprompt, ast.Hangup: _Lowering.hangup,
    ast.Return: _Lowering.return_, ast.Play: _Lowering.play, ast.Set: _Lowering.set,
    ast.Language: _Lowering.language, ast.If: _Lowering.if_, ast.CallFlow: _Lowering.call_flow,
    ast.Menu: _Lowering.menu, ast.Collect: _Lowering.collect, ast.Survey: _Lowering.survey,
    ast.Hours: _Lowering.hours, ast.Blacklist: _Lowering.blacklist,
    ast.CallFunction: _Lowering.call_function, ast.Staffing: _Lowering.staffing,
    ast.TransferQueue: _Lowering.queue, ast.TransferAgent: _Lowering.transfer,
    ast.TransferNumber: _Lowering.transfer, ast.Voicemail: _Lowering.voicemail,
    ast.TransferSip: _Lowering.transfer, ast.Record: _Lowering.record,
    ast.Pause: _Lowering.pause,
}
"""Statement type -> its lowering (a dict lookup instead of a chain of isinstance)."""


def _script_action(entry: ast.QueuePlay | ast.QueueCheck) -> Const:
    """What a script entry does in the bytecode: a prompt to play, or `"staffing"` (check)."""
    if isinstance(entry, ast.QueueCheck):
        return "staffing"
    if entry.audio is not None:
        return lower_audio(entry.audio)
    return DEFAULT_ANNOUNCEMENTS[str(entry.say)]


def queue_busy_possible(when_empty: Const, capacity: Const, script: Const, group_from: Const,
                        written: Collection[str]) -> bool:
    """Whether a queue can leave by `busy` (as the VM's queue wait does): nobody logged in under
    `when_empty busy`, a full queue without a `full` exit, a `check staffing` in its script, or a
    group from data refused without a `failed` exit. An unwritten `busy` that can't be taken is
    left unconnected, so neither A608 nor test coverage asks for it."""
    return (when_empty != "wait" or (capacity != 0 and "full" not in written)
            or (isinstance(script, list)
                and any(isinstance(e, list) and e[2] == "staffing" for e in script))
            or (group_from != _NO_EXPR and "failed" not in written))


def _written(stmt: Any) -> tuple[str, ...]:
    """The exit names written in the source."""
    return tuple(ex.name for ex in stmt.exits)


def lower_flow(flow: ast.Flow, file: str, routing: dict[str, str] | None = None) -> FlowIR:
    """Lower one flow to its graph. `routing` maps skill groups to their manifest routing mode
    (`familiar` or `longest-idle`), used when a queue doesn't say `familiar`."""
    low = _Lowering(flow, routing or {})
    entries: dict[str, Target] = {}
    first_nodes: list[tuple[int, Span]] = []
    for i, step in enumerate(flow.steps):
        low.step = step.label
        cont: Target = (_Label(flow.steps[i + 1].label, flow.steps[i + 1].label_span)
                        if i + 1 < len(flow.steps) else _END)
        before = len(low.nodes)
        entries[step.label] = low.block(step.body, cont, None)
        if len(low.nodes) > before:
            first_nodes.append((_first_node(low.nodes, before), step.label_span))
    nodes = low.nodes
    for node, label_span in first_nodes:
        nodes[node].first = True
        nodes[node].step_span = label_span
    diagnostics: list[Diagnostic] = []
    memo: dict[str, int | _End | None] = {}

    def resolve(target: Target) -> int | _End | None:
        if not isinstance(target, _Label):
            return target
        if target.name in memo:
            return memo[target.name]
        chain: list[_Label] = []
        found: int | _End | None = None
        while isinstance(target, _Label):
            if target.name in memo:
                found = memo[target.name]
                break
            if any(s.name == target.name for s in chain):
                loop = chain[[s.name for s in chain].index(target.name):]
                diagnostics.append(error(
                    "A603", f"`{target.name}` loops through gotos alone, without caller input",
                    min(s.span for s in loop), "end the loop with a menu or a hang-up"))
                found = None
                break
            chain.append(target)
            if target.name not in entries:
                found = None  # an unknown label: reported by name resolution (R513)
                break
            nxt = entries[target.name]
            if not isinstance(nxt, _Label):
                found = nxt
                break
            target = nxt
        for label in chain:
            memo[label.name] = found
        return found

    entry: int | None = None
    if flow.steps:
        first = resolve(entries[flow.steps[0].label])
        entry = first if isinstance(first, int) else None
    # Each node's exits in networkx's order (grouped by target), built in arrival order and
    # regrouped only for a node whose exits to one target are not consecutive (rare).
    successors: dict[int, list[IREdge]] = {n: [] for n in nodes}
    regroup = False
    for node, exit_name, target, kind, writes, span in low.pending:
        resolved = target if type(target) is int else resolve(target)
        if type(resolved) is int:
            out = successors[node]
            if out and not regroup:
                if out[-1].target != resolved:  # an earlier exit to this target, not just before?
                    regroup = resolved in {e.target for e in out}
                else:  # the same exit written twice (reported by the parser)
                    regroup = (resolved, exit_name) in {(e.target, e.exit) for e in out}
            out.append(_new_edge(resolved, exit_name, kind, writes, span))
        elif isinstance(resolved, _End):
            attrs = nodes[node]
            attrs.falls_off = (*attrs.falls_off, (exit_name, span))
    edges = (_grouped(nodes, ((n, e) for n, out in successors.items() for e in out))
             if regroup else successors)
    return FlowIR(flow.name, file, flow.span, flow.name_span, nodes, edges, entry,
                  tuple(low.calls), tuple(diagnostics))


def _first_node(nodes: dict[int, IRNode], since: int) -> int:
    """The node of the step's first statement: the earliest in source among the new nodes
    (the first of them on a tie)."""
    best = since
    span = nodes[since].span
    line, column = span.line, span.column
    for n in range(since + 1, len(nodes)):
        span = nodes[n].span
        if span.line < line or (span.line == line and span.column < column):
            best, line, column = n, span.line, span.column
    return best
