"""Property tests of the expression evaluator: for any tree the verifier accepts, over values
of the documented types (null, booleans, 64-bit integers, decimals, texts, lists, maps), the
result is a value or a `Fault`, never another exception, and no text it builds is over the
value limit, however the operators and functions are stacked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ccc_runtime.bytecode import BytecodeError, check_expr
from ccc_runtime.expressions import ARITHMETIC, FUNCTIONS, MAX_INT, MIN_INT, Fault, evaluate
from ccc_runtime.limits import MAX_VALUE_CHARS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(MIN_INT, MAX_INT),
    st.sampled_from([0, 1, -1, 2, MAX_INT, MIN_INT, 10**6, 60]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "10", "9", " 42 ", "-2.5", "2026-12-01T10:00:00+08:00", "x" * 2000,
                     "2026-12-01"]),
)
values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(st.sampled_from(["a", "k", "x"]), inner,
                                                     max_size=3)),
    max_leaves=10)
VARIABLES = ["a", "b", "big", "m", "missing", "m.k", "a.x"]
OPERATORS = sorted(ARITHMETIC | {"==", "!=", "<", "<=", ">", ">=", "in", "not in", "index"})


def trees(depth: int) -> st.SearchStrategy[list[Any]]:
    leaf = st.one_of(st.builds(lambda v: ["const", v], scalars),
                     st.builds(lambda n: ["var", n], st.sampled_from(VARIABLES)))
    if depth == 0:
        return leaf
    sub = trees(depth - 1)
    calls = st.sampled_from(sorted(FUNCTIONS)).flatmap(
        lambda name: st.lists(sub, min_size=FUNCTIONS[name].required,
                              max_size=len(FUNCTIONS[name].params)).map(
            lambda args: ["call", name, *args]))
    return st.one_of(
        leaf, calls,
        st.builds(lambda op, a, b: [op, a, b], st.sampled_from(OPERATORS), sub, sub),
        st.builds(lambda op, xs: [op, *xs], st.sampled_from(["and", "or"]),
                  st.lists(sub, min_size=2, max_size=3)),
        st.builds(lambda op, a: [op, a], st.sampled_from(["not", "neg"]), sub),
        st.builds(lambda xs: ["list", *xs], st.lists(sub, max_size=3)),
    )


class Scope:
    def __init__(self, variables: dict[str, Any], now: datetime) -> None:
        self.vars, self.now = variables, now

    def lookup(self, path: str) -> Any:
        value: Any = self.vars
        for part in path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    def local_now(self) -> datetime:
        return self.now


def _sizes_ok(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= 3 * MAX_VALUE_CHARS  # upper() may lengthen a text up to 3x
    if isinstance(value, list):
        return all(_sizes_ok(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return MIN_INT <= value <= MAX_INT
    return True


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(3), values, values, values,
       st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)),
                                               timezone(timedelta(hours=-5))])))
def test_any_tree_over_any_values_is_a_value_or_a_fault(tree: list[Any], a: Any, b: Any,
                                                        m: Any, now: datetime) -> None:
    try:
        check_expr(tree, "property")
    except BytecodeError:
        return
    scope = Scope({"a": a, "b": b, "m": m, "big": "y" * (MAX_VALUE_CHARS // 2 + 1)}, now)
    try:
        result = evaluate(tree, scope)
    except Fault:
        return
    assert _sizes_ok(result)


@settings(max_examples=200, deadline=None)
@given(st.integers(MIN_INT, MAX_INT), st.integers(MIN_INT, MAX_INT).filter(lambda n: n != 0))
def test_integer_division_and_remainder_agree(a: int, b: int) -> None:
    scope = Scope({}, datetime(2026, 1, 1, tzinfo=UTC))
    try:
        quotient = evaluate(["/", ["const", a], ["const", b]], scope)
    except Fault:  # only MIN_INT / -1 is past 64 bits
        assert (a, b) == (MIN_INT, -1)
        return
    remainder = evaluate(["%", ["const", a], ["const", b]], scope)
    assert quotient * b + remainder == a
    assert abs(remainder) < abs(b) and (remainder == 0 or (remainder < 0) == (a < 0))
