"""A616-A618: expressions that fail on every call, seen from the types known at compile time.

A literal has a type, a function returns the types its table entry (ccc_runtime.expressions
FUNCTIONS) gives, and an operator's result follows from its operands; a variable may hold
anything. An expression is reported only when no combination of the types its parts may have
can work (`"abc" - 1`, `upper(5)`, `x / 0`): the runtime would take the flow's error path.
Checked on the AST, so each diagnostic sits at the part that fails. Runs with name resolution
(resolve.py), per file, so incremental builds cache it with the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from ccc_runtime.expressions import (
    ANY,
    BOOL,
    DECIMAL,
    FUNCTIONS,
    INT,
    LIST,
    MAP,
    NULL,
    NUMBER,
    TEXT,
    read_number,
    type_of,
)

from ccc_dsl.codes import diagnostic
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.grammar import ast

Types = frozenset[str]
EXPRESSIONS: Final[tuple[type[ast.Expr], ...]] = (
    ast.Literal, ast.Var, ast.ListExpr, ast.Unary, ast.Binary, ast.Call, ast.Index)
_LEAVES: Final = (ast.Literal, ast.Var)
_ORDERED: Final = frozenset({ast.BinaryOp.LT, ast.BinaryOp.LE, ast.BinaryOp.GT, ast.BinaryOp.GE})
_ARITH: Final = frozenset({ast.BinaryOp.ADD, ast.BinaryOp.SUB, ast.BinaryOp.MUL,
                           ast.BinaryOp.DIV, ast.BinaryOp.MOD})
_WORDS: Final = {TEXT: "text", INT: "an integer", DECIMAL: "a decimal", BOOL: "true/false",
                 LIST: "a list", MAP: "a map", NULL: "null"}
_ORDINALS: Final = ("first", "second", "third")
_BOOLEAN: Final = frozenset({BOOL})


def expression_types(modules: list[ast.Module]) -> list[Diagnostic]:
    """A616-A618 for every expression of `modules`."""
    return root_types(root for module in modules for flow in module.flows
                      for root in _roots(flow))


def root_types(roots: Iterable[ast.Expr]) -> list[Diagnostic]:
    """A616-A618 for these outermost expressions, in order (name resolution finds them in its
    own walk of the flows and passes them here)."""
    out: list[Diagnostic] = []
    for root in roots:
        if type(root) not in _LEAVES:  # most are a variable or a literal (no subclasses)
            _infer(root, out)
    return out


def _roots(flow: ast.Flow) -> Iterator[ast.Expr]:
    """The outermost expressions of a flow (the search doesn't enter expressions)."""
    found: Iterator[ast.Expr] = flow.find_all(*EXPRESSIONS, skip=EXPRESSIONS)
    return found


def _words(types: Types) -> str:
    """Types in a message; null is left out beside others (every function may return it)."""
    if len(types) > 1:
        types -= {NULL}
    if types == NUMBER:
        return "a number"
    return " or ".join(_WORDS[t] for t in sorted(types))


def _infer(expr: ast.Expr, out: list[Diagnostic]) -> Types:
    """The types `expr` may have (ANY when unknown), reporting the parts that always fail."""
    if isinstance(expr, ast.Literal):
        return frozenset({type_of(expr.value)})
    if isinstance(expr, ast.Var):
        return ANY
    if isinstance(expr, ast.ListExpr):
        for item in expr.items:
            _infer(item, out)
        return frozenset({LIST})
    if isinstance(expr, ast.Unary):
        operand = _infer(expr.operand, out)
        if expr.op is ast.UnaryOp.NOT:
            return _BOOLEAN
        if not operand & NUMBER:
            out.append(diagnostic("A616", f"`-` takes a number, not {_words(operand)}: this "
                                  "always fails", expr.span, "convert it with number(x)"))
        return (operand & NUMBER) or NUMBER
    if isinstance(expr, ast.Call):
        return _call(expr, out)
    if isinstance(expr, ast.Index):
        target = _infer(expr.target, out)
        _infer(expr.index, out)
        if not target & frozenset({TEXT, LIST, MAP, NULL}):
            out.append(diagnostic("A616", f"{_words(target)} can't be indexed: this always "
                                  "fails", expr.target.span, "index a list, a text or a map"))
        return ANY
    return _binary(expr, out)


def _call(expr: ast.Call, out: list[Diagnostic]) -> Types:
    function = FUNCTIONS.get(expr.name)
    args = [_infer(arg, out) for arg in expr.args]
    if function is None or len(args) > len(function.params):
        return ANY  # the parser reported it (P216, P217)
    for i, (arg, types) in enumerate(zip(expr.args, args, strict=True)):
        wanted = function.params[i]
        if not types & (wanted | {NULL}):
            out.append(diagnostic(
                "A617", f"`{expr.name}` takes {_words(wanted)} as its {_ORDINALS[i]} argument, "
                f"not {_words(types)}: this always fails", arg.span,
                f"write `{function.signature}`"
                + ("; convert it with text(x)" if wanted == frozenset({TEXT}) else "")))
    return function.result | {NULL}


def _binary(expr: ast.Binary, out: list[Diagnostic]) -> Types:
    left, right = _infer(expr.left, out), _infer(expr.right, out)
    op = expr.op
    if op in _ARITH:
        return _arith(expr, left, right, out)
    if op in _ORDERED and not _may_order(expr, left, right):
        out.append(diagnostic("A616", f"`{op}` compares two numbers or two texts, not "
                              f"{_words(left)} with {_words(right)}: this always fails",
                              expr.span, "compare values of one kind"))
    return _BOOLEAN


def _may_order(expr: ast.Binary, left: Types, right: Types) -> bool:
    """Whether some values of these types compare with `<`: two numbers, two texts, or a
    number and a text that reads as one (a text literal is known)."""
    if (left & NUMBER and right & NUMBER) or (TEXT in left and TEXT in right):
        return True
    for side, other in ((expr.left, right), (expr.right, left)):
        if other & NUMBER and isinstance(side, ast.Literal) and isinstance(side.value, str):
            return read_number(side.value) is not None
    return bool((TEXT in left and right & NUMBER) or (left & NUMBER and TEXT in right))


def _arith(expr: ast.Binary, left: Types, right: Types, out: list[Diagnostic]) -> Types:
    op = expr.op
    numbers = bool(left & NUMBER and right & NUMBER)
    texts = op is ast.BinaryOp.ADD and TEXT in left and TEXT in right
    if not (numbers or texts):
        takes = "two numbers or two texts" if op is ast.BinaryOp.ADD else "two numbers"
        hint = ("convert with text(x) to join, or number(x) to add" if op is ast.BinaryOp.ADD
                else "convert with number(x)")
        out.append(diagnostic("A616", f"`{op}` takes {takes}, not {_words(left)} and "
                              f"{_words(right)}: this always fails", expr.span, hint))
        return ANY
    if op in (ast.BinaryOp.DIV, ast.BinaryOp.MOD) and isinstance(expr.right, ast.Literal) and (
            type_of(expr.right.value) in NUMBER and expr.right.value == 0):
        out.append(diagnostic("A618", f"`{op} 0`: a division by zero always fails",
                              expr.right.span, "divide by a number that is not zero"))
    result: set[str] = set()
    if numbers:
        result |= {INT} if left & NUMBER == {INT} and right & NUMBER == {INT} else NUMBER
    if texts:
        result.add(TEXT)
    return frozenset(result)
