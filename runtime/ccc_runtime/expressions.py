"""The expression evaluator: what `if`, `set`, arguments and priorities compute at call time.

An expression arrives as the verified tree of the bytecode (`["+", ["var", "n"], ["const", 1]]`,
see bytecode.EXPR_OPS); `evaluate` walks it against a `Scope` (the call's variables and its
clock). The rules, each documented in docs/dsl.md "Expressions":

- A missing variable or field reads as null, whatever the path goes through.
- Arithmetic is on numbers only (booleans are not numbers); `+` also joins two texts; a chain
  of one operator (`a + b + c`) is one node, folded from the left. Integers
  are 64-bit: a result outside that range is a fault, as is a decimal that overflows and any
  division or remainder by zero. `/` of two integers is an integer rounded toward zero, `%`
  the remainder with the dividend's sign, so `a == a / b * b + a % b`.
- `< <= > >=` compare numbers, or texts; a text that reads as a number (`"10"`, `"-2.5"`)
  compares as that number with a number or another such text, so "10" > "9". `==` and `!=`
  compare exactly ("7" != 7, "007" != "7").
- A function given null returns null; `number(x)` and `text(x)` return null for what they can't
  convert. Other wrong types are faults (the compiler finds those it can see, A616/A617).
- Indexing (`items[0]`, `result["key"]`, `code[-1]`) past the end or into null reads null.

Every fault is a `Fault` (the VM sends the call to the flow's error path); no other exception
leaves `evaluate`. Sizes are bounded by construction: a text result longer than
MAX_VALUE_CHARS is refused before it is built, and the tree's depth was bounded by the verifier.
`FUNCTIONS` is the one table of functions: the verifier checks arity against it, the compiler
types and the language server's completion read it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final, Protocol

from .limits import MAX_VALUE_CHARS

MAX_INT: Final = 2**63 - 1
MIN_INT: Final = -(2**63)
MAX_TIME_TEXT: Final = 64
"""Longest text read as a time (ISO 8601 needs about 35 characters)."""
MAX_NUMBER_TEXT: Final = 64
"""Longest text read as a number."""

TEXT, INT, DECIMAL, BOOL, LIST, MAP, NULL = "text", "int", "decimal", "bool", "list", "map", "null"
NUMBER: Final = frozenset({INT, DECIMAL})
ANY: Final = frozenset({TEXT, INT, DECIMAL, BOOL, LIST, MAP, NULL})
"""Value types, as the compiler's type checks name them too."""

_NUMBER_RE: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


class Fault(Exception):
    """A call-time error in the flow (the VM reports it at the node's DSL location)."""


class Scope(Protocol):
    """What an expression reads: the call's variables and the time in the instance's zone."""

    def lookup(self, path: str) -> Any: ...

    def local_now(self) -> datetime:
        """Now, timezone-aware, in the instance's time zone."""
        ...


def type_of(value: Any) -> str:
    """The type name of a call value (one of ANY)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return DECIMAL
    if isinstance(value, str):
        return TEXT
    return LIST if isinstance(value, list) else MAP


def show(value: Any) -> str:
    """A value for a fault message, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", []) and value != {}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def contains(container: Any, item: Any) -> bool:
    if isinstance(container, list):
        return any(equal(item, c) for c in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    if isinstance(container, dict) and isinstance(item, str):
        return item in container
    raise Fault(f"can't test membership of {show(item)} in {show(container)}")


def read_number(text: str) -> int | float | None:
    """The number a text reads as (`" 42 "`, `"-2.5"`), or None: only plain decimal notation,
    within 64-bit integers or finite decimals."""
    text = text.strip()
    if len(text) > MAX_NUMBER_TEXT or not _NUMBER_RE.fullmatch(text):
        return None
    if "." in text:
        return float(text)  # at most 64 digits: always finite
    value = int(text)
    return value if MIN_INT <= value <= MAX_INT else None


def number_text(value: int | float) -> str:
    """A number as text: integers as they are, decimals in their shortest exact form without an
    exponent (`2.5`, `0.1`), a whole decimal without `.0`."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        text = f"{value:.20f}".rstrip("0").rstrip(".")
    return text


def _checked(value: int | float) -> int | float:
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise Fault("the result is over the 64-bit integer range")
    elif not math.isfinite(value):
        raise Fault("the result is too large for a decimal")
    return value


def _arith(op: str, left: Any, right: Any) -> Any:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_VALUE_CHARS:
            raise Fault(f"joining makes a text over {MAX_VALUE_CHARS} characters")
        return left + right
    if not (is_number(left) and is_number(right)):
        what = "join or add" if op == "+" else "compute"
        raise Fault(f"can't {what} {show(left)} {op} {show(right)} (use number(x) or text(x))")
    if op == "+":
        return _checked(left + right)
    if op == "-":
        return _checked(left - right)
    if op == "*":
        if isinstance(left, int) and isinstance(right, int) and (
                left.bit_length() + right.bit_length() > 130):
            raise Fault("the result is over the 64-bit integer range")
        return _checked(left * right)
    if right == 0:
        raise Fault(f"division by zero ({show(left)} {op} 0)")
    if isinstance(left, int) and isinstance(right, int):
        quotient = abs(left) // abs(right)
        if (left < 0) != (right < 0):
            quotient = -quotient
        return _checked(quotient) if op == "/" else left - right * quotient
    try:
        return _checked(left / right if op == "/" else math.fmod(left, right))
    except OverflowError:
        raise Fault("the result is too large for a decimal") from None


def _as_comparable(value: Any) -> Any:
    """A text that reads as a number compares as that number."""
    if isinstance(value, str):
        number = read_number(value)
        return value if number is None else number
    return value


def _order(op: str, left: Any, right: Any) -> bool:
    if not (is_number(left) and is_number(right)):
        if isinstance(left, str) and isinstance(right, str):
            numbers = _as_comparable(left), _as_comparable(right)
            if is_number(numbers[0]) and is_number(numbers[1]):
                left, right = numbers
        elif is_number(left) and isinstance(right, str):
            right = _as_comparable(right)
        elif isinstance(left, str) and is_number(right):
            left = _as_comparable(left)
        if not ((is_number(left) and is_number(right))
                or (isinstance(left, str) and isinstance(right, str))):
            raise Fault(f"can't compare {show(left)} {op} {show(right)}")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _index(target: Any, key: Any) -> Any:
    if target is None:
        return None
    if not isinstance(target, dict | list | str):
        raise Fault(f"can't index {show(target)}")
    if key is None:
        return None
    if isinstance(target, dict):
        if not isinstance(key, str):
            raise Fault(f"a map is indexed by a text, not {show(key)}")
        return target.get(key)
    if not isinstance(key, int) or isinstance(key, bool):
        raise Fault(f"a list or text is indexed by an integer, not {show(key)}")
    return target[key] if -len(target) <= key < len(target) else None


def evaluate(expr: Any, scope: Scope) -> Any:
    """The value of a verified expression tree; raises only `Fault`."""
    op = expr[0]
    if op == "const":
        return expr[1]
    if op == "var":
        return scope.lookup(expr[1])
    if op == "and":
        return all(truthy(evaluate(e, scope)) for e in expr[1:])
    if op == "or":
        return any(truthy(evaluate(e, scope)) for e in expr[1:])
    if op == "not":
        return not truthy(evaluate(expr[1], scope))
    if op == "?":
        return evaluate(expr[2] if truthy(evaluate(expr[1], scope)) else expr[3], scope)
    if op == "list":
        return [evaluate(e, scope) for e in expr[1:]]
    if op == "call":
        return call(expr[1], [evaluate(e, scope) for e in expr[2:]], scope)
    if op == "neg":
        value = evaluate(expr[1], scope)
        if not is_number(value):
            raise Fault(f"can't negate {show(value)}")
        return _checked(-value)
    left, right = evaluate(expr[1], scope), evaluate(expr[2], scope)
    if op in _ARITH:  # `a - b - c` is one node of three operands, folded from the left
        value = _arith(op, left, right)
        for operand in expr[3:]:
            value = _arith(op, value, evaluate(operand, scope))
        return value
    if op == "index":
        return _index(left, right)
    if op in ("in", "not in"):
        found = contains(right, left)
        return found if op == "in" else not found
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    return _order(op, left, right)


_ARITH: Final = frozenset({"+", "-", "*", "/", "%"})
ARITHMETIC: Final = _ARITH
"""The arithmetic operators of the expression tree."""


# ------------------------------------------------------------------------------- functions


@dataclass(frozen=True, slots=True)
class Function:
    """One function of the language: the types it takes, what it gives, how it runs."""

    name: str
    params: tuple[frozenset[str], ...]
    """Per parameter, the types it takes (null is always taken: the result is then null)."""
    required: int
    """How many of `params` must be given."""
    result: frozenset[str]
    summary: str
    """One line for docs and completion."""
    run: Callable[[Scope, Sequence[Any]], Any]
    names: tuple[str, ...]
    """Parameter names, for the signature."""
    bare: bool = False
    """Written without parentheses (`now`)."""

    @property
    def signature(self) -> str:
        """How it is written: `pad(value, width[, fill])`, `now`."""
        if self.bare:
            return self.name
        shown = ", ".join(self.names[:self.required])
        for name in self.names[self.required:]:
            shown += f"[, {name}]" if shown else f"[{name}]"
        return f"{self.name}({shown})"


_TEXT: Final = frozenset({TEXT})
_INT: Final = frozenset({INT})
_BOOL: Final = frozenset({BOOL})
_TIME: Final = frozenset({TEXT, INT, DECIMAL})


def _pad(scope: Scope, args: Sequence[Any]) -> str:
    value, width = args[0], args[1]
    fill = args[2] if len(args) > 2 else " "
    text = value if isinstance(value, str) else number_text(value)
    if len(fill) != 1:
        raise Fault(f"pad() fills with one character, not {show(fill)}")
    if width > MAX_VALUE_CHARS:
        raise Fault(f"pad() to {width} characters is over the limit of {MAX_VALUE_CHARS}")
    return text.rjust(width, fill)


def _replace(scope: Scope, args: Sequence[Any]) -> str:
    text, old, new = args
    count = text.count(old) if old else len(text) + 1
    if len(text) + count * (len(new) - len(old)) > MAX_VALUE_CHARS:
        raise Fault(f"replace() would build a text over {MAX_VALUE_CHARS} characters")
    return str(text.replace(old, new))


def _slice(scope: Scope, args: Sequence[Any]) -> Any:
    end = args[2] if len(args) > 2 else None
    return args[0][args[1]:end]


def _number(scope: Scope, args: Sequence[Any]) -> int | float | None:
    value = args[0]
    if is_number(value):
        return value  # type: ignore[no-any-return]
    return read_number(value) if isinstance(value, str) else None


def _text(scope: Scope, args: Sequence[Any]) -> str | None:
    value = args[0]
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return number_text(value) if is_number(value) else None


def moment(value: Any, zone: tzinfo) -> datetime | None:
    """A time given as seconds since 1970 or as ISO 8601 text (no offset: the instance's
    zone), in `zone`; None when it reads as no time."""
    try:
        if isinstance(value, str):
            if len(value) > MAX_TIME_TEXT:
                return None
            when = datetime.fromisoformat(value.strip())
            if when.tzinfo is None:
                when = when.replace(tzinfo=zone)
            return when.astimezone(zone)
        return datetime.fromtimestamp(value, zone)
    except (ValueError, OverflowError, OSError):
        return None


def _timed(part: Callable[[datetime], Any]) -> Callable[[Scope, Sequence[Any]], Any]:
    def run(scope: Scope, args: Sequence[Any]) -> Any:
        now = scope.local_now()
        assert now.tzinfo is not None
        when = moment(args[0], now.tzinfo)
        return None if when is None else part(when)
    return run


def _seconds_since(scope: Scope, args: Sequence[Any]) -> int | None:
    now = scope.local_now()
    assert now.tzinfo is not None
    when = moment(args[0], now.tzinfo)
    return None if when is None else math.floor((now - when).total_seconds())


def _fn(signature: str, params: Sequence[frozenset[str]], result: frozenset[str], summary: str,
        run: Callable[[Scope, Sequence[Any]], Any], required: int | None = None) -> Function:
    """A table entry from its signature: `pad(value, width, fill)` (parameters after
    `required` are optional); a name alone is written without parentheses."""
    name, _, rest = signature.partition("(")
    names = tuple(n.strip() for n in rest.rstrip(")").split(",")) if rest.strip(")") else ()
    return Function(name, tuple(params), len(params) if required is None else required,
                    result, summary, run, names, bare=not rest)


_TEXT_OR_LIST: Final = frozenset({TEXT, LIST})
FUNCTIONS: Final[dict[str, Function]] = {f.name: f for f in (
    _fn("length(value)", [frozenset({TEXT, LIST, MAP})], _INT,
        "characters of a text, items of a list or keys of a map", lambda s, a: len(a[0])),
    _fn("upper(text)", [_TEXT], _TEXT, "the text in capitals", lambda s, a: a[0].upper()),
    _fn("lower(text)", [_TEXT], _TEXT, "the text in small letters", lambda s, a: a[0].lower()),
    _fn("starts_with(text, prefix)", [_TEXT, _TEXT], _BOOL,
        "whether the text starts with the second",
        lambda s, a: a[0].startswith(a[1])),
    _fn("ends_with(text, suffix)", [_TEXT, _TEXT], _BOOL,
        "whether the text ends with the second",
        lambda s, a: a[0].endswith(a[1])),
    _fn("contains(text, part)", [_TEXT, _TEXT], _BOOL,
        "whether the second text is part of the first",
        lambda s, a: a[1] in a[0]),
    _fn("slice(value, start, end)", [_TEXT_OR_LIST, _INT, _INT], _TEXT_OR_LIST,
        "the part from start up to (not including) end; negative counts from the end",
        _slice, required=2),
    _fn("replace(text, old, new)", [_TEXT, _TEXT, _TEXT], _TEXT,
        "the text with every `old` replaced by `new`",
        _replace),
    _fn("pad(value, width, fill)", [frozenset({TEXT, INT, DECIMAL}), _INT, _TEXT], _TEXT,
        "the text (or number) padded on the left to a width, with spaces or one fill character",
        _pad, required=2),
    _fn("number(value)", [ANY], NUMBER, "the number a text reads as, or null", _number),
    _fn("text(value)", [ANY], _TEXT, "a number or boolean as text; null for lists and maps", _text),
    _fn("now", [], _INT, "the current time, in seconds since 1970 (UTC)",
        lambda s, a: math.floor(s.local_now().timestamp())),
    _fn("seconds_since(time)", [_TIME], _INT,
        "seconds from a time (seconds since 1970, or ISO 8601 text) until now", _seconds_since),
    _fn("year(time)", [_TIME], _INT, "the year of a time, in the instance's zone",
        _timed(lambda t: t.year)),
    _fn("month(time)", [_TIME], _INT, "the month (1-12) of a time, in the instance's zone",
        _timed(lambda t: t.month)),
    _fn("day(time)", [_TIME], _INT, "the day of the month of a time, in the instance's zone",
        _timed(lambda t: t.day)),
    _fn("weekday(time)", [_TIME], _INT,
        "the weekday (1 = Monday) of a time, in the instance's zone",
        _timed(lambda t: t.isoweekday())),
    _fn("hour(time)", [_TIME], _INT, "the hour (0-23) of a time, in the instance's zone",
        _timed(lambda t: t.hour)),
    _fn("minute(time)", [_TIME], _INT, "the minute of a time, in the instance's zone",
        _timed(lambda t: t.minute)),
    _fn("date(time)", [_TIME], _TEXT, "the date of a time as YYYY-MM-DD, in the instance's zone",
        _timed(lambda t: t.date().isoformat())),
)}

_ORDINALS: Final = ("first", "second", "third")


def call(name: str, args: list[Any], scope: Scope) -> Any:
    """Run function `name` (verified to exist, with a fitting number of arguments)."""
    function = FUNCTIONS[name]
    for i, value in enumerate(args):  # every argument's type first, then null gives null
        if value is not None and type_of(value) not in function.params[i]:
            wanted = " or ".join(sorted(function.params[i]))
            raise Fault(f"{name}() takes {wanted} as its {_ORDINALS[i]} argument, "
                        f"not {show(value)}")
    if None in args:
        return None
    return function.run(scope, args)
