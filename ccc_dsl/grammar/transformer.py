"""The AST builder that turns IVR parse events into typed AST nodes (ccc_dsl.grammar.ast).

It runs inline in the LALR parser (no parse tree is built), so every callback gets its children
(tokens and already-built nodes) and computes the node's span from the first and last of them.
Two parsers run it: driver.py for a valid flow, Lark (as a transformer: Lark needs only the
methods named after the rules) on the error path, so a child is a token of either parser's kind
and is told from a node by `isinstance(child, _TOKEN)`, a test for `str`: no other child is a
string. It also makes the checks that need no manifests (P2xx): repeated labels, exits, options
and flow names; out-of-range durations, counts and digit lengths; bad patterns and templates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import MISSING, fields
from functools import lru_cache, partial, partialmethod
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

from ccc_runtime.bytecode import MAX_CONST_DEPTH, MAX_QUEUE_CAPACITY, MAX_SCRIPT_ITEMS
from ccc_runtime.expressions import FUNCTIONS
from ccc_runtime.limits import MAX_FUNCTION_RETRIES, MAX_FUNCTION_TIMEOUT_MS
from ccc_runtime.patterns import (
    MAX_KEY_DIGITS,
    MAX_MENU_KEYS,
    KeyPatternError,
    parse_key,
    pattern_error,
)
from ccc_runtime.sipuri import sip_uri_problem

from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.errors import MAX_DEPTH, STATEMENT_KEYWORDS
from ccc_dsl.grammar.tokens import Token

if TYPE_CHECKING:
    _TOKEN = Token
else:
    _TOKEN = str  # a token of either parser (driver.py's or Lark's): both are strings
from ccc_dsl.util import did_you_mean

_DURATION_UNITS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_DURATION_RE: Final = re.compile(r"([0-9]+)(ms|s|m|h)")
_ESCAPE_RE: Final = re.compile(r"\\(.)")
_ESCAPES: Final = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}

# Sensible bounds for each kind of duration (milliseconds), checked as P204.
DURATION_LIMITS: Final[dict[str, tuple[int, int]]] = {
    "timeout": (500, 3_600_000),
    "interdigit": (200, 30_000),
    "every": (5_000, 3_600_000),
    "after": (1_000, 3_600_000),
    "maxlength": (1_000, 600_000),
    "at": (0, 3_600_000),
    "silence": (500, 60_000),
    "pause": (100, 300_000),
}
MAX_RETRIES: Final = 10
_INT_MAX: Final = 2**63 - 1
_INT_DIGITS: Final = len(str(_INT_MAX))
MAX_EXPR_DEPTH: Final = MAX_CONST_DEPTH - 2
"""Deepest bytecode tree of an expression (P109 beyond): the constant pool nests at most
MAX_CONST_DEPTH lists, and a function argument's expression sits two below its operand."""
"""Integer literals are 64-bit in the bytecode (P214 beyond)."""


def int_literal(text: str) -> int:
    """The value of a run of digits, or _INT_MAX + 1 for any that long: each caller reports a
    value out of its range, and Python refuses to convert over 4,300 digits at all."""
    if len(text) < _INT_DIGITS:  # below 2**63 however it is written: most of them
        return int(text)
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= _INT_DIGITS else _INT_MAX + 1


def shown_number(text: str) -> str:
    """A number as a message shows it: a long one by its ends and its length."""
    return text if len(text) <= 24 else f"{text[:8]}...{text[-4:]} ({len(text)} characters)"

T = TypeVar("T")
_RESERVED_LABELS: Final = frozenset((*STATEMENT_KEYWORDS, "then"))
CALL_DATA_ROOTS: Final = frozenset({"caller", "called", "call", "time", "queue", "menu", "survey"})
"""Roots of the call data the runtime sets (docs/dsl.md): read-only, so never assigned (P213)."""


def unquote(token: str) -> str:
    """The value of a STRING token: quotes removed, `\\"`, `\\\\`, `\\n`, `\\t` unescaped;
    any other backslash is kept (`"\\d{6}"` is the regular expression \\d{6})."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group()), body)


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A positional constructor for a frozen, slotted dataclass, about twice as fast as its own.

    The generated `__init__` of a frozen dataclass sets each field through `object.__setattr__`;
    the parser builds some 110 spans and nodes per flow, so that was a good part of its cost.
    This one fills the slots of a plain twin class (same base, same slots, not frozen) with
    ordinary attribute stores, then makes the object a `cls` (`__class__` may be assigned
    between classes of the same layout). The objects are the same: every field set, frozen.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    params = [n if f.default is MISSING else f"{n}=_default_{n}"
              for n, f in zip(names, fields(cls), strict=True)]  # type: ignore[arg-type]
    defaults = {f"_default_{f.name}": f.default for f in fields(cls)  # type: ignore[arg-type]
                if f.default is not MISSING}
    slots = cls.__dict__.get("__slots__")
    assert slots is not None and set(names) <= set(slots), f"{cls.__name__} is not slotted"
    twin = type(cls.__name__, cls.__bases__, {"__slots__": slots, "__module__": __name__})
    body = "".join(f"    obj.{n} = {n}\n" for n in names)
    source = (f"def new({', '.join(params)}):\n    obj = _alloc(_twin)\n{body}"
              "    obj.__class__ = _cls\n    return obj\n")
    namespace: dict[str, Any] = {"_alloc": object.__new__, "_twin": twin, "_cls": cls,
                                 **defaults}
    exec(source, namespace)  # the same technique dataclasses itself uses to build __init__
    new: Callable[..., T] = namespace["new"]
    return new


new_span = fast_constructor(Span)


# Fast constructors of the AST nodes the parser builds (see fast_constructor); module globals,
# which the interpreter reads faster than the attributes of a namespace class.
new_Announce: Final = fast_constructor(ast.Announce)
new_Arg: Final = fast_constructor(ast.Arg)
new_Audio: Final = fast_constructor(ast.Audio)
new_Binary: Final = fast_constructor(ast.Binary)
new_Blacklist: Final = fast_constructor(ast.Blacklist)
new_Call: Final = fast_constructor(ast.Call)
new_CallFlow: Final = fast_constructor(ast.CallFlow)
new_CallFunction: Final = fast_constructor(ast.CallFunction)
new_Collect: Final = fast_constructor(ast.Collect)
new_Exit: Final = fast_constructor(ast.Exit)
new_Flow: Final = fast_constructor(ast.Flow)
new_Goto: Final = fast_constructor(ast.Goto)
new_Hangup: Final = fast_constructor(ast.Hangup)
new_Hours: Final = fast_constructor(ast.Hours)
new_If: Final = fast_constructor(ast.If)
new_Index: Final = fast_constructor(ast.Index)
new_Language: Final = fast_constructor(ast.Language)
new_ListExpr: Final = fast_constructor(ast.ListExpr)
new_Literal: Final = fast_constructor(ast.Literal)
new_Menu: Final = fast_constructor(ast.Menu)
new_Module: Final = fast_constructor(ast.Module)
new_Offer: Final = fast_constructor(ast.Offer)
new_QueuePlay: Final = fast_constructor(ast.QueuePlay)
new_QueueCheck: Final = fast_constructor(ast.QueueCheck)
new_Pause: Final = fast_constructor(ast.Pause)
new_Play: Final = fast_constructor(ast.Play)
new_Record: Final = fast_constructor(ast.Record)
new_Recording: Final = fast_constructor(ast.Recording)
new_Ref: Final = fast_constructor(ast.Ref)
new_Reprompt: Final = fast_constructor(ast.Reprompt)
new_Return: Final = fast_constructor(ast.Return)
new_Set: Final = fast_constructor(ast.Set)
new_Staffing: Final = fast_constructor(ast.Staffing)
new_Step: Final = fast_constructor(ast.Step)
new_Survey: Final = fast_constructor(ast.Survey)
new_TransferAgent: Final = fast_constructor(ast.TransferAgent)
new_TransferNumber: Final = fast_constructor(ast.TransferNumber)
new_TransferQueue: Final = fast_constructor(ast.TransferQueue)
new_TransferSip: Final = fast_constructor(ast.TransferSip)
new_Tts: Final = fast_constructor(ast.Tts)
new_TtsText: Final = fast_constructor(ast.TtsText)
new_Unary: Final = fast_constructor(ast.Unary)
new_Var: Final = fast_constructor(ast.Var)
new_Voicemail: Final = fast_constructor(ast.Voicemail)

_LABEL: Final = ast.RefKind.LABEL
_PROMPT: Final = ast.RefKind.PROMPT
_VOICEMAIL: Final = ast.RefKind.VOICEMAIL
_BINARY_OPS: Final = {op.value: op for op in ast.BinaryOp}
"""Operators by their text: an Enum's lookup by value is slow, and expressions are common."""


def _tok_span(file: str, tok: Token) -> Span:
    """A token's span: the lexer and the repairs of errors.py (which borrow a token's
    position) give every token all four positions."""
    return new_span(file, tok.line, tok.column, tok.end_line, tok.end_column)


_REPEATABLE: Final = frozenset(("announce", "offer"))
"""Options that may repeat, once per kind (see _check_repeats)."""

# The helper records below live only during a parse: named tuples, built by `tuple.__new__`
# (no Python frame; `_Opt(...)` would run the generated `__new__`), and the parse is hot.


class _Opt(NamedTuple):
    """An option before its statement collects it: `timeout 5s` -> ("timeout", 5000). Its source
    range is kept as its first and last token or node; a span is built only for a diagnostic."""

    name: str
    value: Any
    first: Any
    last: Any


class _Exits(NamedTuple):
    """The exits of a statement and the `}` that closes them (where the statement ends)."""

    exits: tuple[ast.Exit, ...]
    rbrace: Token


class _Args(NamedTuple):
    args: tuple[ast.Arg, ...]
    span: Span


_new_opt: Final[Callable[[tuple[str, Any, Any, Any]], _Opt]] = partial(tuple.__new__, _Opt)
_new_exits: Final[Callable[[tuple[tuple[ast.Exit, ...], Token]], _Exits]] = partial(
    tuple.__new__, _Exits)


class AstBuilder:
    """Builds the AST for one file at a time: set `file` and clear `diagnostics` before a parse."""

    def __init__(self) -> None:
        self.file = "<input>"
        self.diagnostics: list[Diagnostic] = []
        self._reprompts: list[ast.Reprompt] = []  # built since the last step
        self._meant: set[int] = set()  # ids of those directly in an exit of a menu, collect...
        self._exit_names: dict[str, str] = {}  # terminal of a fixed exit -> its name
        self._depth: dict[int, tuple[int, int, ast.Expr]] = {}
        """id of an expression node -> its depth and its bytecode tree's (leaves, absent, are
        1) and the node itself, kept so that its id is not reused during the parse."""
        self._too_deep: dict[int, ast.Expr] = {}
        """The placeholders that stand for expressions refused as too deep, by id."""

    def reset(self, file: str) -> None:
        self.file = file
        self.diagnostics = []
        self._reprompts = []
        self._meant = set()
        self._depth = {}
        self._too_deep = {}

    # ------------------------------------------------------------ helpers

    def _span(self, first: Any, last: Any) -> Span:
        """From the start of `first` to the end of `last` (tokens, nodes, options or exits); hot,
        so no intermediate spans are built for tokens (a token has a span's four positions)."""
        if not isinstance(first, _TOKEN):
            first = first.span
        if not isinstance(last, _TOKEN):
            kind = type(last)
            if kind is _Opt:  # a statement or option ending in an option
                last = last.last
                if not isinstance(last, _TOKEN):
                    last = last.span
            elif kind is _Exits:
                last = last.rbrace
            else:
                last = last.span
        return new_span(self.file, first.line, first.column, last.end_line, last.end_column)

    def _error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(error(code, message, span, hint))

    def _check_writable(self, root: str, span: Span) -> None:
        if root == "now":
            self._error("P105", "`now` is a reserved word (the current time in expressions) and"
                        " can't be used as a variable", span, "choose another name, e.g. `now_at`")
        elif root in CALL_DATA_ROOTS:
            self._error("P213", f"`{root}` is call data: the runtime sets it and a flow can't",
                        span, "store the value in a variable of your own, e.g. `my_" + root + "`")

    def _duration(self, tok: Token, kind: str) -> int:
        ms, in_range = _duration_ms(tok.value, kind)
        if not in_range:
            low, high = DURATION_LIMITS[kind]
            self._error(
                "P204", f"`{kind}` of {shown_number(tok)} is out of range",
                _tok_span(self.file, tok),
                f"use a value from {_fmt_ms(low)} to {_fmt_ms(high)}",
            )
        return ms

    def _count(self, tok: Token, what: str, low: int, high: int) -> int:
        value = int_literal(tok)
        if not low <= value <= high:
            self._error("P206", f"{what} {shown_number(tok)} is out of range",
                        _tok_span(self.file, tok),
                        f"use a number from {low} to {high}")
        return value

    def _options(self, stmt: str, children: list[Any]) -> dict[str, _Opt]:
        options: dict[str, _Opt] = {}
        for child in children:
            if type(child) is not _Opt or child.name in _REPEATABLE:
                continue
            if child.name in options:
                self._error("P205", f"`{child.name}` is given twice in this `{stmt}`",
                            self._span(child.first, child.last), "keep one")
                continue
            options[child.name] = child
        return options

    def _require(self, stmt: str, options: dict[str, _Opt], name: str, span: Span) -> None:
        if name not in options:
            self._error("P207", f"`{stmt}` needs a `{name}`", span,
                        f"add `{name} ...` before the `{{`")

    def _prompt(self, options: dict[str, _Opt], name: str) -> ast.Audio | None:
        opt = options.get(name)
        if opt is None:
            return None
        value: ast.Audio = opt.value
        return value

    def _retries(self, options: dict[str, _Opt], stmt: str = "") -> tuple[int, int]:
        """The noinput and nomatch limits; `forever` (None) only a menu takes (see
        _menu_retries), so for `stmt` it is P226 and the default."""
        noinput, nomatch = self._menu_retries(options)
        for name in ("retries", "noinput", "nomatch"):
            opt = options.get(name)
            if opt is not None and opt.value is None:
                self._error("P226", f"`{name} forever` is only for a menu, not a `{stmt}`",
                            self._span(opt.first, opt.last),
                            f"give a number, e.g. `{name} 3`")
        return (ast.DEFAULT_RETRIES if noinput is None else noinput,
                ast.DEFAULT_RETRIES if nomatch is None else nomatch)

    def _menu_retries(self, options: dict[str, _Opt]) -> tuple[int | None, int | None]:
        """The noinput and nomatch limits, None for `forever`; `noinput`/`nomatch` override
        `retries`."""
        base = options["retries"].value if "retries" in options else ast.DEFAULT_RETRIES
        noinput = options["noinput"].value if "noinput" in options else base
        nomatch = options["nomatch"].value if "nomatch" in options else base
        return noinput, nomatch

    def _exits(self, children: list[Any]) -> tuple[ast.Exit, ...]:
        for child in reversed(children):  # the exits come last
            if type(child) is _Exits:
                return child.exits
        return ()

    def _end(self, children: list[Any]) -> Any:
        for child in reversed(children):
            if child is not None:
                return child
        return children[0]

    # ------------------------------------------------------------ structure

    def start(self, children: list[ast.Flow]) -> ast.Module:
        seen: dict[str, ast.Flow] = {}
        for flow in children:
            if flow.name in seen:
                first = seen[flow.name].name_span
                self._error("P203", f"flow `{flow.name}` is defined twice in this file",
                            flow.name_span, f"the first definition is at line {first.line}")
            else:
                seen[flow.name] = flow
        if children:
            span = self._span(children[0], children[-1])
        else:
            span = new_span(self.file, 1, 1, 1, 1)
        return new_Module(self.file, tuple(children), span)

    def flow(self, children: list[Any]) -> ast.Flow:
        kw, name, title = children[0], children[1], children[2]
        steps: list[ast.Step] = children[3:-1]  # FLOW NAME [STRING] "{" step* RBRACE
        seen: dict[str, ast.Step] = {}
        for step in steps:
            if step.label in seen:
                first = seen[step.label].label_span
                self._error("P201", f"label `{step.label}` is used twice in flow `{name}`",
                            step.label_span, f"the first `{step.label}:` is at line {first.line}")
            else:
                seen[step.label] = step
        return new_Flow(
            str(name), _tok_span(self.file, name), unquote(title) if title is not None else None,
            tuple(steps), self._span(kw, children[-1]),
        )

    def step(self, children: list[Any]) -> ast.Step:
        label: Token = children[0]
        if label.value in _RESERVED_LABELS:
            self._error("P105", f"`{label}` is a reserved word and can't be used as a label",
                        _tok_span(self.file, label), f"choose another label, e.g. `{label}_step`")
        block: ast.Block
        if len(children) == 2:  # one chain (most steps), perhaps of one statement (most chains)
            block = children[1] if type(children[1]) is tuple else (children[1],)
        else:
            body: list[ast.Stmt] = []
            for line in children[1:]:
                if type(line) is tuple:
                    body.extend(line)
                else:
                    body.append(line)
            block = tuple(body)
        file, end, line, column = self.file, block[-1].span, label.line, label.column
        step = new_Step(label.value, new_span(file, line, column, label.end_line,
                                              label.end_column),
                        block, new_span(file, line, column, end.end_line, end.end_column))
        if self._reprompts:
            self._check_reprompts()
        return step

    def _check_reprompts(self) -> None:
        """`reprompt` is only meaningful directly in an exit of a menu, collect or survey: every
        one the step built that such a statement did not claim (`_asking_exits`) is P208. Done
        from the lists kept while parsing: a walk of each step was a tenth of the parse."""
        for stmt in self._reprompts:
            if id(stmt) not in self._meant:  # by identity: every Reprompt compares equal
                self._error("P208", "`reprompt` is only allowed in an exit of a menu, collect or "
                            "survey", stmt.span, "use a label to go back to an earlier step")
        self._reprompts = []
        self._meant = set()

    def _asking_exits(self, children: list[Any]) -> tuple[ast.Exit, ...]:
        """The exits of a menu, collect or survey; the reprompts directly in them are meant."""
        exits = self._exits(children)
        if self._reprompts:
            for ex in exits:
                for stmt in ex.body:
                    if type(stmt) is ast.Reprompt:
                        self._meant.add(id(stmt))
        return exits

    def chain(self, children: list[Any]) -> ast.Block:
        """Statements joined by `then` (a chain of one statement is that statement, the grammar
        says: a `?` rule)."""
        stmts: list[Any] = children[::2]  # statement, THEN, statement, ... [THEN, NAME]
        if isinstance(stmts[-1], _TOKEN):  # `then label`
            stmts[-1] = self._goto(stmts[-1])
        return tuple(stmts)

    def _goto(self, name: Token) -> ast.Goto:
        span = new_span(self.file, name.line, name.column, name.end_line, name.end_column)
        if name.value == "then":  # `play "x" then then hangup`: not a jump to a label `then`
            self._error("P105", "`then` twice: one `then` joins two actions", span,
                        "remove one `then`")
        return new_Goto(new_Ref(_LABEL, name.value, span), span)

    def _block(self, target: ast.Block | ast.Stmt | Token) -> ast.Block:
        """The target of an exit or an if: a chain, a statement, or a bare label (a goto)."""
        if isinstance(target, tuple):
            return target
        if isinstance(target, _TOKEN):
            return (self._goto(target),)
        return (target,)

    def exits(self, children: list[Any]) -> _Exits:
        file, names = self.file, self._exit_names
        exits: list[ast.Exit] = []
        seen: dict[str, ast.Exit] = {}
        for i in range(0, len(children) - 1, 2):
            name_tok: Token = children[i]
            body = children[i + 1]
            kind = type(body)
            if kind is tuple:  # a chain
                end = body[-1].span
            elif isinstance(body, _TOKEN) and body.value != "then":  # a label (see _goto)
                end = new_span(file, body.line, body.column, body.end_line, body.end_column)
                body = (new_Goto(new_Ref(_LABEL, body.value, end), end),)
            elif isinstance(body, _TOKEN):
                body = (self._goto(body),)
                end = body[0].span
            else:  # one statement
                end = body.span
                body = (body,)
            name = names.get(name_tok.type)
            if name is None:
                name = name_tok.value[:-2].rstrip()
                if name_tok.type != "EX_KEY":  # a fixed exit's terminal always names it alike
                    names[name_tok.type] = name
            ex = new_Exit(name, body, new_span(
                file, name_tok.line, name_tok.column, end.end_line, end.end_column))
            exits.append(ex)
            if name in seen:
                what = f"key `{ex.name}`" if ex.is_key else f"exit `{ex.name}`"
                self._error("P202", f"{what} is handled twice", ex.span,
                            f"the first is at line {seen[ex.name].span.line}")
            else:
                seen[ex.name] = ex
        return _new_exits((tuple(exits), children[-1]))

    # ------------------------------------------------------------ simple statements

    def if_stmt(self, children: list[Any]) -> ast.If:
        kw, cond, _arrow, then, _else, _arrow2, otherwise = children
        then_b = self._block(then)
        other_b = self._block(otherwise) if otherwise is not None else None
        end = (other_b or then_b)[-1]
        return new_If(cond, then_b, other_b, self._span(kw, end))

    def play(self, children: list[Any]) -> ast.Play:
        kw, audio = children
        end = audio.span
        return new_Play(audio, new_span(self.file, kw.line, kw.column, end.end_line,
                                        end.end_column))

    def say(self, children: list[Any]) -> ast.Play:
        kw, tts, barge = children
        if barge is None:
            audio = new_Audio((tts,), False, tts.span)  # spans are immutable, so shared
            return new_Play(audio, self._span(kw, tts))
        audio = new_Audio((tts,), barge.type == "BARGEIN", self._span(tts, barge))
        return new_Play(audio, self._span(kw, barge))

    def set_stmt(self, children: list[Any]) -> ast.Set:
        kw, var, value = children
        self._check_writable(var.path[0], var.span)
        return new_Set(var, value, self._span(kw, value))

    def goto(self, children: list[Any]) -> ast.Goto:
        kw, name = children
        return new_Goto(new_Ref(_LABEL, str(name), _tok_span(self.file, name)),
                        self._span(kw, name))

    def hangup(self, children: list[Any]) -> ast.Hangup:
        kw = children[0]
        return new_Hangup(new_span(self.file, kw.line, kw.column, kw.end_line, kw.end_column))

    def return_stmt(self, children: list[Any]) -> ast.Return:
        return new_Return(_tok_span(self.file, children[0]))

    def reprompt(self, children: list[Any]) -> ast.Reprompt:
        kw = children[0]
        node = new_Reprompt(new_span(self.file, kw.line, kw.column, kw.end_line, kw.end_column))
        self._reprompts.append(node)
        return node

    def language(self, children: list[Any]) -> ast.Language:
        kw, value = children
        return new_Language(value, self._span(kw, value))

    def call_flow(self, children: list[Any]) -> ast.CallFlow:
        kw, _flow, name = children
        return new_CallFlow(new_Ref(ast.RefKind.FLOW, str(name), _tok_span(self.file, name)),
                            self._span(kw, name))

    # ------------------------------------------------------------ branching statements

    def menu(self, children: list[Any]) -> ast.Menu:
        kw = children[0]
        span = self._span(kw, children[-1])
        opts = self._options("menu", children)
        self._require("menu", opts, "prompt", _tok_span(self.file, kw))
        prompt = self._prompt(opts, "prompt") or new_Audio((), True, span)
        noinput, nomatch = self._menu_retries(opts)
        exits = self._asking_exits(children)
        interdigit = opts["interdigit"].value if "interdigit" in opts else None
        self._check_menu_keys(kw, exits, interdigit is not None)
        if noinput is None and nomatch is None:
            for ex in exits:
                if ex.name == "exhausted":
                    self._error("P226", "`exhausted` can never be taken: both retry counters "
                                "are `forever`", ex.span,
                                "remove the exit, or give `nomatch` a number")
        return new_Menu(
            prompt, opts["timeout"].value if "timeout" in opts else ast.DEFAULT_TIMEOUT_MS,
            interdigit, 0 if noinput is None else noinput, 0 if nomatch is None else nomatch,
            noinput is None, nomatch is None, "reset_on_entry" in opts, exits, span,
        )

    def _check_menu_keys(self, kw: Token, exits: tuple[ast.Exit, ...],
                         interdigit: bool) -> None:
        """Key patterns in the notation and within the bounds (P224, P225); a key of several
        presses needs an interdigit timeout (P209)."""
        if len(exits) > MAX_MENU_KEYS:  # there are at most 3 other exits
            count = sum(1 for ex in exits if ex.is_key)
            if count > MAX_MENU_KEYS:
                self._error("P225", f"the menu lists {count} keys (limit {MAX_MENU_KEYS})",
                            _tok_span(self.file, kw),
                            "use key patterns (`1XX`, `[1-5]`) or a `collect`")
        for ex in exits:
            name = ex.name
            if (len(name) == 1 and name in "0123456789*#") or not ex.is_key:
                continue  # the common cases: one key, or an exit name
            if name.isdigit() and len(name) <= MAX_KEY_DIGITS:  # a literal key of digits
                if not interdigit:
                    self._error("P209", f"key `{name}` has several digits but the menu has no "
                                "`interdigit` timeout", ex.span,
                                "add `interdigit 2s` so the caller can enter several digits")
                continue
            try:
                presses = len(parse_key(ex.name))
            except KeyPatternError as exc:
                key_span = new_span(self.file, ex.span.line, ex.span.column, ex.span.line,
                                    ex.span.column + len(ex.name))
                bound = "limit" in str(exc)
                self._error("P225" if bound else "P224", f"key `{shown_number(ex.name)}`: {exc}",
                            key_span, f"keys are at most {MAX_KEY_DIGITS} presses" if bound
                            else "write digits, * and #, with X (0-9), Z (1-9), N (2-9) or a "
                            "set such as [1-5]")
                continue
            if presses > 1 and not interdigit:
                self._error("P209", f"key `{ex.name}` has several digits but the menu has no "
                            "`interdigit` timeout", ex.span,
                            "add `interdigit 2s` so the caller can enter several digits")

    def collect(self, children: list[Any]) -> ast.Collect:
        kw, var = children[0], children[1]
        span = self._span(kw, children[-1])
        self._check_writable(str(var), _tok_span(self.file, var))
        opts = self._options("collect", children)
        kw_span = _tok_span(self.file, kw)
        self._require("collect", opts, "prompt", kw_span)
        self._require("collect", opts, "digits", kw_span)
        prompt = self._prompt(opts, "prompt") or new_Audio((), True, span)
        low, high = opts["digits"].value if "digits" in opts else (1, 1)
        noinput, nomatch = self._retries(opts, "collect")
        terminator = opts["terminator"].value if "terminator" in opts else None
        pattern = opts["pattern"].value if "pattern" in opts else None
        return new_Collect(
            str(var), prompt, low, high, terminator,
            opts["timeout"].value if "timeout" in opts else ast.DEFAULT_TIMEOUT_MS,
            opts["interdigit"].value if "interdigit" in opts else None,
            pattern, noinput, nomatch, self._asking_exits(children), span,
        )

    def survey(self, children: list[Any]) -> ast.Survey:
        kw = children[0]
        span = self._span(kw, self._end(children))
        opts = self._options("survey", children)
        self._require("survey", opts, "prompt", _tok_span(self.file, kw))
        prompt = self._prompt(opts, "prompt") or new_Audio((), True, span)
        low, high = opts["scale"].value if "scale" in opts else (1, 5)
        noinput, nomatch = self._retries(opts, "survey")
        return new_Survey(
            prompt, low, high,
            opts["timeout"].value if "timeout" in opts else ast.DEFAULT_TIMEOUT_MS,
            noinput, nomatch, self._prompt(opts, "thanks"),
            self._asking_exits(children), span,
        )

    def hours(self, children: list[Any]) -> ast.Hours:
        kw, name, exits = children
        return new_Hours(self._ref(ast.RefKind.SCHEDULE, name), exits.exits,
                         self._span(kw, exits))

    def blacklist(self, children: list[Any]) -> ast.Blacklist:
        kw, name, number, exits = children
        value: ast.Expr | None = number.value if number is not None else None
        return new_Blacklist(self._ref(ast.RefKind.BLACKLIST, name), value, exits.exits,
                             self._span(kw, exits))

    def call_function(self, children: list[Any]) -> ast.CallFunction:
        kw, name, args = children[0], children[2], children[3]
        opts = self._options("call function", children)
        call_args: _Args | None = args
        timeout: int | None = None
        if "timeout" in opts:
            timeout = opts["timeout"].value
            if timeout > MAX_FUNCTION_TIMEOUT_MS:
                self._error("P204", f"a function's `timeout` of {format_duration(timeout)} is "
                            "out of range", self._span(opts["timeout"].first,
                                                       opts["timeout"].last),
                            f"use a value from 500ms to {format_duration(MAX_FUNCTION_TIMEOUT_MS)}")
        retries = 0
        if "retries" in opts:
            value: int | None = opts["retries"].value  # None: `retries forever`
            if value is None or value > MAX_FUNCTION_RETRIES:
                self._error("P206", f"retries {'forever' if value is None else value} is out "
                            "of range for a function call",
                            self._span(opts["retries"].first, opts["retries"].last),
                            f"use a number from 0 to {MAX_FUNCTION_RETRIES}: the caller waits "
                            "for every attempt")
            else:
                retries = value
        return new_CallFunction(
            self._ref(ast.RefKind.FUNCTION, name),
            call_args.args if call_args is not None else (), timeout,
            opts["as"].value if "as" in opts else ast.DEFAULT_RESULT_VAR, retries,
            self._exits(children), self._span(kw, self._end(children)),
        )

    def args(self, children: list[Any]) -> _Args:
        items = tuple(c for c in children if isinstance(c, ast.Arg))
        seen: set[str] = set()
        for arg in items:
            if arg.name in seen:
                self._error("P205", f"argument `{arg.name}` is given twice", arg.span)
            seen.add(arg.name)
        return _Args(items, self._span(children[0], children[-1]))

    def arg(self, children: list[Any]) -> ast.Arg:
        name, value = children
        return new_Arg(str(name), value, self._span(name, value))

    def staffing(self, children: list[Any]) -> ast.Staffing:
        kw, name, exits = children
        return new_Staffing(self._ref(ast.RefKind.GROUP, name), exits.exits, self._span(kw, exits))

    def transfer_queue(self, children: list[Any]) -> ast.TransferQueue:
        kw = children[0]
        group = self._destination(children[2], ast.RefKind.GROUP, "a skill group's name")
        opts = self._options("transfer queue", children)
        announce_list: list[ast.Announce] = []
        offer_list: list[ast.Offer] = []
        for c in children:  # one pass: the parse is hot
            if type(c) is _Opt:
                if c.name == "announce":
                    announce_list.append(c.value)
                elif c.name == "offer":
                    offer_list.append(c.value)
        announcements, offers = tuple(announce_list), tuple(offer_list)
        script: tuple[ast.ScriptItem, ...] = opts["waiting"].value if "waiting" in opts else ()
        if len(announcements) > 1:
            self._check_repeats("announce", [(a.kind, a.span) for a in announcements])
        if script:
            offer_list += [i for i in script if type(i) is ast.Offer]
        if len(offer_list) > 1:
            self._check_repeats("offer", [(o.kind, o.span) for o in offer_list])
        exits = self._exits(children)
        capacity: int | None = opts["capacity"].value if "capacity" in opts else None
        for ex in exits:
            name = ex.name
            if name == "full":
                if capacity is None:
                    self._error("P227", "`full` can never be taken: the queue has no "
                                "`capacity`", ex.span, "add e.g. `capacity 20` to the queue")
            elif (len(name) > 1 or name in "XNZxnz") and ex.is_key:  # one key press, no more
                self._error("P206", f"a key pressed in the queue must be one key, not "
                            f"`{name}`", ex.span, "use one of 0-9, * or #")
        timeout = opts["timeout"].value if "timeout" in opts else ast.DEFAULT_QUEUE_TIMEOUT_MS
        for item in script:
            start = item.after_ms if isinstance(item, ast.Offer) else item.start_ms
            if start >= timeout:
                self._error("P227", f"this never happens: it is at {_fmt_ms(start)} of the "
                            f"wait, and the queue times out after {_fmt_ms(timeout)}",
                            item.span, "make it earlier, or the queue's `timeout` longer")
        return new_TransferQueue(
            group,
            opts["priority"].value if "priority" in opts else None,
            timeout, "familiar" in opts, self._prompt(opts, "music"), announcements, offers,
            capacity, "when_empty" in opts and opts["when_empty"].value == "wait", script,
            exits, self._span(kw, self._end(children)),
        )

    def _check_repeats(self, what: str, items: list[tuple[str, Span]]) -> None:
        seen: set[str] = set()
        for kind, span in items:
            if kind in seen:
                self._error("P205", f"`{what} {kind}` is given twice", span, "keep one")
            seen.add(kind)

    def transfer_agent(self, children: list[Any]) -> ast.TransferAgent:
        kw, who = children[0], children[2]
        opts = self._options("transfer agent", children)
        agent: ast.Ref | ast.Expr = (
            self._ref(ast.RefKind.AGENT, who) if isinstance(who, _TOKEN) else who
        )
        return new_TransferAgent(
            agent, opts["timeout"].value if "timeout" in opts else ast.DEFAULT_RING_TIMEOUT_MS,
            self._exits(children), self._span(kw, self._end(children)),
        )

    def transfer_number(self, children: list[Any]) -> ast.TransferNumber:
        kw, number = children[0], children[2]
        opts = self._options("transfer number", children)  # a number that isn't text: R510
        return new_TransferNumber(
            number, opts["timeout"].value if "timeout" in opts else ast.DEFAULT_RING_TIMEOUT_MS,
            opts["caller_id"].value if "caller_id" in opts else None,
            self._exits(children), self._span(kw, self._end(children)),
        )

    def transfer_sip(self, children: list[Any]) -> ast.TransferSip:
        kw, uri = children[0], children[2]
        opts = self._options("transfer sip", children)
        self._destination(uri, None, "a SIP URI")
        if isinstance(uri, ast.Literal) and isinstance(uri.value, str):
            problem = sip_uri_problem(uri.value)
            if problem is not None:
                self._error("P221", f"`{shown_number(uri.value)}` is not a SIP URI: {problem}",
                            uri.span, "write e.g. \"sip:100@pbx.example.com\"")
        return new_TransferSip(
            uri, opts["timeout"].value if "timeout" in opts else ast.DEFAULT_RING_TIMEOUT_MS,
            opts["caller_id"].value if "caller_id" in opts else None,
            self._exits(children), self._span(kw, self._end(children)),
        )

    def _destination(self, value: ast.Expr, kind: ast.RefKind | None,
                     what: str) -> ast.Ref | ast.Expr:
        """A transfer's destination: a string literal (a `Ref` of `kind` when given, checked
        by name resolution) or an expression; any other literal is P220."""
        if isinstance(value, ast.Literal):
            if not isinstance(value.value, str):
                self._error("P220", f"the destination must be {what}, written as a string or "
                            "taken from data", value.span, "write it in quotes")
            elif kind is not None:
                if not value.value.strip():
                    self._error("P210", f"empty {kind} name", value.span)
                return new_Ref(kind, value.value, value.span)
        return value

    def voicemail(self, children: list[Any]) -> ast.Voicemail:
        kw, name = children[0], children[1]
        if len(children) == 3 and children[2] is None:  # `voicemail "box"`: most of them
            return new_Voicemail(
                self._ref(_VOICEMAIL, name), None, ast.DEFAULT_VOICEMAIL_MS, (),
                new_span(self.file, kw.line, kw.column, name.end_line, name.end_column))
        opts = self._options("voicemail", children)
        return new_Voicemail(
            self._ref(ast.RefKind.VOICEMAIL, name), self._prompt(opts, "prompt"),
            opts["maxlength"].value if "maxlength" in opts else ast.DEFAULT_VOICEMAIL_MS,
            self._exits(children), self._span(kw, self._end(children)),
        )

    def record(self, children: list[Any]) -> ast.Record:
        kw, var = children[0], children[1]
        self._check_writable(str(var), _tok_span(self.file, var))
        opts = self._options("record", children)
        max_ms = opts["maxlength"].value if "maxlength" in opts else ast.DEFAULT_RECORD_MS
        silence = opts["silence"].value if "silence" in opts else None
        if silence is not None and silence >= max_ms:
            self._error("P222", f"`silence {_fmt_ms(silence)}` is not shorter than the "
                        f"recording's maxlength {_fmt_ms(max_ms)}",
                        self._span(opts["silence"].first, opts["silence"].last),
                        "a recording ends after this much silence: make it shorter")
        return new_Record(
            str(var), max_ms, silence, "beep" in opts,
            opts["terminator"].value if "terminator" in opts else None,
            opts["keep"].value if "keep" in opts else None,
            self._span(kw, self._end(children)),
        )

    def pause(self, children: list[Any]) -> ast.Pause:
        kw, duration, barge = children
        return new_Pause(self._duration(duration, "pause"),
                         barge is not None and barge.type == "BARGEIN",
                         self._span(kw, barge if barge is not None else duration))

    def _ref(self, kind: ast.RefKind, tok: Token) -> ast.Ref:
        span = new_span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)
        name = unquote(tok.value)
        if not name or name.isspace():  # what str.strip() would empty
            self._error("P210", f"empty {kind} name", span)
        return new_Ref(kind, name, span)

    # ------------------------------------------------------------ options

    def _opt(self, name: str, value: Any, children: list[Any]) -> _Opt:
        last = children[-1]
        if last is None:
            last = self._end(children)
        return _new_opt((name, value, children[0], last))

    def opt_prompt(self, c: list[Any]) -> _Opt:
        return self._opt("prompt", c[1], c)

    def opt_plain_prompt(self, c: list[Any]) -> _Opt:
        return self._opt("prompt", c[1], c)

    def opt_thanks(self, c: list[Any]) -> _Opt:
        return self._opt("thanks", c[1], c)

    def opt_music(self, c: list[Any]) -> _Opt:
        return self._opt("music", c[1], c)

    def opt_timeout(self, c: list[Any]) -> _Opt:
        return _new_opt(("timeout", self._duration(c[1], "timeout"), c[0], c[1]))

    def opt_interdigit(self, c: list[Any]) -> _Opt:
        return self._opt("interdigit", self._duration(c[1], "interdigit"), c)

    def opt_maxlength(self, c: list[Any]) -> _Opt:
        return self._opt("maxlength", self._duration(c[1], "maxlength"), c)

    def _limit(self, tok: Token, what: str) -> int | None:
        """A retry count, or None for `forever`."""
        return None if tok.type == "FOREVER" else self._count(tok, what, 0, MAX_RETRIES)

    def opt_retries(self, c: list[Any]) -> _Opt:
        return self._opt("retries", self._limit(c[1], "retries"), c)

    def opt_noinput(self, c: list[Any]) -> _Opt:
        return self._opt("noinput", self._limit(c[1], "noinput retries"), c)

    def opt_nomatch(self, c: list[Any]) -> _Opt:
        return self._opt("nomatch", self._limit(c[1], "nomatch retries"), c)

    def opt_reset(self, c: list[Any]) -> _Opt:
        return self._opt("reset_on_entry", True, c)

    def opt_capacity(self, c: list[Any]) -> _Opt:
        return self._opt("capacity", self._count(c[1], "capacity", 1, MAX_QUEUE_CAPACITY), c)

    def opt_when_empty(self, c: list[Any]) -> _Opt:
        return self._opt("when_empty", str(c[1]), c)

    def opt_waiting(self, c: list[Any]) -> _Opt:
        items = tuple(i for i in c[2:-1] if isinstance(i, ast.QueuePlay | ast.QueueCheck
                                                      | ast.Offer))
        if len(items) > MAX_SCRIPT_ITEMS:
            self._error("P225", f"the queue script lists {len(items)} entries (limit "
                        f"{MAX_SCRIPT_ITEMS})", self._span(c[0], c[-1]), "keep the few that matter")
        return self._opt("waiting", items, c)

    def _queue_play(self, c: list[Any], start_ms: int, every_ms: int | None
                    ) -> ast.QueuePlay | ast.QueueCheck:
        """The entry of `at`/`every` children ending in `play AUDIO`, `say TTS`,
        `say position|wait` or `check staffing`."""
        last = c[-1]
        if isinstance(last, _TOKEN) and last.type == "STAFFING":
            return new_QueueCheck(start_ms, every_ms, self._span(c[0], last))
        if isinstance(last, ast.Audio):
            return new_QueuePlay(start_ms, every_ms, last, None, self._span(c[0], last))
        if isinstance(last, ast.Tts):
            audio = new_Audio((last,), False, last.span)
            return new_QueuePlay(start_ms, every_ms, audio, None, self._span(c[0], last))
        return new_QueuePlay(start_ms, every_ms, None, ast.AnnounceKind(str(last)),
                             self._span(c[0], last))

    def script_at(self, c: list[Any]) -> ast.QueuePlay | ast.QueueCheck:
        return self._queue_play(c, self._duration(c[1], "at"), None)

    def script_every(self, c: list[Any]) -> ast.QueuePlay | ast.QueueCheck:
        every = self._duration(c[1], "every")
        start = self._duration(c[3], "at") if c[3] is not None else every
        return self._queue_play(c, start, every)

    def script_offer(self, c: list[Any]) -> ast.Offer:
        kw, after, _offer, kind, _key_kw, key, prompt = c
        return self._offer(kw, kind, after, key, prompt, c)

    def opt_digits(self, c: list[Any]) -> _Opt:
        low = self._count(c[1], "digits", 1, 64)
        high = self._count(c[2], "digits", 1, 64) if c[2] is not None else low
        if high < low:
            self._error("P206", f"digits {low}..{high}: the maximum is below the minimum",
                        self._span(c[1], c[2]), f"write `digits {high}..{low}`")
        return self._opt("digits", (low, high), c)

    def opt_scale(self, c: list[Any]) -> _Opt:
        low = self._count(c[1], "scale", 0, 9)
        high = self._count(c[2], "scale", 0, 9)
        if high <= low:
            self._error("P206", f"scale {low}..{high}: the maximum must be above the minimum",
                        self._span(c[1], c[2]))
        return self._opt("scale", (low, high), c)

    def opt_terminator(self, c: list[Any]) -> _Opt:
        key: Token = c[1]
        if len(key) != 1:
            self._error("P206", f"the terminator must be one key, not `{key}`",
                        _tok_span(self.file, key), "use `#` or `*`")
        return self._opt("terminator", str(key), c)

    def opt_pattern(self, c: list[Any]) -> _Opt:
        text = unquote(c[1])
        problem = pattern_error(text)
        if problem is not None:
            self._error("P211", f"invalid pattern: {problem[0]}", _tok_span(self.file, c[1]),
                        problem[1])
        return self._opt("pattern", text, c)

    def opt_caller_id(self, c: list[Any]) -> _Opt:
        value = c[1]
        if isinstance(value, ast.Literal) and not isinstance(value.value, str):
            self._error("P220", "a caller id is a phone number, written as a string or taken "
                        "from data", value.span, "write it in quotes, e.g. \"+862161230000\"")
        return self._opt("caller_id", value, c)

    def opt_silence(self, c: list[Any]) -> _Opt:
        return self._opt("silence", self._duration(c[1], "silence"), c)

    def opt_beep(self, c: list[Any]) -> _Opt:
        return self._opt("beep", True, c)

    def opt_keep(self, c: list[Any]) -> _Opt:
        return self._opt("keep", self._ref(ast.RefKind.VOICEMAIL, c[2]), c)

    def opt_number(self, c: list[Any]) -> _Opt:
        return self._opt("number", c[1], c)

    def opt_as(self, c: list[Any]) -> _Opt:
        self._check_writable(str(c[1]), _tok_span(self.file, c[1]))
        return self._opt("as", str(c[1]), c)

    def opt_priority(self, c: list[Any]) -> _Opt:
        value = c[1]
        if isinstance(value, ast.Literal) and value.value is not None and (
                not isinstance(value.value, int) or isinstance(value.value, bool)):
            self._error("P215", "a queue priority is an integer (higher first)", value.span,
                        "write e.g. `priority 5`, or an expression over call data")
        return self._opt("priority", value, c)

    def opt_familiar(self, c: list[Any]) -> _Opt:
        return self._opt("familiar", True, c)

    def opt_announce(self, c: list[Any]) -> _Opt:
        kw, kind, _every, every, prompt = c
        pending: _Opt | None = prompt
        announce = new_Announce(
            ast.AnnounceKind(str(kind)), self._duration(every, "every"),
            pending.value if pending is not None else None,
            self._span(kw, self._end(c)),
        )
        return _Opt("announce", announce, announce, announce)

    def opt_offer(self, c: list[Any]) -> _Opt:
        kw, kind, _after, after, _key_kw, key, prompt = c
        offer = self._offer(kw, kind, after, key, prompt, c)
        return _Opt("offer", offer, offer, offer)

    def _offer(self, kw: Token, kind: Token, after: Token, key: Token, prompt: _Opt | None,
               c: list[Any]) -> ast.Offer:
        if len(key) != 1:
            self._error("P206", f"the key of an offer must be one key, not `{key}`",
                        _tok_span(self.file, key), "use one of 0-9, * or #")
        pending: _Opt | None = prompt
        return new_Offer(
            ast.OfferKind(str(kind)), self._duration(after, "after"), str(key),
            pending.value if pending is not None else None,
            self._span(kw, self._end(c)),
        )

    # ------------------------------------------------------------ prompts

    def _audio(self, default_barge: bool, children: list[Any]) -> ast.Audio:
        barge: Token | None = children[-1]
        items: tuple[ast.PromptItem, ...]
        if len(children) == 2:  # one prompt: most of them
            item = children[0]
            items = (self._ref(_PROMPT, item) if isinstance(item, _TOKEN) else item,)
        else:
            items = tuple([self._ref(_PROMPT, c) if isinstance(c, _TOKEN) else c
                           for c in children[:-1]])
        start = items[0].span
        if barge is None:
            if len(items) == 1:  # the prompt's own span: spans are immutable, so shared
                return new_Audio(items, default_barge, start)
            end: Any = items[-1].span
            barge_in = default_barge
        else:
            end, barge_in = barge, barge.type == "BARGEIN"
        return new_Audio(items, barge_in,
                         new_span(self.file, start.line, start.column, end.end_line,
                                  end.end_column))

    # Barge-in off by default, and on for the prompts of menu, collect and survey (a partial
    # method: one Python frame per prompt list less than a method that calls _audio).
    audio = partialmethod(_audio, False)
    keyed_audio = partialmethod(_audio, True)

    def recording_item(self, children: list[Any]) -> ast.Recording:
        kw, var = children
        return new_Recording(var, self._span(kw, var))

    def tts_item(self, children: list[Any]) -> ast.Tts:
        kw, tts = children
        return new_Tts(tts.texts, self._span(kw, tts))

    def tts(self, children: list[Any]) -> ast.Tts:
        if len(children) == 1:
            tok: Token = children[0]
            span = new_span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)
            return new_Tts((self._template(None, tok, span),), span)
        texts = tuple(c for c in children if isinstance(c, ast.TtsText))
        seen: set[str | None] = set()
        for text in texts:
            if text.language in seen:
                self._error("P205", f"language `{text.language}` is given twice", text.span)
            seen.add(text.language)
        return new_Tts(texts, self._span(children[0], children[-1]))

    def lang_text(self, children: list[Any]) -> ast.TtsText:
        lang, text = children
        return self._template(str(lang), text, self._span(lang, text))

    def _template(self, lang: str | None, tok: Token, span: Span) -> ast.TtsText:
        template = unquote(tok.value)
        if "{" in template:
            from ccc_runtime.templates import template_error  # jinja2: only for a placeholder

            problem = template_error(template)
            if problem is not None:
                self._error("P212", f"invalid template: {problem}", _tok_span(self.file, tok),
                            "placeholders look like {{ result.balance }}")
        return new_TtsText(lang, template, span)

    # ------------------------------------------------------------ expressions

    def var(self, children: list[Token]) -> ast.Var:
        first, last = children[0], children[-1]
        return new_Var(tuple([t.value for t in children]), new_span(
            self.file, first.line, first.column, last.end_line, last.end_column))

    def string(self, children: list[Token]) -> ast.Literal:
        return new_Literal(unquote(children[0]), _tok_span(self.file, children[0]))

    def integer(self, children: list[Token]) -> ast.Literal:
        value, span = int_literal(children[0]), _tok_span(self.file, children[0])
        if value > _INT_MAX:
            self._error("P214", f"the number {shown_number(children[0])} is too large", span,
                        f"integers go up to {_INT_MAX} (64 bits)")
        return new_Literal(value, span)

    def decimal(self, children: list[Token]) -> ast.Literal:
        value, span = float(children[0]), _tok_span(self.file, children[0])
        if math.isinf(value):
            self._error("P214", f"the number {children[0]} is too large", span,
                        "decimals go up to about 1.8e308")
        return new_Literal(value, span)

    def true(self, children: list[Token]) -> ast.Literal:
        return new_Literal(True, _tok_span(self.file, children[0]))

    def false(self, children: list[Token]) -> ast.Literal:
        return new_Literal(False, _tok_span(self.file, children[0]))

    def null(self, children: list[Token]) -> ast.Literal:
        return new_Literal(None, _tok_span(self.file, children[0]))

    def _nested(self, node: ast.Expr, parts: tuple[ast.Expr, ...],
                chain: bool = False) -> ast.Expr:
        """`node` unless it nests deeper than MAX_DEPTH, or its bytecode tree deeper than
        MAX_EXPR_DEPTH: then a P109 and a placeholder that the whole expression collapses to
        (the compiler, the formatter and the runtime walk expressions recursively, so a deep
        one would overflow Python's stack). `chain`: the first part is the same operator,
        which the bytecode joins into this node (`a + b + c` is one node), adding no depth."""
        depth = self._depth
        below = tree_below = 1
        for i, part in enumerate(parts):
            key = id(part)
            if key in self._too_deep:
                return part
            known = depth.get(key)
            if known is not None:
                below = max(below, known[0])
                tree_below = max(tree_below, known[1] - (chain and i == 0))
        if below < MAX_DEPTH and tree_below < MAX_EXPR_DEPTH:
            depth[id(node)] = (below + 1, tree_below + 1, node)
            return node
        span = node.span
        limit = MAX_DEPTH if below >= MAX_DEPTH else MAX_EXPR_DEPTH
        self._error("P109", f"an expression is nested more than {limit} deep", span,
                    "split it: compute parts with `set` first")
        placeholder = new_Literal(None, span)
        self._too_deep[id(placeholder)] = placeholder
        return placeholder

    def list_expr(self, children: list[Any]) -> ast.Expr:
        items = tuple(c for c in children[1:-1] if c is not None)
        return self._nested(new_ListExpr(items, self._span(children[0], children[-1])), items)

    def neg(self, children: list[Any]) -> ast.Expr:
        return self._nested(
            new_Unary(ast.UnaryOp.NEG, children[1], self._span(children[0], children[1])),
            (children[1],))

    def not_expr(self, children: list[Any]) -> ast.Expr:
        return self._nested(
            new_Unary(ast.UnaryOp.NOT, children[1], self._span(children[0], children[1])),
            (children[1],))

    def or_expr(self, children: list[Any]) -> ast.Expr:
        left, _op, right = children
        return self._nested(new_Binary(ast.BinaryOp.OR, left, right, self._span(left, right)),
                            (left, right), _chained(left, ast.BinaryOp.OR))

    def and_expr(self, children: list[Any]) -> ast.Expr:
        left, _op, right = children
        return self._nested(new_Binary(ast.BinaryOp.AND, left, right, self._span(left, right)),
                            (left, right), _chained(left, ast.BinaryOp.AND))

    def compare(self, children: list[Any]) -> ast.Expr:
        left, op, right = children
        return self._nested(
            new_Binary(_BINARY_OPS[op.value], left, right, self._span(left, right)),
            (left, right))

    def arith(self, children: list[Any]) -> ast.Expr:
        left, op, right = children
        operator = _BINARY_OPS[op.value]
        return self._nested(new_Binary(operator, left, right, self._span(left, right)),
                            (left, right), _chained(left, operator))

    def index(self, children: list[Any]) -> ast.Expr:
        target, _bracket, key, close = children
        return self._nested(new_Index(target, key, self._span(target, close)), (target, key))

    def call(self, children: list[Any]) -> ast.Expr:
        name: Token = children[0]
        args = tuple(c for c in children[1:-1] if c is not None)
        node = new_Call(str(name), args, self._span(name, children[-1]))
        function = FUNCTIONS.get(name)
        if function is None or function.bare:
            known = [n for n, f in FUNCTIONS.items() if not f.bare]
            self._error("P216", f"unknown function `{name}`", _tok_span(self.file, name),
                        did_you_mean(str(name), known) or "functions: " + ", ".join(known))
        elif not function.required <= len(args) <= len(function.params):
            count = (str(function.required) if function.required == len(function.params)
                     else f"{function.required} to {len(function.params)}")
            self._error("P217", f"`{name}` takes {count} argument"
                        f"{'' if count == '1' else 's'}, not {len(args)}", node.span,
                        f"write `{function.signature}`")
        return self._nested(node, args)

    def now(self, children: list[Token]) -> ast.Expr:
        return new_Call("now", (), _tok_span(self.file, children[0]))

    def compare_not_in(self, children: list[Any]) -> ast.Expr:
        left, _not, _in, right = children
        return self._nested(
            new_Binary(ast.BinaryOp.NOT_IN, left, right, self._span(left, right)), (left, right))


def _chained(left: Any, op: ast.BinaryOp) -> bool:
    """Whether `left op right` joins `left` into one bytecode node (ir.lower_expr)."""
    return type(left) is ast.Binary and left.op is op


@lru_cache(maxsize=1024)
def _duration_ms(text: str, kind: str) -> tuple[int, bool]:
    """Milliseconds of a DURATION token, and whether they are in range for `kind` (cached:
    flows repeat the same few durations)."""
    match = _DURATION_RE.fullmatch(text)
    assert match is not None  # the DURATION terminal guarantees the shape
    ms = int_literal(match.group(1)) * _DURATION_UNITS[match.group(2)]
    low, high = DURATION_LIMITS[kind]
    return ms, low <= ms <= high


def _fmt_ms(ms: int) -> str:
    """A duration in the language's own notation, largest exact unit first."""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


format_duration = _fmt_ms
