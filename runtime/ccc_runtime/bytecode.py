"""The .ccb bytecode format: one IVR flow as a verified graph of nodes.

A flow image is a header (magic, format version, compiler version, source hash, flow name, entry
and error-handler node), a constant pool, a node table (opcode, operands as constant indexes,
numbered exits as node indexes), a line table (node -> DSL location) and a CRC-32 trailer. The
byte layout is specified in docs/bytecode.md; this module is its only reader and writer.

The runtime never trusts an image: `decode` checks every length, index, opcode, operand type,
exit count and expression tree, and raises one `BytecodeError` with a clear message. The
compiler writes images through `FlowBuilder`, which emits the same bytes for the same calls, so a
hash of the bytes is a stable identity for plan and drift detection.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import re
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, TypeAlias

from .expressions import ARITHMETIC, FUNCTIONS
from .limits import MAX_FUNCTION_RETRIES, MAX_FUNCTION_TIMEOUT_MS  # not .functions: asyncio
from .patterns import MAX_MENU_KEYS, PatternError, compile_pattern, key_error, parse_key

MAGIC = b"CCB\x1a"
FORMAT_VERSION = 2
NO_NODE = 0xFFFFFFFF
"""Exit target / error node meaning "not set"; the opcode table says what an unset exit does."""

MAX_CONST_DEPTH = 32
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)

Const: TypeAlias = "bool | int | float | str | list[Const] | None"
"""A constant-pool value. Lists hold constants (key tables, expression trees, argument maps)."""


class BytecodeError(ValueError):
    """A .ccb image that can't be trusted: bad magic, unknown version, out-of-range index..."""


class Op(IntEnum):
    """Opcodes. Numbers are part of the format: never renumber, only append."""

    PLAY = 1
    MENU = 2
    COLLECT = 3
    HOURS = 4
    BLACKLIST = 5
    SET = 6
    BRANCH = 7
    CALL_FUNCTION = 8
    STAFFING = 9
    QUEUE = 10
    TRANSFER_AGENT = 11
    TRANSFER_NUMBER = 12
    VOICEMAIL = 13
    SURVEY = 14
    SET_LANGUAGE = 15
    CALL_FLOW = 16
    RETURN = 17
    HANGUP = 18
    TRANSFER_SIP = 19
    RECORD = 20
    PAUSE = 21


class Kind(IntEnum):
    """Operand types that `decode` checks, so the VM can rely on them."""

    NAME = 1  # a non-empty resource name (prompt, group, schedule, function, flow...)
    VAR = 2  # a variable path: identifiers joined by dots
    INT = 3  # a non-negative integer (durations in ms, counts)
    EXPR = 4  # an expression tree (see EXPR_OPS)
    PROMPT = 5  # [barge_in, item, ...]; item ["prompt", name] | ["tts", text-or-[[lang, text]..]]
    OPT_PROMPT = 6  # null or a PROMPT
    OPT_STR = 7  # null or a string
    KEYS = 8  # list of unique DTMF keys, each 1+ chars of 0-9 * #
    ARGS = 9  # list of [name, EXPR] pairs, names unique
    ANNOUNCES = 10  # list of [kind "position"|"wait", every_ms, OPT_PROMPT]
    OFFERS = 11  # list of [kind "voicemail"|"callback", after_ms, key, OPT_PROMPT]
    KEY_PATTERNS = 12  # list of unique menu keys, literal or patterns (patterns.parse_key)
    BOOL = 13  # true or false
    SCRIPT = 14  # in-queue script: list of [start_ms, every_ms (0: once), PROMPT | "staffing"]


@dataclass(frozen=True, slots=True)
class OpSpec:
    """What an opcode takes: named, typed operands and named exits.

    `optional` exits may be left unset (NO_NODE); the VM then does the documented default.
    `keyed_from` names the KEYS operand whose entries add one exit each after the fixed exits.
    """

    operands: tuple[tuple[str, Kind], ...]
    exits: tuple[str, ...]
    optional: frozenset[str] = frozenset()
    keyed_from: str | None = None


_RETRY = frozenset({"noinput", "nomatch"})
_TRANSFER = frozenset({"done", "busy", "timeout"})

SPECS: dict[Op, OpSpec] = {
    Op.PLAY: OpSpec((("prompt", Kind.PROMPT),), ("next", "keyed"), frozenset({"keyed"})),
    Op.MENU: OpSpec(
        (("prompt", Kind.PROMPT), ("timeout_ms", Kind.INT), ("interdigit_ms", Kind.INT),
         ("noinput_retries", Kind.INT), ("nomatch_retries", Kind.INT),
         ("keys", Kind.KEY_PATTERNS), ("noinput_forever", Kind.BOOL),
         ("nomatch_forever", Kind.BOOL), ("reset_on_entry", Kind.BOOL)),
        ("noinput", "nomatch", "exhausted"), _RETRY | {"exhausted"}, "keys"),
    Op.COLLECT: OpSpec(
        (("var", Kind.VAR), ("prompt", Kind.PROMPT), ("min_digits", Kind.INT),
         ("max_digits", Kind.INT), ("terminator", Kind.OPT_STR), ("timeout_ms", Kind.INT),
         ("interdigit_ms", Kind.INT), ("pattern", Kind.OPT_STR), ("noinput_retries", Kind.INT),
         ("nomatch_retries", Kind.INT)),
        ("ok", "noinput", "nomatch", "exhausted"), _RETRY),
    Op.HOURS: OpSpec((("schedule", Kind.NAME),), ("open", "closed", "holiday"),
                     frozenset({"holiday"})),
    Op.BLACKLIST: OpSpec((("list", Kind.NAME), ("subject", Kind.EXPR)), ("listed", "clear")),
    Op.SET: OpSpec((("var", Kind.VAR), ("value", Kind.EXPR)), ("next",)),
    Op.BRANCH: OpSpec((("cond", Kind.EXPR),), ("true", "false")),
    Op.CALL_FUNCTION: OpSpec(
        (("function", Kind.NAME), ("args", Kind.ARGS), ("timeout_ms", Kind.INT),
         ("result_var", Kind.VAR), ("retries", Kind.INT)),
        ("ok", "error", "timeout"), frozenset({"timeout"})),
    Op.STAFFING: OpSpec((("group", Kind.NAME),), ("free", "busy", "none")),
    Op.QUEUE: OpSpec(
        (("group", Kind.NAME), ("priority", Kind.EXPR), ("timeout_ms", Kind.INT),
         ("routing", Kind.NAME), ("hold", Kind.OPT_PROMPT), ("announcements", Kind.ANNOUNCES),
         ("offers", Kind.OFFERS), ("keys", Kind.KEYS), ("capacity", Kind.INT),
         ("when_empty", Kind.NAME), ("script", Kind.SCRIPT), ("group_from", Kind.EXPR)),
        ("done", "timeout", "busy", "voicemail", "callback", "full", "failed"),
        frozenset({"done", "busy", "voicemail", "callback", "full", "failed"}), "keys"),
    Op.TRANSFER_AGENT: OpSpec((("agent", Kind.EXPR), ("timeout_ms", Kind.INT)),
                              ("done", "busy", "timeout"), _TRANSFER),
    Op.TRANSFER_NUMBER: OpSpec((("number", Kind.EXPR), ("timeout_ms", Kind.INT),
                                ("caller_id", Kind.EXPR)),
                               ("done", "busy", "timeout", "failed"), _TRANSFER | {"failed"}),
    Op.VOICEMAIL: OpSpec((("box", Kind.NAME), ("prompt", Kind.OPT_PROMPT), ("max_ms", Kind.INT)),
                         ("next", "done"), frozenset({"next", "done"})),
    Op.SURVEY: OpSpec(
        (("prompt", Kind.PROMPT), ("min_score", Kind.INT), ("max_score", Kind.INT),
         ("var", Kind.VAR), ("timeout_ms", Kind.INT), ("noinput_retries", Kind.INT),
         ("nomatch_retries", Kind.INT), ("thanks", Kind.OPT_PROMPT)),
        ("ok", "noinput", "nomatch", "exhausted"), _RETRY),
    Op.SET_LANGUAGE: OpSpec((("language", Kind.EXPR),), ("next",)),
    Op.CALL_FLOW: OpSpec((("flow", Kind.NAME),), ("next",)),
    Op.RETURN: OpSpec((), ()),
    Op.HANGUP: OpSpec((), ()),
    Op.TRANSFER_SIP: OpSpec((("uri", Kind.EXPR), ("timeout_ms", Kind.INT),
                             ("caller_id", Kind.EXPR)),
                            ("done", "busy", "timeout", "failed"), _TRANSFER | {"failed"}),
    Op.RECORD: OpSpec((("var", Kind.VAR), ("max_ms", Kind.INT), ("silence_ms", Kind.INT),
                       ("beep", Kind.BOOL), ("terminator", Kind.OPT_STR), ("box", Kind.OPT_STR)),
                      ("next",)),
    Op.PAUSE: OpSpec((("duration_ms", Kind.INT), ("barge_in", Kind.BOOL)), ("next",)),
}

OPERAND_INDEX: dict[Op, dict[str, int]] = {
    op: {name: i for i, (name, _) in enumerate(spec.operands)} for op, spec in SPECS.items()}
"""Per opcode, operand name -> its position: how the compiler and the VM read operands by name."""
EXIT_INDEX: dict[Op, dict[str, int]] = {
    op: {name: i for i, name in enumerate(spec.exits)} for op, spec in SPECS.items()}
"""Per opcode, fixed exit name -> its number (keyed exits follow, in the order of the keys)."""

QUEUE_ROUTINGS = frozenset({"longest-idle", "familiar"})
DATA_GROUP = "*"
"""The `group` operand of a queue whose group comes from data (its `group_from` expression)."""
MAX_RECORD_MS = 600_000
"""The longest `record` (10 minutes; the parser's maxlength range)."""
MAX_PAUSE_MS = 300_000
"""The longest `pause`."""
WHEN_EMPTY = frozenset({"busy", "wait"})
"""What a queue does when nobody of its group is logged in: take `busy`, or queue anyway."""
MAX_QUEUE_CAPACITY = 10_000
"""The largest `capacity` (0 means none)."""
MAX_SCRIPT_ITEMS = 32
"""Plays one in-queue script may list."""
ANNOUNCE_KINDS = frozenset({"position", "wait"})
OFFER_KINDS = frozenset({"voicemail", "callback"})
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
EXPR_OPS = COMPARISONS | ARITHMETIC | {"const", "var", "not", "neg", "and", "or", "in", "not in",
                                      "?", "list", "index", "call"}
_KEY_RE = re.compile(r"[0-9*#]+")
_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, slots=True)
class SourceLoc:
    """Where a node came from in the DSL (1-based line and column; end exclusive)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        if not self.file:
            return "<no location>"
        return f"{self.file}:{self.line}:{self.column}"


class SpanLike(Protocol):
    """Anything with a file and 1-based positions, e.g. the compiler's Span (duck-typed, so the
    runtime needs nothing from ccc_dsl)."""

    @property
    def file(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...
    @property
    def end_line(self) -> int: ...
    @property
    def end_column(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Node:
    """One decoded node: operand values resolved from the pool, exits as node indexes."""

    index: int
    op: Op
    operand_indexes: tuple[int, ...]
    operands: tuple[Const, ...]
    exits: tuple[int | None, ...]
    loc: SourceLoc

    def operand(self, name: str) -> Const:
        """The operand called `name` in the opcode's spec (KeyError for another name)."""
        return self.operands[OPERAND_INDEX[self.op][name]]

    def exit(self, name: str) -> int:
        """The number of the fixed exit called `name` in the opcode's spec."""
        return EXIT_INDEX[self.op][name]

    def key_exit(self, key: str) -> int:
        """The number of the keyed exit for `key` (a key of the opcode's KEYS operand)."""
        spec = SPECS[self.op]
        assert spec.keyed_from is not None
        keys = self.operand(spec.keyed_from)
        assert isinstance(keys, list)
        return len(spec.exits) + keys.index(key)

    def exit_name(self, number: int) -> str:
        """A readable name for exit `number`: its fixed name, or `key 1` for a keyed exit."""
        spec = SPECS[self.op]
        if number < len(spec.exits):
            return spec.exits[number]
        keys = self.operand(spec.keyed_from) if spec.keyed_from else []
        assert isinstance(keys, list)
        return f"key {keys[number - len(spec.exits)]!s}"


@dataclass(frozen=True, slots=True)
class FlowImage:
    """A decoded, verified flow."""

    format_version: int
    compiler_version: str
    source_hash: str
    name: str
    entry: int
    error_node: int | None
    constants: tuple[Const, ...]
    nodes: tuple[Node, ...]


# --------------------------------------------------------------------------------------------
# Validation of values (shared by the builder and the decoder)


_ARITY: dict[str, tuple[int, int | None]] = {
    "const": (1, 1), "var": (1, 1), "not": (1, 1), "neg": (1, 1), "and": (2, None),
    "or": (2, None), "?": (3, 3), "list": (0, None), "call": (1, None),
    **dict.fromkeys(ARITHMETIC, (2, None)),
}


def _call_problem(args: Sequence[Const]) -> str | None:
    """Why `["call", name, *args]` names no function or gives it the wrong number of
    arguments (FUNCTIONS is the table), or None."""
    name = args[0]
    function = FUNCTIONS.get(name) if isinstance(name, str) else None
    if function is None:
        return f"unknown function {name!r}"
    given = len(args) - 1
    if not function.required <= given <= len(function.params):
        return f"{name}() takes {function.required}..{len(function.params)} arguments, got {given}"
    return None


def check_expr(expr: Const, where: str) -> None:
    """Raise BytecodeError unless `expr` is a well-formed expression tree."""
    if not isinstance(expr, list) or not expr or not isinstance(expr[0], str):
        raise BytecodeError(f"{where}: an expression must be a list [operator, ...], got {expr!r}")
    op, args = expr[0], expr[1:]
    if op not in EXPR_OPS:
        raise BytecodeError(f"{where}: unknown expression operator {op!r}")
    low, high = _ARITY.get(op, (2, 2))
    if len(args) < low or (high is not None and len(args) > high):
        wanted = f"{low}" if high == low else f"at least {low}"
        raise BytecodeError(f"{where}: {op!r} takes {wanted} operands, got {len(args)}")
    if op == "const":
        return
    if op == "var":
        if not isinstance(args[0], str) or not _VAR_RE.fullmatch(args[0]):
            raise BytecodeError(f"{where}: 'var' takes a variable path like caller.number, "
                                f"got {args[0]!r}")
        return
    if op == "call":
        problem = _call_problem(args)
        if problem is not None:
            raise BytecodeError(f"{where}: {problem}")
        args = args[1:]
    for arg in args:
        check_expr(arg, where)


def _is_expr(expr: Const) -> bool:
    """Whether `check_expr` would accept `expr` (without building any message)."""
    if not isinstance(expr, list) or not expr:
        return False
    op = expr[0]
    if not isinstance(op, str) or op not in EXPR_OPS:
        return False
    low, high = _ARITY.get(op, (2, 2))
    n_args = len(expr) - 1
    if n_args < low or (high is not None and n_args > high):
        return False
    if op == "const":
        return True
    if op == "var":
        path = expr[1]
        return isinstance(path, str) and _VAR_RE.fullmatch(path) is not None
    if op == "call":
        return _call_problem(expr[1:]) is None and all(_is_expr(arg) for arg in expr[2:])
    return all(_is_expr(arg) for arg in expr[1:])


def _is_tts_text(value: Const) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and bool(value) and all(
        isinstance(p, list) and len(p) == 2 and (p[0] is None or isinstance(p[0], str))
        and isinstance(p[1], str) for p in value)


def _is_prompt(value: Const) -> bool:
    if not (isinstance(value, list) and len(value) >= 2 and isinstance(value[0], bool)):
        return False
    for item in value[1:]:
        if not (isinstance(item, list) and len(item) == 2 and (
                (item[0] == "prompt" and isinstance(item[1], str) and item[1])
                or (item[0] == "recording" and _is_var(item[1]))
                or (item[0] == "tts" and _is_tts_text(item[1])))):
            return False
    return True


def _check_prompt(value: Const, where: str) -> None:
    if not _is_prompt(value):
        raise BytecodeError(f"{where}: a prompt must be [barge_in, item, ...] with items "
                            f"[\"prompt\", name], [\"recording\", variable] or [\"tts\", text], "
                            f"got {value!r}")


def _is_keys(value: Const) -> bool:
    return (isinstance(value, list)
            and all(isinstance(v, str) and _KEY_RE.fullmatch(v) for v in value)
            and len({str(v) for v in value}) == len(value))


def _is_key_patterns(value: Const) -> bool:
    """A menu's keys: at most MAX_MENU_KEYS, unique, each a key in the notation of
    patterns.parse_key (so the VM can parse every one without a failure)."""
    return (isinstance(value, list) and len(value) <= MAX_MENU_KEYS
            and all(isinstance(v, str) and key_error(v) is None for v in value)
            and len({str(v) for v in value}) == len(value))


def _check_list_of(value: Const, where: str, what: str,
                   check: Callable[[list[Const]], bool]) -> None:
    if not isinstance(value, list) or not all(isinstance(v, list) and check(v) for v in value):
        raise BytecodeError(f"{where}: expected a list of {what}, got {value!r}")


def _check_operand(kind: Kind, value: Const, where: str) -> None:
    ok = True
    if kind is Kind.NAME:
        ok = isinstance(value, str) and bool(value)
    elif kind is Kind.VAR:
        ok = isinstance(value, str) and _VAR_RE.fullmatch(value) is not None
    elif kind is Kind.INT:
        ok = _is_ms(value)
    elif kind is Kind.EXPR:
        check_expr(value, where)
    elif kind is Kind.PROMPT:
        _check_prompt(value, where)
    elif kind is Kind.OPT_PROMPT:
        if value is not None:
            _check_prompt(value, where)
    elif kind is Kind.OPT_STR:
        ok = value is None or isinstance(value, str)
    elif kind is Kind.KEYS:
        ok = _is_keys(value)
    elif kind is Kind.KEY_PATTERNS:
        ok = _is_key_patterns(value)
    elif kind is Kind.BOOL:
        ok = isinstance(value, bool)
    elif kind is Kind.SCRIPT:
        _check_list_of(value, where, "[start_ms, every_ms, prompt or \"staffing\"] entries",
                       lambda a: len(a) == 3 and _is_ms(a[0]) and _is_ms(a[1]))
        assert isinstance(value, list)
        ok = len(value) <= MAX_SCRIPT_ITEMS
        for item in value:
            assert isinstance(item, list)
            if item[2] != "staffing":
                _check_operand(Kind.PROMPT, item[2], where)
    elif kind is Kind.ARGS:
        _check_list_of(value, where, "[name, expression] pairs",
                       lambda p: len(p) == 2 and isinstance(p[0], str) and bool(p[0]))
        assert isinstance(value, list)
        names = [str(p[0]) for p in value if isinstance(p, list)]
        ok = len(set(names)) == len(names)
        for pair in value:
            assert isinstance(pair, list)
            check_expr(pair[1], f"{where} argument {pair[0]!r}")
    elif kind is Kind.ANNOUNCES:
        _check_list_of(value, where, "[kind, every_ms, prompt] announcements",
                       lambda a: len(a) == 3 and isinstance(a[0], str)
                       and a[0] in ANNOUNCE_KINDS and _is_ms(a[1]))
        assert isinstance(value, list)
        for item in value:
            assert isinstance(item, list)
            _check_operand(Kind.OPT_PROMPT, item[2], where)
    elif kind is Kind.OFFERS:
        _check_list_of(value, where, "[kind, after_ms, key, prompt] offers",
                       lambda o: len(o) == 4 and isinstance(o[0], str)
                       and o[0] in OFFER_KINDS and _is_ms(o[1])
                       and _is_keys([o[2]]))
        assert isinstance(value, list)
        for item in value:
            assert isinstance(item, list)
            _check_operand(Kind.OPT_PROMPT, item[3], where)
    if not ok:
        raise BytecodeError(f"{where}: expected {kind.name.lower()}, got {value!r}")


MAX_INT_OPERAND = 2**31 - 1
"""The largest `int` operand (about 24.8 days in ms): an image is never trusted, and a
hand-made one must not overflow the clock with a timeout of 10^30 ms."""


def _is_ms(value: Const) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and 0 <= value <= MAX_INT_OPERAND)


def _check_semantics(op: Op, values: dict[str, Const], where: str) -> None:
    """Cross-operand rules that keep the VM free of surprises."""
    if op is Op.MENU:
        keys = values["keys"]
        assert isinstance(keys, list)
        if values["interdigit_ms"] == 0 and any(isinstance(k, str) and len(parse_key(k)) > 1
                                                for k in keys):
            raise BytecodeError(f"{where}: multi-digit keys need interdigit_ms > 0")
    elif op is Op.COLLECT:
        lo, hi = values["min_digits"], values["max_digits"]
        assert isinstance(lo, int) and isinstance(hi, int)
        if not 1 <= lo <= hi:
            raise BytecodeError(f"{where}: need 1 <= min_digits <= max_digits, got {lo}..{hi}")
        term = values["terminator"]
        if term is not None and term not in ("#", "*"):
            raise BytecodeError(f"{where}: the terminator must be '#' or '*', got {term!r}")
        pattern = values["pattern"]
        if pattern is not None:
            assert isinstance(pattern, str)
            try:
                compile_pattern(pattern)
            except PatternError as exc:
                raise BytecodeError(f"{where}: bad pattern {pattern!r}: {exc}") from None
    elif op is Op.SURVEY:
        lo, hi = values["min_score"], values["max_score"]
        assert isinstance(lo, int) and isinstance(hi, int)
        if not lo <= hi <= 9:
            raise BytecodeError(f"{where}: need min_score <= max_score <= 9, got {lo}..{hi}")
    elif op is Op.QUEUE:
        if values["when_empty"] not in WHEN_EMPTY:
            raise BytecodeError(f"{where}: unknown when_empty {values['when_empty']!r}; expected "
                                f"one of {', '.join(sorted(WHEN_EMPTY))}")
        capacity = values["capacity"]
        assert isinstance(capacity, int)
        if capacity > MAX_QUEUE_CAPACITY:
            raise BytecodeError(f"{where}: capacity {capacity} is over {MAX_QUEUE_CAPACITY}")
        if values["routing"] not in QUEUE_ROUTINGS:
            raise BytecodeError(f"{where}: unknown routing {values['routing']!r}; expected one "
                                f"of {', '.join(sorted(QUEUE_ROUTINGS))}")
        offers, keys = values["offers"], values["keys"]
        assert isinstance(offers, list) and isinstance(keys, list)
        offer_keys = [o[2] for o in offers if isinstance(o, list)]
        if len(set(map(str, offer_keys))) != len(offer_keys) or set(map(str, offer_keys)) & set(
                map(str, keys)):
            raise BytecodeError(f"{where}: offer keys must be unique and not queue keys")
    elif op is Op.RECORD:
        max_ms, silence_ms = values["max_ms"], values["silence_ms"]
        assert isinstance(max_ms, int) and isinstance(silence_ms, int)
        if not 1 <= max_ms <= MAX_RECORD_MS or silence_ms >= max_ms:
            raise BytecodeError(f"{where}: need 1 <= max_ms <= {MAX_RECORD_MS} and silence_ms "
                                f"< max_ms, got {max_ms} and {silence_ms}")
        term, box = values["terminator"], values["box"]
        if term is not None and not (isinstance(term, str) and _is_keys([term])
                                     and len(term) == 1):
            raise BytecodeError(f"{where}: the terminator must be one key, got {term!r}")
        if box is not None and not box:
            raise BytecodeError(f"{where}: an empty voicemail box")
    elif op is Op.PAUSE:
        duration = values["duration_ms"]
        assert isinstance(duration, int)
        if duration > MAX_PAUSE_MS:
            raise BytecodeError(f"{where}: a pause of {duration} ms is over {MAX_PAUSE_MS}")
    elif op is Op.CALL_FUNCTION:
        retries, timeout = values["retries"], values["timeout_ms"]
        assert isinstance(retries, int) and isinstance(timeout, int)
        if retries > MAX_FUNCTION_RETRIES or timeout > MAX_FUNCTION_TIMEOUT_MS:
            raise BytecodeError(f"{where}: need retries <= {MAX_FUNCTION_RETRIES} and "
                                f"timeout_ms <= {MAX_FUNCTION_TIMEOUT_MS}, got {retries} and "
                                f"{timeout}")


def exit_count(op: Op, operands: Sequence[Const]) -> int:
    """How many exits a node with these operands has (fixed exits + one per key)."""
    spec = SPECS[op]
    if spec.keyed_from is None:
        return len(spec.exits)
    names = [n for n, _ in spec.operands]
    keys = operands[names.index(spec.keyed_from)]
    return len(spec.exits) + (len(keys) if isinstance(keys, list) else 0)


def _verify_node(op: Op, operands: Sequence[Const], exits: Sequence[int | None],
                 node_count: int, where: str) -> None:
    spec = SPECS[op]
    if len(operands) != len(spec.operands):
        raise BytecodeError(f"{where}: {op.name} takes {len(spec.operands)} operands, "
                            f"got {len(operands)}")
    values: dict[str, Const] = {}
    for (name, kind), value in zip(spec.operands, operands, strict=True):
        _check_operand(kind, value, f"{where} operand {name!r}")
        values[name] = value
    _check_semantics(op, values, where)
    want = exit_count(op, operands)
    if len(exits) != want:
        raise BytecodeError(f"{where}: {op.name} has {want} exits, got {len(exits)}")
    for number, target in enumerate(exits):
        name = spec.exits[number] if number < len(spec.exits) else "key"
        if target is None:
            if number < len(spec.exits) and name in spec.optional:
                continue
            raise BytecodeError(f"{where}: exit {number} ({name}) is not connected")
        if not 0 <= target < node_count:
            raise BytecodeError(f"{where}: exit {number} ({name}) targets node {target}, "
                                f"out of range 0..{node_count - 1}")


# --------------------------------------------------------------------------------------------
# Encoding

_U32 = struct.Struct("<I").pack
_I64 = struct.Struct("<q").pack
_F64 = struct.Struct("<d").pack
_LOC = struct.Struct("<5I")


def _enc_str(out: bytearray, text: str) -> None:
    data = text.encode("utf-8")
    out += _U32(len(data))
    out += data


class _NotConst(Exception):
    """Raised inside the encoder for a value the pool can't hold (reported by `_const_key`)."""


def _enc_const(out: bytearray, value: Const, depth: int = 0) -> None:
    """Append the encoding of `value`; _NotConst if it isn't a constant (another type, an
    integer outside 64 bits, nested deeper than MAX_CONST_DEPTH). The commonest types first."""
    if isinstance(value, str):
        data = value.encode("utf-8")
        out.append(4)
        out += _U32(len(data))
        out += data
    elif isinstance(value, list):
        if value and depth >= MAX_CONST_DEPTH:
            raise _NotConst
        out.append(5)
        out += _U32(len(value))
        for item in value:  # strings, booleans, null and lists of strings inline: most are
            if isinstance(item, str):
                data = item.encode("utf-8")
                out.append(4)
                out += _U32(len(data))
                out += data
            elif item is False:
                out.append(1)
            elif item is True:
                out.append(2)
            elif item is None:
                out.append(0)
            elif isinstance(item, list) and depth + 1 < MAX_CONST_DEPTH:
                out.append(5)
                out += _U32(len(item))
                for sub in item:
                    if isinstance(sub, str):
                        data = sub.encode("utf-8")
                        out.append(4)
                        out += _U32(len(data))
                        out += data
                    else:
                        _enc_const(out, sub, depth + 2)
            else:
                _enc_const(out, item, depth + 1)
    elif value is None:
        out.append(0)
    elif value is False:
        out.append(1)
    elif value is True:
        out.append(2)
    elif isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise _NotConst
        out.append(3)
        out += _I64(value)
    elif isinstance(value, float):
        out.append(6)
        out += _F64(value)
    else:
        raise _NotConst


def _const_key(value: Const) -> bytes:
    """The encoding of a constant, which is also its type-exact identity in the pool (so True
    and 1, or 1 and "1", stay distinct). BytecodeError if `value` is not a constant."""
    out = bytearray()
    try:
        _enc_const(out, value)
    except _NotConst:
        raise BytecodeError(f"not a constant (null, bool, 64-bit int, float, str or list): "
                            f"{value!r}") from None
    return bytes(out)


@dataclass(frozen=True, slots=True)
class _BuildSpec:
    """An opcode's spec in the shape the builder looks things up in (computed once)."""

    kinds: tuple[Kind, ...]
    names: tuple[str, ...]
    exit_numbers: dict[str, int]
    keyed_at: int | None
    """Position of the KEYS operand whose entries add exits, if any."""
    required: tuple[bool, ...]
    """Per fixed exit: must it be connected?"""
    checks: tuple[Callable[[Const], bool], ...]
    """Per operand, its type's entry in `_QUICK_CHECKS`."""
    semantic: bool
    """Whether `_check_semantics` has rules for the opcode."""


def _is_name(value: Const) -> bool:
    return isinstance(value, str) and bool(value)


def _is_var(value: Const) -> bool:
    return isinstance(value, str) and _VAR_RE.fullmatch(value) is not None


def _is_opt_prompt(value: Const) -> bool:
    return value is None or _is_prompt(value)


def _is_opt_str(value: Const) -> bool:
    return value is None or isinstance(value, str)


def _is_args(value: Const) -> bool:
    if not isinstance(value, list):
        return False
    names: set[str] = set()
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                and pair[0] and pair[0] not in names and _is_expr(pair[1])):
            return False
        names.add(pair[0])
    return True


def _is_announces(value: Const) -> bool:
    return isinstance(value, list) and all(
        isinstance(a, list) and len(a) == 3 and isinstance(a[0], str) and a[0] in ANNOUNCE_KINDS
        and _is_ms(a[1]) and _is_opt_prompt(a[2]) for a in value)


def _is_offers(value: Const) -> bool:
    return isinstance(value, list) and all(
        isinstance(o, list) and len(o) == 4 and isinstance(o[0], str) and o[0] in OFFER_KINDS
        and _is_ms(o[1]) and _is_keys([o[2]]) and _is_opt_prompt(o[3]) for o in value)


def _is_script(value: Const) -> bool:
    return isinstance(value, list) and len(value) <= MAX_SCRIPT_ITEMS and all(
        isinstance(a, list) and len(a) == 3 and _is_ms(a[0]) and _is_ms(a[1])
        and (a[2] == "staffing" or _is_prompt(a[2])) for a in value)


_QUICK_CHECKS: dict[Kind, Callable[[Const], bool]] = {
    Kind.NAME: _is_name, Kind.VAR: _is_var, Kind.INT: _is_ms, Kind.EXPR: _is_expr,
    Kind.PROMPT: _is_prompt, Kind.OPT_PROMPT: _is_opt_prompt, Kind.OPT_STR: _is_opt_str,
    Kind.KEYS: _is_keys, Kind.ARGS: _is_args, Kind.ANNOUNCES: _is_announces,
    Kind.OFFERS: _is_offers, Kind.KEY_PATTERNS: _is_key_patterns,
    Kind.BOOL: lambda v: isinstance(v, bool), Kind.SCRIPT: _is_script,
}
"""Per operand type, a check that says yes exactly to what `_check_operand` accepts, without
building any message; for a no, `_check_operand` decides and words the error. The builder and
the decoder's quick reading (`_read_valid`) check every operand with these."""

_BUILD_SPECS: dict[Op, _BuildSpec] = {
    op: _BuildSpec(
        tuple(k for _, k in spec.operands), tuple(n for n, _ in spec.operands),
        {name: i for i, name in enumerate(spec.exits)},
        None if spec.keyed_from is None else [n for n, _ in spec.operands].index(spec.keyed_from),
        tuple(name not in spec.optional for name in spec.exits),
        tuple(_QUICK_CHECKS[k] for _, k in spec.operands),
        op in (Op.MENU, Op.COLLECT, Op.SURVEY, Op.QUEUE, Op.RECORD, Op.PAUSE))
    for op, spec in SPECS.items()
}


@dataclass(slots=True)
class _PendingNode:
    op: Op
    operands: list[int]
    exits: list[int | None]
    loc: tuple[str, int, int, int, int]
    """The line-table entry: file, line, column, end line, end column."""


_NO_LOC = ("", 0, 0, 0, 0)


def exit_numbers(op: Op, operands: Sequence[Const]) -> Mapping[str, int]:
    """Exit name -> number for a node with these operands: the opcode's fixed exits, then one
    per key (`"1"`). Its length is the node's exit count."""
    spec = _BUILD_SPECS[op]
    if spec.keyed_at is None or spec.keyed_at >= len(operands):  # (too few: add_node says so)
        return spec.exit_numbers
    keys = operands[spec.keyed_at]
    numbers = dict(spec.exit_numbers)
    if isinstance(keys, list):
        for i, key in enumerate(keys, len(numbers)):
            numbers.setdefault(str(key), i)
    return numbers


def _identity(value: list[Const]) -> bytes | None:
    """An exact, type-faithful identity of a list value, as a dict key: its `marshal.dumps`
    (the same bytes only for the same nesting of the same types and values, True and 1 apart;
    a str or int subclass isn't marshalled: None, as for anything marshal refuses). Only ever a
    key in `_ENCODED`, `_CHECKED` and `_NODES` of this process: never stored, never loaded."""
    try:
        return marshal.dumps(value)
    except ValueError:
        return None


_NODE_PACKERS: dict[tuple[int, int], Callable[..., bytes]] = {}
"""(operand count, exit count) -> the `pack` of a node table entry of that shape (compiled once
per process: a repo's flows share a handful of shapes)."""
_SINGLE_KEYS: dict[Const, bytes] = {None: b"\x00", False: b"\x01", True: b"\x02"}
_MEMO_LIMIT = 50_000
_ENCODED: dict[bytes, bytes] = {}
"""`_identity` of a list constant -> its pool encoding: a repo's flows repeat their prompts,
key lists and expressions (the benchmark corpus: 115 distinct lists among 34,270 operands),
and each is encoded once per process. Cleared when it reaches `_MEMO_LIMIT` entries."""
_CHECKED: set[tuple[Kind, bytes]] = set()
"""(operand type, `_identity`) of list operands that passed their type's check."""
_NODES: dict[tuple[Op, bytes], tuple[tuple[bytes, ...], int]] = {}
"""(opcode, `marshal.dumps` of the operands) of a node that passed every check -> its operands'
pool encodings and its exit count: the benchmark corpus has 690 distinct nodes among 35,788."""


def _key(value: Const) -> bytes:
    """The pool encoding of a constant (BytecodeError if it isn't one); a list's is looked up
    by its `_identity` first."""
    kind = type(value)
    if kind is str:  # the commonest constants: names, then durations
        data = value.encode("utf-8")  # type: ignore[union-attr]
        return b"\x04" + _U32(len(data)) + data
    if kind is int and MIN_INT <= value <= MAX_INT:  # type: ignore[operator]
        return b"\x03" + _I64(value)
    if value is None or value is False or value is True:
        return _SINGLE_KEYS[value]
    ident = _identity(value) if kind is list else None  # type: ignore[arg-type]
    if ident is None:
        return _const_key(value)
    found = _ENCODED.get(ident)
    if found is None:
        found = _const_key(value)
        if len(_ENCODED) >= _MEMO_LIMIT:
            _ENCODED.clear()
        _ENCODED[ident] = found
    return found


class FlowBuilder:
    """Assembles one flow image. The compiler's API for emitting bytecode.

    Operands are given as values; the builder checks them against the opcode's types and
    interns them in the constant pool (deduplicated, in first-use order). Nodes are numbered in
    the order they are added; node 0 is the entry unless `set_entry` says otherwise. Same calls
    in the same order -> the same bytes.

    `source_file`, when given, is the file every node's location names (the compiler's spans
    name a file as it was opened; the image names it relative to the repo).
    """

    def __init__(self, name: str, source_hash: str, compiler_version: str, *,
                 source_file: str | None = None) -> None:
        self.name = name
        self.source_hash = source_hash
        self.compiler_version = compiler_version
        self.source_file = source_file
        self._consts: list[Const] = []
        self._encoded: list[bytes] = []
        self._const_index: dict[bytes, int] = {}
        self._nodes: list[_PendingNode] = []
        self._entry = 0
        self._error_node: int | None = None

    def const(self, value: Const) -> int:
        """The pool index of `value`, adding it if new."""
        return self._index(_key(value), value)

    def _index(self, key: bytes, value: Const) -> int:
        """The pool index of the constant encoded as `key`, adding it if new."""
        index = self._const_index.get(key)
        if index is None:
            index = self._const_index[key] = len(self._consts)
            self._consts.append(value)
            self._encoded.append(key)
        return index

    def add_node(self, op: Op, operands: Sequence[Const],
                 exits: Sequence[int | None] | None = None,
                 span: SpanLike | SourceLoc | None = None) -> int:
        """Add a node; return its index. `exits` may be given now or later with `set_exit`
        (None = unconnected). The opcode's operand types are checked here, at the call site
        (once per process for the same opcode and operands: `_NODES`)."""
        if type(op) is not Op:
            op = Op(op)
        try:
            ident: tuple[Op, bytes] | None = (op, marshal.dumps(operands))  # type: ignore[arg-type]
        except ValueError:  # not plain data: not memoized (and refused below)
            ident = None
        known = _NODES.get(ident) if ident is not None else None
        if known is None:
            want = self._checked(op, operands)
            keys = None
        else:
            keys, want = known
        exit_list: list[int | None] = list(exits) if exits is not None else [None] * want
        if len(exit_list) != want:
            raise BytecodeError(f"node {len(self._nodes)} ({op.name}): {op.name} has {want} "
                                f"exits, got {len(exit_list)}")
        loc = _NO_LOC if span is None else (
            span.file if self.source_file is None else self.source_file,
            span.line, span.column, span.end_line, span.end_column)
        if keys is None:
            keys = tuple([_key(value) for value in operands])  # BytecodeError: not a constant
            if ident is not None:
                if len(_NODES) >= _MEMO_LIMIT:
                    _NODES.clear()
                _NODES[ident] = (keys, want)
        index = self._index
        self._nodes.append(_PendingNode(
            op, [index(key, value) for key, value in zip(keys, operands, strict=True)],
            exit_list, loc))
        return len(self._nodes) - 1

    def _checked(self, op: Op, operands: Sequence[Const]) -> int:
        """Check a node's operands (their number, each one's type, the opcode's rules); return
        how many exits it has. BytecodeError, with the node's number, for a bad one."""
        spec = _BUILD_SPECS[op]
        kinds = spec.kinds
        if len(operands) != len(kinds):
            raise BytecodeError(
                f"node {len(self._nodes)} ({op.name}): {op.name} takes {len(kinds)} operands "
                f"({', '.join(spec.names)}), got {len(operands)}")
        for i, (check, value, kind) in enumerate(zip(spec.checks, operands, kinds,
                                                     strict=False)):
            ident = _identity(value) if type(value) is list else None
            if ident is not None and (kind, ident) in _CHECKED:
                continue  # checked once per distinct list (flows repeat them)
            if not check(value):  # `_check_operand` decides, and words the error
                _check_operand(kind, value, f"node {len(self._nodes)} ({op.name}) operand "
                               f"{spec.names[i]!r}")
            if ident is not None:
                if len(_CHECKED) >= _MEMO_LIMIT:
                    _CHECKED.clear()
                _CHECKED.add((kind, ident))
        if spec.semantic:
            _check_semantics(op, dict(zip(spec.names, operands, strict=True)),
                             f"node {len(self._nodes)} ({op.name})")
        want = len(spec.required)
        if spec.keyed_at is not None:
            keys = operands[spec.keyed_at]
            want += len(keys) if isinstance(keys, list) else 0
        return want

    def set_exit(self, node: int, exit_number: int, target: int | None) -> None:
        """Connect exit `exit_number` of `node` to `target` (a node index)."""
        self._nodes[node].exits[exit_number] = target

    def exit_number(self, node: int, name: str) -> int:
        """The number of the named exit (`"ok"`, `"timeout"`, or a key such as `"1"`)."""
        pending = self._nodes[node]
        spec = _BUILD_SPECS[pending.op]
        number = spec.exit_numbers.get(name)
        if number is not None:
            return number
        if spec.keyed_at is not None:
            keys = self._consts[pending.operands[spec.keyed_at]]
            if isinstance(keys, list) and name in keys:
                return len(spec.required) + keys.index(name)
        raise KeyError(f"{pending.op.name} has no exit {name!r}")

    def set_entry(self, node: int) -> None:
        self._entry = node

    def set_error_node(self, node: int | None) -> None:
        """The flow's error handler: where a fault (template error, bad expression) goes."""
        self._error_node = node

    @property
    def node_count(self) -> int:
        return len(self._nodes)

    def build(self, verify: bool = True) -> bytes:
        """The image bytes. With `verify` (the default) they are checked by decoding them, so a
        builder can't emit a bad image. Without, only what `add_node` can't see is checked
        (exits connected and in range, entry and error node in range): the compiler, whose
        images the tests decode, uses that and skips decoding what it has just written."""
        nodes = self._nodes
        if not verify:
            self._check_links()
        out = bytearray(MAGIC)
        out += struct.pack("<HH", FORMAT_VERSION, 0)
        _enc_str(out, self.compiler_version)
        _enc_str(out, self.source_hash)
        _enc_str(out, self.name)
        error = NO_NODE if self._error_node is None else self._error_node
        out += struct.pack("<III", self._entry, error, len(self._encoded))
        out += b"".join(self._encoded)
        out += _U32(len(nodes))
        packers = _NODE_PACKERS
        for node in nodes:
            n_ops, n_exits = len(node.operands), len(node.exits)
            pack = packers.get((n_ops, n_exits))
            if pack is None:
                pack = packers[n_ops, n_exits] = struct.Struct(f"<BH{n_ops}IH{n_exits}I").pack
            out += pack(node.op, n_ops, *node.operands, n_exits,
                        *[NO_NODE if t is None else t for t in node.exits])
        files = sorted({n.loc[0] for n in nodes})
        file_index = {file: i for i, file in enumerate(files)}
        out += _U32(len(files))
        for file in files:
            _enc_str(out, file)
        pack_loc = _LOC.pack
        for node in nodes:
            file, line, column, end_line, end_column = node.loc
            out += pack_loc(file_index[file], line, column, end_line, end_column)
        out += _U32(zlib.crc32(out))
        data = bytes(out)
        if verify:
            decode(data)
        return data

    def _check_links(self) -> None:
        """The checks of `decode` that concern exits, the entry and the error node."""
        count = len(self._nodes)
        if not count:
            raise BytecodeError("the flow has no nodes")
        if not 0 <= self._entry < count:
            raise BytecodeError(f"entry node {self._entry} out of range 0..{count - 1}")
        if self._error_node is not None and not 0 <= self._error_node < count:
            raise BytecodeError(f"error node {self._error_node} out of range 0..{count - 1}")
        for i, node in enumerate(self._nodes):
            required = _BUILD_SPECS[node.op].required
            for number, target in enumerate(node.exits):
                if target is None:
                    if number < len(required) and not required[number]:
                        continue
                elif 0 <= target < count:
                    continue
                _verify_node(node.op, [self._consts[k] for k in node.operands], node.exits,
                             count, f"node {i} ({node.op.name}, {SourceLoc(*node.loc)})")


# --------------------------------------------------------------------------------------------
# Decoding


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BytecodeError(f"truncated image: {what} at byte {self.pos} needs {n} bytes, "
                                f"{len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def u32(self, what: str) -> int:
        return self.unpack("<I", what)[0]

    def count(self, what: str, min_item_size: int) -> int:
        """A u32 count that the remaining bytes can actually hold (no giant allocations)."""
        n = self.u32(what)
        if n * min_item_size > len(self.data) - self.pos:
            raise BytecodeError(f"truncated image: {what} says {n} entries, only "
                                f"{len(self.data) - self.pos} bytes left")
        return n

    def string(self, what: str) -> str:
        raw = self.take(self.u32(f"{what} length"), what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BytecodeError(f"{what} at byte {self.pos - len(raw)} is not UTF-8") from None

    def const(self, depth: int = 0) -> Const:
        if depth > MAX_CONST_DEPTH:
            raise BytecodeError(f"constant nested deeper than {MAX_CONST_DEPTH} at byte {self.pos}")
        tag = self.take(1, "constant tag")[0]
        if tag == 0:
            return None
        if tag == 1:
            return False
        if tag == 2:
            return True
        if tag == 3:
            return int(self.unpack("<q", "integer constant")[0])
        if tag == 4:
            return self.string("string constant")
        if tag == 5:
            return [self.const(depth + 1) for _ in range(self.count("list constant", 1))]
        if tag == 6:
            return float(self.unpack("<d", "float constant")[0])
        raise BytecodeError(f"unknown constant tag {tag} at byte {self.pos - 1}")


def decode(data: bytes) -> FlowImage:
    """Decode and verify an image; raise BytecodeError for anything untrustworthy.

    Every image is read first by `_read_valid`, which checks all that `_decode_checked` checks
    but only says yes or no (no error context is formatted for each node and operand, which
    took most of the time); an image it refuses is read again by `_decode_checked`, whose
    message names what is wrong. The result is the same either way."""
    image = _read_valid(data)
    return image if image is not None else _decode_checked(data)


class _Invalid(Exception):
    """Raised inside `_read_valid` for anything `_decode_checked` would refuse."""


_OPCODES: dict[int, Op] = {op.value: op for op in Op}
_VERIFIED: set[tuple[Op | bytes, ...]] = set()
"""(opcode, each operand's encoding) of nodes whose operands passed their checks and the
opcode's rules: a value is a function of its encoding, so the checks' answer is too (images
of one repo repeat their nodes)."""
_RULED = frozenset({Op.MENU, Op.COLLECT, Op.SURVEY, Op.QUEUE, Op.RECORD, Op.PAUSE,
                    Op.CALL_FUNCTION})
"""The opcodes `_check_semantics` has rules for."""
_U32_AT = struct.Struct("<I").unpack_from
_HEAD_AT = struct.Struct("<HH").unpack_from
_NODE_HEAD_AT = struct.Struct("<BH").unpack_from
_U16_AT = struct.Struct("<H").unpack_from
_I64_AT = struct.Struct("<q").unpack_from
_F64_AT = struct.Struct("<d").unpack_from
_ENTRY_AT = struct.Struct("<II").unpack_from
_LOC_AT = _LOC.unpack_from
_U32S: dict[int, Callable[[bytes, int], tuple[int, ...]]] = {}


def _u32s(count: int) -> Callable[[bytes, int], tuple[int, ...]]:
    """`unpack_from` of `count` u32s (compiled once per count)."""
    unpack = _U32S.get(count)
    if unpack is None:
        unpack = _U32S[count] = struct.Struct(f"<{count}I").unpack_from
    return unpack


def _str_at(body: bytes, pos: int) -> tuple[str, int]:
    (size,) = _U32_AT(body, pos)
    pos += 4
    end = pos + size
    if end > len(body):
        raise _Invalid
    return body[pos:end].decode("utf-8"), end


def _const_at(body: bytes, pos: int, depth: int) -> tuple[Const, int]:
    """The constant at `pos` (at nesting `depth`, as `_Reader.const`) and the position after."""
    if depth > MAX_CONST_DEPTH:
        raise _Invalid
    tag = body[pos]
    pos += 1
    if tag == 4:
        return _str_at(body, pos)
    if tag == 5:
        (count,) = _U32_AT(body, pos)
        pos += 4
        if count > len(body) - pos:
            raise _Invalid
        items: list[Const] = []
        append = items.append
        for _ in range(count):
            item, pos = _const_at(body, pos, depth + 1)
            append(item)
        return items, pos
    if tag == 0:
        return None, pos
    if tag == 1:
        return False, pos
    if tag == 2:
        return True, pos
    if tag == 3:
        return _I64_AT(body, pos)[0], pos + 8
    if tag == 6:
        return _F64_AT(body, pos)[0], pos + 8
    raise _Invalid


def _read_valid(data: bytes) -> FlowImage | None:
    """The image, if `_decode_checked` would accept it, read and checked without composing any
    message; None if anything is wrong (or the data isn't `bytes`)."""
    if type(data) is not bytes or len(data) < 12 or data[:4] != MAGIC:
        return None
    version, flags = _HEAD_AT(data, 4)
    body = data[:-4]
    if version != FORMAT_VERSION or flags or zlib.crc32(body) != _U32_AT(data, len(body))[0]:
        return None
    try:
        return _read_body(body, version)
    except (_Invalid, struct.error, IndexError, KeyError, UnicodeDecodeError, BytecodeError):
        return None


def _read_body(body: bytes, version: int) -> FlowImage:
    compiler_version, pos = _str_at(body, 8)
    source_hash, pos = _str_at(body, pos)
    name, pos = _str_at(body, pos)
    entry, error_raw = _ENTRY_AT(body, pos)
    (count,) = _U32_AT(body, pos + 8)
    pos += 12
    if count > len(body) - pos:
        raise _Invalid
    pool: list[Const] = []
    encodings: list[bytes] = []  # each constant's, for `_VERIFIED`
    for _ in range(count):
        start = pos
        value, pos = _const_at(body, pos, 0)
        pool.append(value)
        encodings.append(body[start:pos])
    constants = tuple(pool)
    n_consts = len(constants)
    (count,) = _U32_AT(body, pos)
    pos += 4
    if count * 5 > len(body) - pos:
        raise _Invalid
    raw: list[tuple[Op, tuple[int, ...], tuple[int | None, ...]]] = []
    for _ in range(count):
        op_raw, n_ops = _NODE_HEAD_AT(body, pos)
        operand_idx = _u32s(n_ops)(body, pos + 3)
        pos += 3 + 4 * n_ops
        (n_exits,) = _U16_AT(body, pos)
        exits: tuple[int | None, ...] = _u32s(n_exits)(body, pos + 2)
        pos += 2 + 4 * n_exits
        op = _OPCODES[op_raw]
        if operand_idx and max(operand_idx) >= n_consts:
            raise _Invalid
        if NO_NODE in exits:
            exits = tuple(None if t == NO_NODE else t for t in exits)
        raw.append((op, operand_idx, exits))
    (count,) = _U32_AT(body, pos)
    pos += 4
    if count * 4 > len(body) - pos:
        raise _Invalid
    files: list[str] = []
    for _ in range(count):
        file, pos = _str_at(body, pos)
        files.append(file)
    node_count = len(raw)
    locs: list[SourceLoc] = []
    for _ in range(node_count):
        f, line, col, end_line, end_col = _LOC_AT(body, pos)
        pos += 20
        locs.append(SourceLoc(files[f], line, col, end_line, end_col))
    if pos != len(body) or not raw or entry >= node_count:
        raise _Invalid
    error_node = None if error_raw == NO_NODE else error_raw
    if error_node is not None and error_node >= node_count:
        raise _Invalid
    nodes: list[Node] = []
    for i, (op, operand_idx, exits) in enumerate(raw):
        spec = _BUILD_SPECS[op]
        if len(operand_idx) != len(spec.kinds):
            raise _Invalid
        operands = tuple([constants[k] for k in operand_idx])
        ident: tuple[Op | bytes, ...] = (op, *[encodings[k] for k in operand_idx])
        if ident not in _VERIFIED:
            for check, value in zip(spec.checks, operands, strict=True):
                if not check(value):
                    raise _Invalid
            if op in _RULED:  # BytecodeError when a rule is broken
                _check_semantics(op, dict(zip(spec.names, operands, strict=True)), "")
            if len(_VERIFIED) >= _MEMO_LIMIT:
                _VERIFIED.clear()
            _VERIFIED.add(ident)
        required = spec.required
        want = len(required)
        if spec.keyed_at is not None:
            keys = operands[spec.keyed_at]
            want += len(keys) if isinstance(keys, list) else 0
        if len(exits) != want:
            raise _Invalid
        for number, target in enumerate(exits):
            if target is None:
                if number < len(required) and not required[number]:
                    continue
                raise _Invalid
            if target >= node_count:
                raise _Invalid
        nodes.append(Node(i, op, operand_idx, operands, exits, locs[i]))
    return FlowImage(version, compiler_version, source_hash, name, entry, error_node,
                     constants, tuple(nodes))


def _decode_checked(data: bytes) -> FlowImage:
    """`decode` one check at a time: the first problem found is raised, with its context."""
    if len(data) < 12:
        raise BytecodeError(f"not a .ccb image: only {len(data)} bytes")
    if data[:4] != MAGIC:
        raise BytecodeError(f"not a .ccb image: bad magic {data[:4]!r} (expected {MAGIC!r})")
    version, flags = struct.unpack_from("<HH", data, 4)
    if version != FORMAT_VERSION:
        raise BytecodeError(f"unsupported .ccb format version {version}; this runtime reads "
                            f"version {FORMAT_VERSION} (recompile the flow with a matching ccc)")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise BytecodeError("corrupt image: checksum mismatch (truncated or modified file)")
    if flags != 0:
        raise BytecodeError(f"unknown header flags {flags:#x}")
    r = _Reader(data[:-4])
    r.pos = 8
    compiler_version = r.string("compiler version")
    source_hash = r.string("source hash")
    name = r.string("flow name")
    entry, error_raw = r.unpack("<II", "entry and error node")
    constants = tuple(r.const() for _ in range(r.count("constant pool", 1)))
    raw_nodes: list[tuple[Op, tuple[int, ...], tuple[int | None, ...]]] = []
    for i in range(r.count("node table", 5)):
        op_raw, n_ops = r.unpack("<BH", f"node {i} header")
        try:
            op = Op(op_raw)
        except ValueError:
            raise BytecodeError(f"node {i}: unknown opcode {op_raw}") from None
        operand_idx = r.unpack(f"<{n_ops}I", f"node {i} operands")
        (n_exits,) = r.unpack("<H", f"node {i} exit count")
        exits_raw = r.unpack(f"<{n_exits}I", f"node {i} exits")
        for k in operand_idx:
            if k >= len(constants):
                raise BytecodeError(f"node {i} ({op.name}): constant index {k} out of range "
                                    f"(pool has {len(constants)})")
        raw_nodes.append((op, operand_idx,
                          tuple(None if t == NO_NODE else t for t in exits_raw)))
    files = [r.string("file name") for _ in range(r.count("file table", 4))]
    locs: list[SourceLoc] = []
    for i in range(len(raw_nodes)):
        f, line, col, end_line, end_col = r.unpack("<5I", f"line table entry {i}")
        if f >= len(files):
            raise BytecodeError(f"line table entry {i}: file index {f} out of range")
        locs.append(SourceLoc(files[f], line, col, end_line, end_col))
    if r.pos != len(r.data):
        raise BytecodeError(f"{len(r.data) - r.pos} unexpected bytes after the line table")
    if not raw_nodes:
        raise BytecodeError("the flow has no nodes")
    if entry >= len(raw_nodes):
        raise BytecodeError(f"entry node {entry} out of range 0..{len(raw_nodes) - 1}")
    error_node = None if error_raw == NO_NODE else error_raw
    if error_node is not None and error_node >= len(raw_nodes):
        raise BytecodeError(f"error node {error_node} out of range 0..{len(raw_nodes) - 1}")
    nodes = []
    for i, (op, operand_idx, exits) in enumerate(raw_nodes):
        operands = tuple(constants[k] for k in operand_idx)
        where = f"node {i} ({op.name}, {locs[i]})"
        _verify_node(op, operands, exits, len(raw_nodes), where)
        nodes.append(Node(i, op, operand_idx, operands, exits, locs[i]))
    return FlowImage(version, compiler_version, source_hash, name, entry, error_node,
                     constants, tuple(nodes))


def image_hash(data: bytes) -> str:
    """The stable identity of an image (sha256 hex of its bytes)."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Disassembly


def _fmt_const(value: Const) -> str:
    return json.dumps(value, ensure_ascii=False)


def disassemble(image: FlowImage) -> str:
    """A readable listing: header, constant pool, then one block per node: operands, exits and
    the DSL location."""
    lines = [
        f"flow {_fmt_const(image.name)}",
        f"  format {image.format_version}, compiler {image.compiler_version}",
        f"  source {image.source_hash}",
        f"  entry @{image.entry}, error handler "
        + ("none" if image.error_node is None else f"@{image.error_node}"),
        f"constants ({len(image.constants)}):",
    ]
    lines += [f"  #{i:<4} {_fmt_const(v)}" for i, v in enumerate(image.constants)]
    lines.append(f"nodes ({len(image.nodes)}):")
    for node in image.nodes:
        spec = SPECS[node.op]
        lines.append(f"  @{node.index:<4} {node.op.name:<15} ; {node.loc}")
        for (name, _), k, v in zip(spec.operands, node.operand_indexes, node.operands,
                                   strict=True):
            lines.append(f"         {name} = #{k} {_fmt_const(v)}")
        for number, target in enumerate(node.exits):
            shown = "-" if target is None else f"@{target}"
            lines.append(f"         exit {number} {node.exit_name(number)} -> {shown}")
    return "\n".join(lines) + "\n"


def image_to_json(image: FlowImage) -> dict[str, object]:
    """The image as plain data (`ccc disasm --format json`): operands and exits by name."""
    return {
        "flow": image.name,
        "format_version": image.format_version,
        "compiler_version": image.compiler_version,
        "source_hash": image.source_hash,
        "entry": image.entry,
        "error_node": image.error_node,
        "nodes": [{
            "index": node.index,
            "op": node.op.name,
            "operands": {name: value for (name, _), value
                         in zip(SPECS[node.op].operands, node.operands, strict=True)},
            "exits": [{"number": i, "name": node.exit_name(i), "target": target}
                      for i, target in enumerate(node.exits)],
            "loc": {"file": node.loc.file, "line": node.loc.line, "column": node.loc.column,
                    "end_line": node.loc.end_line, "end_column": node.loc.end_column},
        } for node in image.nodes],
    }
