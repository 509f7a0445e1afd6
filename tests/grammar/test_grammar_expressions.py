"""Property tests of expressions through the front end (issue 10): any expression tree the
language can write prints (`ccc fmt`) with just the parentheses that keep its meaning and
parses back to the same tree; it lowers to a tree the bytecode verifier accepts; and the
compiler's type checks are sound: an expression of literals they call always failing (A616,
A617, A618) does fault when evaluated, and one that evaluates is never reported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ccc_runtime.bytecode import check_expr
from ccc_runtime.expressions import FUNCTIONS, Fault, evaluate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccc_dsl.compiler.ir import lower_expr
from ccc_dsl.compiler.passes.expressions import expression_types
from ccc_dsl.diagnostics import Span
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.formatter import expr as print_expr
from ccc_dsl.grammar.parser import parse_text

SPAN = Span("t.ivr", 1, 1, 1, 1)
OPS = [op for op in ast.BinaryOp]
literals = st.one_of(
    st.integers(0, 2**63 - 1), st.sampled_from([0, 1, 2, 10]),
    st.floats(min_value=0, max_value=1e6, allow_nan=False), st.booleans(), st.none(),
    st.text(alphabet="ab 19.-", max_size=4)).map(lambda v: ast.Literal(v, SPAN))
names = st.sampled_from([("x",), ("caller", "number"), ("result", "items")]).map(
    lambda p: ast.Var(p, SPAN))


def trees(depth: int, with_vars: bool = True,
          ops: tuple[ast.BinaryOp, ...] = tuple(OPS)) -> st.SearchStrategy[ast.Expr]:
    leaf: st.SearchStrategy[ast.Expr] = st.one_of(literals, names) if with_vars else literals
    if depth == 0:
        return leaf
    sub = trees(depth - 1, with_vars, ops)
    calls = st.sampled_from(sorted(n for n, f in FUNCTIONS.items())).flatmap(
        lambda n: st.lists(sub, min_size=FUNCTIONS[n].required,
                           max_size=len(FUNCTIONS[n].params)).map(
            lambda args: ast.Call(n, tuple(args), SPAN)))
    return st.one_of(
        leaf, calls,
        st.builds(lambda op, a, b: ast.Binary(op, a, b, SPAN), st.sampled_from(ops), sub, sub),
        st.builds(lambda op, a: ast.Unary(op, a, SPAN), st.sampled_from(list(ast.UnaryOp)), sub),
        st.builds(lambda a, b: ast.Index(a, b, SPAN), sub, sub),
        st.builds(lambda xs: ast.ListExpr(tuple(xs), SPAN), st.lists(sub, max_size=2)),
    )


def _parse_back(tree: ast.Expr) -> tuple[ast.Expr | None, list[str]]:
    text = f"flow t {{\n  s:\n    set y = {print_expr(tree)}\n    hangup\n}}\n"
    result = parse_text(text, "t.ivr")
    codes = [d.code for d in result.diagnostics]
    if result.module is None:
        return None, codes
    stmt = result.module.flows[0].steps[0].body[0]
    assert isinstance(stmt, ast.Set)
    return stmt.value, codes


def _canonical(tree: ast.Expr) -> ast.Expr:
    """`now` is the one call written without parentheses; a Call("now", args) with arguments
    can't be written, so the generator's are dropped to the bare `now`."""
    if isinstance(tree, ast.Call):
        args = () if tree.name == "now" else tuple(_canonical(a) for a in tree.args)
        return ast.Call(tree.name, args, SPAN)
    if isinstance(tree, ast.Binary):
        return ast.Binary(tree.op, _canonical(tree.left), _canonical(tree.right), SPAN)
    if isinstance(tree, ast.Unary):
        return ast.Unary(tree.op, _canonical(tree.operand), SPAN)
    if isinstance(tree, ast.Index):
        return ast.Index(_canonical(tree.target), _canonical(tree.index), SPAN)
    if isinstance(tree, ast.ListExpr):
        return ast.ListExpr(tuple(_canonical(i) for i in tree.items), SPAN)
    return tree


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(3))
def test_printed_expressions_parse_back_to_the_same_tree(tree: ast.Expr) -> None:
    tree = _canonical(tree)
    parsed, codes = _parse_back(tree)
    assert parsed is not None, (print_expr(tree), codes)
    assert parsed == tree, print_expr(tree)
    assert set(codes) <= {"P214"}, codes  # only a literal over 64 bits could be refused
    check_expr(lower_expr(parsed), "property")


class _Scope:
    def lookup(self, path: str) -> Any:
        return None

    def local_now(self) -> datetime:
        return datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


STRICT = tuple(op for op in OPS if op not in (ast.BinaryOp.AND, ast.BinaryOp.OR))
"""Without `and`/`or`, every part of an expression is evaluated (no short circuit)."""


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(3, with_vars=False, ops=STRICT))
def test_type_checks_report_only_what_always_fails(tree: ast.Expr) -> None:
    tree = _canonical(tree)
    module = ast.Module("t.ivr", (ast.Flow("t", SPAN, None, (ast.Step(
        "s", SPAN, (ast.Set(ast.Var(("y",), SPAN), tree, SPAN),), SPAN),), SPAN),), SPAN)
    reported = [d.code for d in expression_types([module])]
    try:
        evaluate(lower_expr(tree), _Scope())
    except Fault:
        return  # a fault: the checks may or may not have seen it coming
    assert reported == [], (print_expr(tree), reported)
