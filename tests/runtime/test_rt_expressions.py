"""The expression evaluator (ccc_runtime.expressions): arithmetic, comparisons of numbers given
as text, indexing, the function table, time in the instance's zone, and the one rule for a
missing field in `if`, `set` and `say` (null; templates say nothing for it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ccc_runtime.bytecode import BytecodeError, Op, check_expr
from ccc_runtime.expressions import FUNCTIONS, MAX_INT, MIN_INT, Fault, evaluate
from ccc_runtime.limits import MAX_VALUE_CHARS
from rt_helpers import WORKDAY, Flow, const, make_bundle, run_call, say, spoken, var

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 07:30 on Wednesday 2 December in Shanghai


class Scope:
    """Variables and a fixed clock, as the interpreter gives them."""

    def __init__(self, **variables: Any) -> None:
        self.vars = variables

    def lookup(self, path: str) -> Any:
        value: Any = self.vars
        for part in path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    def local_now(self) -> datetime:
        return NOW.astimezone(SHANGHAI)


def ev(expr: list[Any], **variables: Any) -> Any:
    check_expr(expr, "test")  # every tree here is one the verifier accepts
    return evaluate(expr, Scope(**variables))


def c(value: Any) -> list[Any]:
    return ["const", value]


def fn(name: str, *args: Any) -> list[Any]:
    return ["call", name, *(a if isinstance(a, list) else c(a) for a in args)]


@pytest.mark.parametrize(("expr", "value"), [
    (["+", c(2), c(3)], 5),
    (["-", c(2), c(3.5)], -1.5),
    (["*", c(4), c(-3)], -12),
    (["+", c("ab"), c("cd")], "abcd"),
    (["/", c(7), c(2)], 3),  # integers divide to an integer, toward zero
    (["/", c(-7), c(2)], -3),
    (["%", c(7), c(3)], 1),
    (["%", c(-7), c(3)], -1),  # the dividend's sign: -7 == -7 / 3 * 3 + -7 % 3
    (["/", c(7.0), c(2)], 3.5),
    (["%", c(7.5), c(2)], 1.5),
    (["neg", c(5)], -5),
])
def test_arithmetic(expr: list[Any], value: Any) -> None:
    result = ev(expr)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(("expr", "message"), [
    (["/", c(1), c(0)], "division by zero"),
    (["%", c(1.5), c(0)], "division by zero"),
    (["+", c(MAX_INT), c(1)], "64-bit"),
    (["*", c(MAX_INT), c(MAX_INT)], "64-bit"),
    (["/", c(MIN_INT), c(-1)], "64-bit"),
    (["neg", c(MIN_INT)], "64-bit"),
    (["*", c(1e308), c(10.0)], "too large"),
    (["+", c("1"), c(1)], "use number"),  # text and number don't mix: convert
    (["-", c("5"), c("2")], "use number"),
    (["+", c(True), c(1)], "use number"),  # booleans are not numbers
    (["+", c(None), c(1)], "use number"),
])
def test_arithmetic_faults(expr: list[Any], message: str) -> None:
    with pytest.raises(Fault, match=message):
        ev(expr)


def test_joining_refuses_a_text_over_the_value_limit_before_building_it() -> None:
    half = "x" * (MAX_VALUE_CHARS // 2 + 1)
    with pytest.raises(Fault, match="over"):
        ev(["+", var("a"), var("a")], a=half)


@pytest.mark.parametrize(("left", "op", "right", "value"), [
    ("10", ">", "9", True),  # both read as numbers: compared as numbers
    ("10", "<", 9, False),
    (9, "<", "10", True),
    (" 2.5 ", ">=", 2.5, True),
    ("abc", "<", "abd", True),  # texts that aren't numbers: in alphabetical order
    ("10", "<", "9x", True),  # one isn't a number: as texts
    ("09:30", "<", "10:00", True),
])
def test_ordering_reads_numbers_given_as_text(left: Any, op: str, right: Any,
                                              value: bool) -> None:
    assert ev([op, c(left), c(right)]) is value


def test_equality_stays_exact() -> None:
    assert ev(["==", c("7"), c(7)]) is False
    assert ev(["==", c("007"), c("7")]) is False
    assert ev(["==", fn("number", "007"), c(7)]) is True


@pytest.mark.parametrize(("left", "right"), [("abc", 1), (None, 1), ([1], 2), (True, 1)])
def test_ordering_faults_for_what_is_no_number_nor_text(left: Any, right: Any) -> None:
    with pytest.raises(Fault, match="can't compare"):
        ev(["<", c(left), c(right)])


def test_indexing_lists_texts_and_maps_reads_null_past_the_end() -> None:
    items = {"items": ["a", "b", "c"], "m": {"k": 1}, "code": "1234"}
    assert ev(["index", var("items"), c(0)], **items) == "a"
    assert ev(["index", var("items"), c(-1)], **items) == "c"
    assert ev(["index", var("items"), c(3)], **items) is None
    assert ev(["index", var("items"), c(-4)], **items) is None
    assert ev(["index", var("code"), c(1)], **items) == "2"
    assert ev(["index", var("m"), c("k")], **items) == 1
    assert ev(["index", var("m"), c("nope")], **items) is None
    assert ev(["index", var("missing"), c(0)], **items) is None
    assert ev(["index", var("items"), c(None)], **items) is None
    for bad in (["index", var("items"), c("0")], ["index", var("items"), c(True)],
                ["index", var("m"), c(1)], ["index", c(5), c(0)]):
        with pytest.raises(Fault, match="index"):
            ev(bad, **items)


@pytest.mark.parametrize(("expr", "value"), [
    (fn("length", "héllo"), 5),
    (fn("length", ["list", c(1), c(2)]), 2),
    (fn("length", {"a": 1}), 1),
    (fn("upper", "abc"), "ABC"),
    (fn("lower", "ABC"), "abc"),
    (fn("starts_with", "+8613700", "+86"), True),
    (fn("ends_with", "report.wav", ".mp3"), False),
    (fn("contains", "hello", "ell"), True),
    (fn("slice", "+8613700000001", 0, 3), "+86"),
    (fn("slice", "+8613700000001", -4), "0001"),
    (fn("slice", ["list", c(1), c(2), c(3)], 1), [2, 3]),
    (fn("replace", "a-b-c", "-", ""), "abc"),
    (fn("pad", "42", 5, "0"), "00042"),
    (fn("pad", 42, 4), "  42"),
    (fn("pad", "123456", 3, "0"), "123456"),
    (fn("number", "42"), 42),
    (fn("number", "-2.5"), -2.5),
    (fn("number", 7), 7),
    (fn("number", "4x"), None),  # what can't convert is null, no fault
    (fn("number", "9" * 30), None),  # past 64 bits
    (fn("number", True), None),
    (fn("number", ["list"]), None),
    (fn("text", 42), "42"),
    (fn("text", 2.5), "2.5"),
    (fn("text", 3.0), "3"),
    (fn("text", 1e-7), "0.0000001"),
    (fn("text", True), "true"),
    (fn("text", ["list"]), None),
    (fn("upper", None), None),  # null in, null out
    (fn("pad", "1", None), None),
])
def test_functions(expr: list[Any], value: Any) -> None:
    assert ev(expr) == value


@pytest.mark.parametrize(("expr", "message"), [
    (fn("upper", 5), "upper.. takes text as its first argument"),
    (fn("slice", "abc", "1"), "second argument"),
    (fn("pad", "1", 5, "ab"), "one character"),
    (fn("pad", "1", MAX_VALUE_CHARS + 1), "over the limit"),
    (fn("replace", "x" * 1000, "x", "y" * 100), "over"),
    (fn("replace", "x" * 1000, "", "y" * 100), "over"),
])
def test_function_faults(expr: list[Any], message: str) -> None:
    with pytest.raises(Fault, match=message):
        ev(expr)


def test_time_is_read_in_the_instance_zone() -> None:
    now = ev(fn("now"))
    assert now == int(NOW.timestamp())
    assert [ev(fn(part, ["call", "now"])) for part in
            ("year", "month", "day", "hour", "minute", "weekday")] == [2026, 12, 2, 7, 30, 3]
    assert ev(fn("date", ["call", "now"])) == "2026-12-02"
    assert ev(fn("seconds_since", now - 90)) == 90
    assert ev(["-", ["call", "now"], c(now - 60)]) == 60
    # ISO text: with an offset as given, without one in the instance's zone
    assert ev(fn("seconds_since", "2026-12-01T23:00:00Z")) == 1800
    assert ev(fn("seconds_since", "2026-12-02T07:00:00")) == 1800
    assert ev(fn("hour", "2026-12-01T23:00:00+00:00")) == 7
    assert ev(fn("weekday", "2026-11-30")) == 1
    for unreadable in ("yesterday", "2026-13-01", "9" * 80, 1e300):
        assert ev(fn("hour", unreadable)) is None
    with pytest.raises(Fault, match="takes"):
        ev(fn("hour", ["list"]))


def test_every_function_has_a_signature_and_the_verifier_checks_arity() -> None:
    for name, function in FUNCTIONS.items():
        assert function.signature.startswith(name) and function.summary
        check_expr(["call", name, *([c("1")] * function.required)], "t")
    with pytest.raises(BytecodeError, match="unknown function 'uper'"):
        check_expr(["call", "uper", c("x")], "t")
    with pytest.raises(BytecodeError, match=r"pad\(\) takes 2..3 arguments, got 1"):
        check_expr(["call", "pad", c("x")], "t")
    with pytest.raises(BytecodeError, match="takes at least 2 operands"):
        check_expr(["+", c(1)], "t")
    with pytest.raises(BytecodeError):
        Flow().node(Op.SET, "x", ["call", 5])


# ---------------------------------------------------------------- the missing-field rule


def _missing_field_flow() -> bytes:
    """`set` a missing field, branch on it and say it: null, false, and nothing spoken."""
    f = Flow()
    reply = f.node(Op.SET, "result.balance", const(5))
    copy = f.node(Op.SET, "copied", var("result.message"))
    test = f.node(Op.BRANCH, var("result.message"))
    yes = f.node(Op.SET, "branch", const("taken"))
    no = f.node(Op.SET, "branch", const("not taken"))
    talk = f.node(Op.PLAY, say("Balance {{ result.balance }}.{{ result.message }}"
                               "{{ nobody.name }}|{{ result.none }}"))
    end = f.node(Op.HANGUP)
    f.exit(reply, "next", copy)
    f.exit(copy, "next", test)
    f.exit(test, "true", yes)
    f.exit(test, "false", no)
    f.exit(yes, "next", talk)
    f.exit(no, "next", talk)
    f.exit(talk, "next", end)
    return f.build()


def test_a_missing_field_is_null_in_set_if_and_say() -> None:
    flow = _missing_field_flow()
    result, *_ = run_call(make_bundle({"main": flow}))
    assert result.faults == []
    assert "copied" in result.variables and result.variables["copied"] is None
    assert result.variables["branch"] == "not taken"
    assert spoken(result) == ["say:Balance 5.|"]


def test_json_null_renders_as_empty_text_too() -> None:
    f = Flow()
    reply = f.node(Op.SET, "result.name", const(None))
    talk = f.node(Op.PLAY, say("Hello {{ result.name }}!"))
    end = f.node(Op.HANGUP)
    f.exit(reply, "next", talk)
    f.exit(talk, "next", end)
    result, *_ = run_call(make_bundle({"main": f.build()}))
    assert spoken(result) == ["say:Hello !"]


def test_a_fault_in_an_expression_takes_the_error_path_at_its_line() -> None:
    f = Flow()
    bad = f.node(Op.SET, "x", ["/", const(1), var("zero")], line=4)
    end = f.node(Op.HANGUP)
    sorry = f.node(Op.SET, "handled", const(True))
    f.exit(bad, "next", end)
    f.exit(sorry, "next", end)
    f.b.set_error_node(sorry)
    result, *_ = run_call(make_bundle({"main": f.build()}))
    assert result.variables.get("handled") is True
    assert result.faults[0].loc.line == 4
    assert "can't compute 1 / None" in result.faults[0].message


def test_now_follows_the_simulated_clock() -> None:
    f = Flow()
    when = f.node(Op.SET, "hour", ["call", "hour", ["call", "now"]])
    end = f.node(Op.HANGUP)
    f.exit(when, "next", end)
    result, *_ = run_call(make_bundle({"main": f.build()}), at=WORKDAY)
    assert result.variables["hour"] == WORKDAY.hour


def test_a_chain_of_one_operator_is_one_node_folded_from_the_left() -> None:
    assert ev(["-", c(10), c(3), c(2)]) == 5  # (10 - 3) - 2
    assert ev(["/", c(100), c(5), c(2)]) == 10
    assert ev(["+", c("a"), c("b"), c("c")]) == "abc"
    with pytest.raises(Fault, match="division by zero"):
        ev(["/", c(1), c(1), c(0)])
