"""The typed AST of the IVR language: what the parser produces and the compiler consumes.

Every node is a frozen, slotted dataclass whose last positional field is `span`, the node's source
range. Spans are excluded from equality and hashing (`compare=False`), so two ASTs of the same
flow written with different layouts compare equal; this is what `parse(format(x)) == x` means.

The shape is built for a compiler:
- A `Flow` is a list of labelled `Step`s; the first step is the entry point. Labels are unique in a
  flow (P201) and flow names are global across every `.ivr` file of a repo.
- A step's body is a `Block`: statements run in order. A statement that has no exit taken (or an
  `If` without `else` whose condition is false) continues with the next statement; after the last
  statement of a step, control continues with the next step in source order. Falling off the end
  of the last step is a compiler error ("every path ends").
- Statements that branch carry `exits`: each `Exit` names a fixed exit (`ok`, `error`, `open`,
  `noinput`, ...) or a key (`"1"`, `"*"`, `"123"`), and its target is a `Block`, so `-> sales` is
  `(Goto(Ref(LABEL, "sales")),)` and `-> play "x" then hangup` is `(Play(...), Hangup())`. An exit
  that is not written continues with the next statement, except that a `Menu`, `Collect` or
  `Survey` without a `noinput` or `nomatch` exit re-prompts (counting a retry).
- Durations are integer milliseconds. Every name the compiler must resolve (a prompt, group,
  agent, schedule, function, list, voicemail box, flow or label) is a `Ref` with its own span.
- `EXIT_NAMES` lists the fixed exit names each statement accepts; `KEYED` the statements whose
  exits may also be keys.

Every node class derives from `Node`, which knows a node's children (the fields that hold nodes,
found once per class from the type hints), so analyses and a language server search the tree
with `walk`, `find_all` and `node_at` instead of walking it by hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields, is_dataclass
from enum import StrEnum
from operator import attrgetter
from types import UnionType
from typing import (
    Any,
    Final,
    TypeVar,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

from ccc_dsl.diagnostics import Span

N = TypeVar("N", bound="Node")
T = TypeVar("T")


_FROZEN: Final[object] = vars(dataclass(frozen=True)(type("_Frozen", (), {})))[
    "__dataclass_params__"]
"""What `@dataclass(frozen=True, slots=True)` records of a class (frozen, with init, repr and
eq), taken from an empty class: every `node` class reports it."""


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def node(cls: type[T]) -> type[T]:
    """`@dataclass(frozen=True, slots=True)` for the AST's 44 classes, at a third of its import
    cost: dataclasses compiles six functions per class with `exec` (this module's import took
    180 M instructions, 54 M now; 24 -> 7 ms) where only `__init__` needs its own code.
    `__repr__`, `__eq__`, `__hash__` and the frozen
    `__setattr__`/`__delattr__` are closures over the field names, with the same results:
    the same repr, equality and hash over the compared fields (`span` is not), NotImplemented
    for another class, FrozenInstanceError with the same messages, the same pickled state,
    `fields()`, `replace()` and `__match_args__`, the same generated docstring. Fields may
    have defaults, not default factories."""
    documented = cls.__doc__ is not None
    if not documented:  # else dataclasses writes one from the signature there is no __init__ for
        cls.__doc__ = "-"
    cls = dataclass(cls, init=False, repr=False, eq=False, slots=True)
    every = fields(cls)  # type: ignore[arg-type]
    if any(f.default_factory is not MISSING or not f.init for f in every) or hasattr(
            cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: `node` takes plain fields (with defaults) only")
    names = tuple(f.name for f in every)
    params = ", ".join(n if f.default is MISSING else f"{n}=_default_{n}"
                       for n, f in zip(names, every, strict=True))
    body = "".join(f"    _set(self, {n!r}, {n})\n" for n in names) or "    pass\n"
    namespace: dict[str, Any] = {"_set": object.__setattr__, **{
        f"_default_{f.name}": f.default for f in every if f.default is not MISSING}}
    exec(f"def __init__(self, {params}):\n{body}", namespace)  # as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {**{f.name: f.type for f in every}, "return": None}
    compared = _tuple_of(tuple(f.name for f in every if f.compare))
    shown = tuple(f.name for f in every if f.repr)
    frozen = frozenset(names)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in shown)
        return f"{self.__class__.__qualname__}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(compared(self))

    def __setattr__(self: Any, name: str, value: object) -> None:
        if type(self) is cls or name in frozen:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in frozen:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    def __getstate__(self: Any) -> list[object]:
        return [getattr(self, n) for n in names]

    def __setstate__(self: Any, state: list[object]) -> None:
        for n, value in zip(names, state, strict=False):
            object.__setattr__(self, n, value)

    for method in (init, __repr__, __eq__, __hash__, __setattr__, __delattr__, __getstate__,
                   __setstate__):
        if method is not init:
            method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
    cls.__dataclass_params__ = _FROZEN  # type: ignore[attr-defined]
    if not documented:
        cls.__doc__ = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
    return cls


def _tuple_of(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A getter of these attributes as a tuple (dataclasses compares and hashes the tuple)."""
    if len(names) > 1:
        many: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
        return many
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


class Node:
    """The base of every AST node: its children, a depth-first walk, a search by type and the
    node at a source position (what a language server asks for hover and go-to-definition)."""

    __slots__ = ()
    span: Span

    def children(self) -> Iterator[Node]:
        """The nodes directly below this one, in source order (tuples of nodes looked through)."""
        for value in _child_values(self):
            if isinstance(value, tuple):
                yield from value
            elif value is not None:
                yield value

    def walk(self, skip: tuple[type[Node], ...] = ()) -> Iterator[Node]:
        """This node and every node below it, depth first in source order. Nodes of a `skip`
        type are yielded but not entered: a search that knows such a subtree can't hold what it
        looks for saves the work. Iterative, so any depth the parser accepts is fine."""
        return _walk(self, None, skip)

    def find_all(self, *types: type[N], skip: tuple[type[Node], ...] = ()) -> Iterator[N]:
        """Every node of one of `types` at or below this one, in source order."""
        found: Iterator[N] = _walk(self, types, skip)
        return found

    def node_at(self, line: int, column: int) -> Node | None:
        """The innermost node whose span holds the 1-based position (the end column is
        exclusive); None when the position is outside this node."""
        best: Node | None = None
        for node in self.walk():
            if _holds(node.span, line, column) and (best is None or _within(node.span,
                                                                            best.span)):
                best = node
        return best


def _walk(root: Node, wanted: tuple[type[Node], ...] | None,
          skip: tuple[type[Node], ...]) -> Iterator[Any]:
    """The one depth-first walk (`wanted` None: every node). Name resolution runs it over
    every flow, so it tests classes by identity where it can (a class without subclasses is
    matched exactly) and finds the children through a per-class getter."""
    want_set, want_any = _exact(wanted) if wanted is not None else (None, None)
    stop_set, stop_any = _exact(skip) if skip else (None, None)
    getters = _GETTERS
    stack: list[Any] = [root]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        node = pop()
        cls = type(node)
        if want_set is not None:
            if cls in want_set:
                yield node
        elif want_any is None or isinstance(node, want_any):
            yield node
        if (stop_set is not None and cls in stop_set) or (
                stop_any is not None and isinstance(node, stop_any)):
            continue
        try:
            getter = getters[cls]
        except KeyError:
            getter = getters[cls] = _getter(cls)
        if getter is None:  # a leaf: Ref, Literal, Hangup, ...
            continue
        for value in reversed(getter(node)):
            if type(value) is tuple:
                extend(reversed(value))
            elif value is not None:
                push(value)


def _exact(types: tuple[type[Node], ...]
           ) -> tuple[frozenset[type], None] | tuple[None, tuple[type[Node], ...]]:
    """(a set to test `type(node) in`, None) when none of `types` has subclasses (every
    concrete node class), else (None, the tuple for isinstance), e.g. for `Node` itself."""
    if any(t.__subclasses__() for t in types):
        return None, types
    return frozenset(types), None


def _holds(span: Span, line: int, column: int) -> bool:
    return (span.line, span.column) <= (line, column) < (span.end_line, span.end_column)


def _within(inner: Span, outer: Span) -> bool:
    return ((outer.line, outer.column) <= (inner.line, inner.column)
            and (inner.end_line, inner.end_column) <= (outer.end_line, outer.end_column))


_Child = Union["Node", tuple["Node", ...], None]
_Getter = Callable[[Node], tuple[_Child, ...]]
_GETTERS: dict[type, _Getter | None] = {}
"""Node class -> a function giving the values of its fields that can hold nodes (None: the
class has none)."""


def _child_values(node: Node) -> tuple[_Child, ...]:
    cls = type(node)
    if cls not in _GETTERS:
        _GETTERS[cls] = _getter(cls)
    getter = _GETTERS[cls]
    return () if getter is None else getter(node)


def _getter(cls: type) -> _Getter | None:
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls) if _holds_nodes(hints[f.name])]
    if not names:
        return None
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda node: (one(node),)
    many: _Getter = attrgetter(*names)
    return many


def _holds_nodes(hint: object) -> bool:
    """Whether a field's type hint (`Block | None`, `tuple[Exit, ...]`, `Ref | Expr`) can hold
    a node: spans, names, numbers and enums can't."""
    if isinstance(hint, type):
        return issubclass(hint, Node)
    if get_origin(hint) in (tuple, Union, UnionType):
        return any(_holds_nodes(arg) for arg in get_args(hint) if arg is not Ellipsis)
    return False


class RefKind(StrEnum):
    """What a name refers to; the compiler resolves each kind against its own namespace."""

    PROMPT = "prompt"
    GROUP = "group"
    AGENT = "agent"
    SCHEDULE = "schedule"
    FUNCTION = "function"
    BLACKLIST = "blacklist"
    VOICEMAIL = "voicemail"
    FLOW = "flow"
    LABEL = "label"


@node
class Ref(Node):
    """A use of a name, e.g. `prompt "bye"`, `transfer queue "sales"` or the label in `-> menu`."""

    kind: RefKind
    name: str
    span: Span = field(compare=False)


# ---------------------------------------------------------------- expressions


@node
class Literal(Node):
    """A string, integer, decimal, boolean (`true`/`false`) or `null` literal."""

    value: str | int | float | bool | None
    span: Span = field(compare=False)


@node
class Var(Node):
    """A variable or call-data path: `account`, `caller.number`, `result.balance`, `time.hour`."""

    path: tuple[str, ...]
    span: Span = field(compare=False)

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@node
class ListExpr(Node):
    """A list literal, the right side of `in`: `caller.number in ["+861", "+862"]`."""

    items: tuple[Expr, ...]
    span: Span = field(compare=False)


class UnaryOp(StrEnum):
    NOT = "not"
    NEG = "-"


@node
class Unary(Node):
    op: UnaryOp
    operand: Expr
    span: Span = field(compare=False)


class BinaryOp(StrEnum):
    OR = "or"
    AND = "and"
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    NOT_IN = "not in"
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"


@node
class Binary(Node):
    op: BinaryOp
    left: Expr
    right: Expr
    span: Span = field(compare=False)


@node
class Call(Node):
    """A function of the language: `upper(name)`, `pad(code, 6, "0")`, and `now` (no
    parentheses). The functions are `ccc_runtime.expressions.FUNCTIONS`."""

    name: str
    args: tuple[Expr, ...]
    span: Span = field(compare=False)


@node
class Index(Node):
    """`items[0]`, `result["key"]`: an item of a list, text or map (null past the end)."""

    target: Expr
    index: Expr
    span: Span = field(compare=False)


Expr = Literal | Var | ListExpr | Unary | Binary | Call | Index

# ---------------------------------------------------------------- prompts


@node
class TtsText(Node):
    """One text for text-to-speech; `language` is None for "any language". The template (with
    `{{ variable }}` placeholders) is kept verbatim; the runtime renders it in a jinja2 sandbox."""

    language: str | None
    template: str
    span: Span = field(compare=False)


@node
class Tts(Node):
    """Spoken text: `say "Hi {{ result.name }}"`, or per language `say { zh: "..." en: "..." }`."""

    texts: tuple[TtsText, ...]
    span: Span = field(compare=False)


@node
class Recording(Node):
    """`recording msg`: play back what a `record msg` of this call stored (a prompt item)."""

    var: Var
    span: Span = field(compare=False)


PromptItem = Ref | Tts | Recording
"""A prompt by name (`Ref` of kind PROMPT, resolved per call language), inline speech, or a
recording made earlier in the call."""


@node
class Audio(Node):
    """What a caller hears, in order: `"main-greeting", say "..."`; `barge_in` says whether a key
    press interrupts it (default: off for `play`, on for the prompts of menu/collect/survey)."""

    items: tuple[PromptItem, ...]
    barge_in: bool
    span: Span = field(compare=False)


# ---------------------------------------------------------------- statements


@node
class Exit(Node):
    """One exit of a branching statement: a fixed name (`ok`, `busy`...) or a key (`1`, `#`)."""

    name: str
    body: Block
    span: Span = field(compare=False)

    @property
    def is_key(self) -> bool:
        """A key or a key pattern (`1`, `#`, `1XX`, `[1-5]`, or a misspelt `1xx`, P224);
        exit names are lower-case words, none made of x, n and z alone."""
        return self.name[0] in "0123456789*#XNZ[" or not self.name.strip("xnz")


@node
class Play(Node):
    """`play "bye"`, `play "a", say "b" bargein`, or `say "..."`."""

    audio: Audio
    span: Span = field(compare=False)


@node
class Set(Node):
    """`set account = "x"`; the target may be a dotted path into call data."""

    target: Var
    value: Expr
    span: Span = field(compare=False)


@node
class If(Node):
    """`if expr -> a else -> b`; without `else`, a false condition continues with the next
    statement."""

    condition: Expr
    then: Block
    otherwise: Block | None
    span: Span = field(compare=False)


@node
class Goto(Node):
    """`goto label`, or a bare label as the target of an exit or the end of a `then` chain."""

    target: Ref
    span: Span = field(compare=False)


@node
class Hangup(Node):
    span: Span = field(compare=False)


@node
class Return(Node):
    """End a sub-flow and continue in the calling flow after its `call flow`."""

    span: Span = field(compare=False)


@node
class Reprompt(Node):
    """Inside an exit of a menu, collect or survey: ask again (counting a retry)."""

    span: Span = field(compare=False)


@node
class Language(Node):
    """`language "en"` or `language result.language`: the call language, which selects the
    per-language version of every prompt played afterwards."""

    value: Expr
    span: Span = field(compare=False)


@node
class Menu(Node):
    """Play a prompt and branch on a key (or a multi-digit key when `interdigit_ms` is set).

    Exits: keys, `noinput`, `nomatch`, `exhausted` (either counter ran out)."""

    prompt: Audio
    timeout_ms: int
    interdigit_ms: int | None
    noinput_retries: int
    nomatch_retries: int
    noinput_forever: bool
    """`noinput forever` (or `retries forever`): no-input never runs out; the count is unused."""
    nomatch_forever: bool
    reset_on_entry: bool
    """`reset_on_entry`: the counters start from zero whenever the call comes to the menu
    other than by its own retry (by default they last the whole call; see docs/dsl.md)."""
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class Collect(Node):
    """Collect `min_digits`..`max_digits` digits into variable `var`.

    Exits: `ok`, `noinput`, `nomatch` (too short or pattern mismatch), `exhausted`."""

    var: str
    prompt: Audio
    min_digits: int
    max_digits: int
    terminator: str | None
    timeout_ms: int
    interdigit_ms: int | None
    pattern: str | None
    noinput_retries: int
    nomatch_retries: int
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class Hours(Node):
    """Branch on a work-hours schedule. Exits: `open`, `closed`, `holiday`."""

    schedule: Ref
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class Blacklist(Node):
    """Check a number (default: the caller's) against a list. Exits: `listed`, `clear`."""

    blacklist: Ref
    number: Expr | None
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class Arg(Node):
    """One named argument of a function call: `account: account`."""

    name: str
    value: Expr
    span: Span = field(compare=False)


@node
class CallFunction(Node):
    """Call the customer's function; its result is bound to `result_var` (default `result`) for
    later statements, e.g. `result.balance`. `timeout_ms` None: the function's own timeout
    (its manifest `timeout_seconds`); `retries`: attempts after a timeout or a 5xx. Exits: `ok`,
    `error` (a failure, and a timeout when `timeout` is not written), `timeout`."""

    function: Ref
    args: tuple[Arg, ...]
    timeout_ms: int | None
    result_var: str
    retries: int
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class CallFlow(Node):
    """Run another flow (possibly from another file) as a sub-flow; continue here on `return`."""

    flow: Ref
    span: Span = field(compare=False)


@node
class Staffing(Node):
    """Check a skill group's agents. Exits: `free` (someone idle), `busy` (logged in, all busy),
    `none` (nobody logged in)."""

    group: Ref
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


class AnnounceKind(StrEnum):
    POSITION = "position"
    WAIT = "wait"


@node
class Announce(Node):
    """In-queue announcement every `every_ms`: the caller's position or the expected wait; the
    runtime sets `queue.position` and `queue.wait_seconds` for the prompt's templates."""

    kind: AnnounceKind
    every_ms: int
    prompt: Audio | None
    span: Span = field(compare=False)


class OfferKind(StrEnum):
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"


@node
class Offer(Node):
    """After `after_ms` in the queue, offer voicemail or a callback: pressing `key` takes the
    queue's exit of the same name (`voicemail` or `callback`)."""

    kind: OfferKind
    after_ms: int
    key: str
    prompt: Audio | None
    span: Span = field(compare=False)


@node
class QueuePlay(Node):
    """One play of an in-queue script (`waiting { ... }`): at `start_ms` of the wait, then
    every `every_ms` (None: once). It plays `audio`, or the built-in position or expected-wait
    sentence (`say position`) when `audio` is None; `queue.*` is set before each play."""

    start_ms: int
    every_ms: int | None
    audio: Audio | None
    say: AnnounceKind | None
    span: Span = field(compare=False)


@node
class QueueCheck(Node):
    """`at D check staffing` / `every D check staffing` in an in-queue script: when nobody of
    the group is logged in at that second, the call leaves the queue by its `busy` exit (what a
    queue with `when_empty wait` uses to give up on an empty group)."""

    start_ms: int
    every_ms: int | None
    span: Span = field(compare=False)


ScriptItem = QueuePlay | QueueCheck | Offer
"""An entry of an in-queue script, in the order written."""


@node
class TransferQueue(Node):
    """Queue for a skill group, with the in-queue experience.

    Exits: `busy` (nobody logged in or queue full), `timeout` (queue timeout), `voicemail` and
    `callback` (an offer taken), `done` (the agent call ended), `failed` (a group from data that
    names no skill group), and keys pressed while waiting. `group` is a `Ref` when written as a
    string, else an expression evaluated at call time."""

    group: Ref | Expr
    priority: Expr | None
    timeout_ms: int
    familiar: bool
    hold: Audio | None
    announcements: tuple[Announce, ...]
    offers: tuple[Offer, ...]
    capacity: int | None
    """Calls the queue holds at most; when as many wait, `full` is taken (else `busy`)."""
    when_empty_wait: bool
    """`when_empty wait`: queue even when nobody of the group is logged in (default `busy`)."""
    script: tuple[ScriptItem, ...]
    """The in-queue script (`waiting { ... }`): plays and offers by the second of the wait."""
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class TransferAgent(Node):
    """Ring one agent, named (`Ref` of kind AGENT) or from data (`result.agent`).

    Exits: `busy` (offline or busy), `timeout` (no answer), `done` (the call ended)."""

    agent: Ref | Expr
    timeout_ms: int
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class TransferNumber(Node):
    """Call an outside number (a literal or data), optionally showing `caller_id`. Exits:
    `busy`, `timeout`, `done`, `failed` (the outbound policy refused the number or caller id)."""

    number: Expr
    timeout_ms: int
    caller_id: Expr | None
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class TransferSip(Node):
    """Call a SIP URI (an extension, a conference bridge, another PBX), only on a host or
    domain the outbound policy lists. Exits as for `TransferNumber`."""

    uri: Expr
    timeout_ms: int
    caller_id: Expr | None
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class Voicemail(Node):
    """Record a message into a box (named after a skill group), then hang up, or take the
    `done` exit when it is written (to play a message after the recording)."""

    box: Ref
    prompt: Audio | None
    max_length_ms: int
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


@node
class Record(Node):
    """`record msg maxlength 60s silence 3s beep terminator # as voicemail "sales"`: record the
    caller into variable `var` (a reference the flow can play back or pass to a function), kept
    in voicemail box `box` too when given; the flow continues after it."""

    var: str
    max_length_ms: int
    silence_ms: int | None
    beep: bool
    terminator: str | None
    box: Ref | None
    span: Span = field(compare=False)


@node
class Pause(Node):
    """`pause 2s [bargein]`: silence; with barge-in a key ends it and is kept for the next
    menu or collect, without it keys pressed meanwhile are lost."""

    duration_ms: int
    barge_in: bool
    span: Span = field(compare=False)


@node
class Survey(Node):
    """Ask for a satisfaction score `min_score`..`max_score` (one key), record it in the call
    record and as `survey.score`, optionally thank the caller. Exits: `ok`, `noinput`, `nomatch`,
    `exhausted`."""

    prompt: Audio
    min_score: int
    max_score: int
    timeout_ms: int
    noinput_retries: int
    nomatch_retries: int
    thanks: Audio | None
    exits: tuple[Exit, ...]
    span: Span = field(compare=False)


Stmt = (
    Play | Set | If | Goto | Hangup | Return | Reprompt | Language | Menu | Collect | Hours
    | Blacklist | CallFunction | CallFlow | Staffing | TransferQueue | TransferAgent
    | TransferNumber | TransferSip | Voicemail | Survey | Record | Pause
)

Block = tuple[Stmt, ...]
"""Statements run in order; the target of an exit, the body of a step."""

# ---------------------------------------------------------------- structure


@node
class Step(Node):
    """`label: statements`; the unit a goto or an exit targets."""

    label: str
    label_span: Span = field(compare=False)
    body: Block
    span: Span = field(compare=False)


@node
class Flow(Node):
    """`flow name "Title" { steps }`; the first step is the entry point."""

    name: str
    name_span: Span = field(compare=False)
    title: str | None
    steps: tuple[Step, ...]
    span: Span = field(compare=False)

    def step(self, label: str) -> Step | None:
        """The step with this label, if any."""
        for s in self.steps:
            if s.label == label:
                return s
        return None


@node
class Module(Node):
    """One `.ivr` file: any number of flows."""

    file: str
    flows: tuple[Flow, ...]
    span: Span = field(compare=False)


# Exit names each branching statement accepts (besides keys, for those in KEYED).
EXIT_NAMES: Final[dict[type, frozenset[str]]] = {
    Menu: frozenset({"noinput", "nomatch", "exhausted"}),
    Collect: frozenset({"ok", "noinput", "nomatch", "exhausted"}),
    Survey: frozenset({"ok", "noinput", "nomatch", "exhausted"}),
    Hours: frozenset({"open", "closed", "holiday"}),
    Blacklist: frozenset({"listed", "clear"}),
    CallFunction: frozenset({"ok", "error", "timeout"}),
    Staffing: frozenset({"free", "busy", "none"}),
    TransferQueue: frozenset({"busy", "timeout", "voicemail", "callback", "done", "failed",
                              "full"}),
    TransferAgent: frozenset({"busy", "timeout", "done"}),
    TransferNumber: frozenset({"busy", "timeout", "done", "failed"}),
    TransferSip: frozenset({"busy", "timeout", "done", "failed"}),
    Voicemail: frozenset({"done"}),
}
KEYED: Final[frozenset[type]] = frozenset({Menu, TransferQueue})

# Defaults the parser fills in when an option is not written.
DEFAULT_TIMEOUT_MS: Final = 5_000
DEFAULT_RETRIES: Final = 3
DEFAULT_QUEUE_TIMEOUT_MS: Final = 120_000
DEFAULT_RING_TIMEOUT_MS: Final = 30_000
DEFAULT_VOICEMAIL_MS: Final = 120_000
DEFAULT_RECORD_MS: Final = 60_000
DEFAULT_RESULT_VAR: Final = "result"


def dump(node: object, indent: str = "") -> str:
    """A readable, span-free rendering of a node (or tuple of nodes) for snapshots and debugging;
    a node that fits in 90 columns is written on one line, `Ref(kind='prompt', name='bye')`."""
    flat = _dump_flat(node)
    if len(indent) + len(flat) <= 90:
        return flat
    inner = indent + "  "
    if isinstance(node, tuple):
        return "(\n" + "".join(f"{inner}{dump(n, inner)},\n" for n in node) + indent + ")"
    if is_dataclass(node) and not isinstance(node, type):
        parts = [f"{inner}{name}={dump(value, inner)},\n" for name, value in _dump_fields(node)]
        return f"{type(node).__name__}(\n" + "".join(parts) + indent + ")"
    return flat


def _dump_fields(node: object) -> list[tuple[str, object]]:
    return [(f.name, getattr(node, f.name)) for f in fields(node)  # type: ignore[arg-type]
            if f.name != "span" and not f.name.endswith("_span")]


def _dump_flat(node: object) -> str:
    if isinstance(node, tuple):
        return "(" + ", ".join(_dump_flat(n) for n in node) + ("," if len(node) == 1 else "") + ")"
    if is_dataclass(node) and not isinstance(node, type):
        inner = ", ".join(f"{name}={_dump_flat(value)}" for name, value in _dump_fields(node))
        return f"{type(node).__name__}({inner})"
    if isinstance(node, StrEnum):
        return repr(node.value)
    return repr(node)
