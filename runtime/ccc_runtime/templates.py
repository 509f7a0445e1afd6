"""Text-to-speech templates (`"Your balance is {{ result.balance }}"`) rendered from call data.

Rendering happens in a jinja2 sandbox: flow authors and function replies must not reach Python
internals. A missing variable or field reads as null, as in expressions (docs/dsl.md
"Expressions"), and null renders as empty text: `{{ result.message }}` says nothing when the
reply has no message. Anything else that fails is a `TemplateFault`, which the interpreter turns
into the flow's error path.

Speech needs placeholders, conditions, a few filters and perhaps a loop over a function's list,
nothing else. So `template_error` (the compiler's check, and the runtime's before it compiles
a template from a bundle) admits only those constructs: no calls (so no method of call data,
no `range`), no `**`, no macros, blocks or `set`, and only the filters in `FILTERS`. What is
left is bounded by construction while it runs (numbers in ccc_runtime.limits): loop
iterations are counted, every intermediate string, list and number is size-checked when an
operator or filter makes it, and the output stops at MAX_RENDERED_CHARS. Call data is
read-only (jinja2's immutable sandbox), so a template can't change what the flow sees next.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Final

from jinja2 import ChainableUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .limits import (
    MAX_RENDERED_CHARS,
    MAX_TEMPLATE_DEPTH,
    MAX_TEMPLATE_INT_BITS,
    MAX_TEMPLATE_LOOP_ITERATIONS,
    MAX_TEMPLATE_SOURCE_CHARS,
    MAX_TEMPLATE_TAG_TOKENS,
    MAX_VALUE_CHARS,
)

__all__ = ["FILTERS", "TemplateFault", "TemplateRenderer", "template_error"]


class TemplateFault(Exception):
    """A template that failed to compile or render (message says why)."""


FILTERS: Final = ("abs", "capitalize", "count", "d", "default", "first", "float", "int", "join",
                  "last", "length", "lower", "max", "min", "reverse", "round", "string", "sum",
                  "title", "trim", "truncate", "upper", "wordcount")
"""The filters speech may use; the others (center, format, indent, map, ...) can build huge
strings or call other filters by name."""

_STATEMENTS: Final = (nodes.Template, nodes.Output, nodes.If, nodes.For)
_EXPRESSIONS: Final = (
    nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr, nodes.Getitem, nodes.Slice,
    nodes.Filter, nodes.Test, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or,
    nodes.Not, nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv,
    nodes.Mod, nodes.Concat, nodes.List, nodes.Tuple, nodes.Keyword)
_WHAT: Final[dict[type[nodes.Node], str]] = {
    nodes.Call: "calls (`x.f()`, `range()`)", nodes.Pow: "`**`",
    nodes.Assign: "`{% set %}`", nodes.AssignBlock: "`{% set %}`", nodes.Macro: "macros",
    nodes.CallBlock: "`{% call %}`", nodes.FilterBlock: "`{% filter %}`",
    nodes.With: "`{% with %}`", nodes.Block: "blocks", nodes.Include: "`{% include %}`",
    nodes.Import: "`{% import %}`", nodes.FromImport: "`{% import %}`",
    nodes.Extends: "`{% extends %}`", nodes.Dict: "dict literals",
}
_ITER: Final = "_ccc_iter"
_CONCAT: Final = "_ccc_concat"
_BUDGET: ContextVar[list[int]] = ContextVar("ccc_template_budget")


def _too_big(value: object) -> str | None:
    """Why an intermediate value is over the limits, or None."""
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE_CHARS:
        return f"a value of {len(value)} items or characters (limit {MAX_VALUE_CHARS})"
    if isinstance(value, int) and value.bit_length() > MAX_TEMPLATE_INT_BITS:
        return f"a number over {MAX_TEMPLATE_INT_BITS} bits"
    return None


def _checked(value: Any) -> Any:
    problem = _too_big(value)
    if problem is not None:
        raise TemplateFault(f"the template builds {problem}")
    return value


def _capped_filter(name: str) -> Callable[..., Any]:
    """A builtin filter whose result is size-checked (and whose size arguments are bounded
    before it runs)."""
    inner = JINJA_FILTERS[name]

    @functools.wraps(inner)
    def run(*args: Any, **kwargs: Any) -> Any:
        if name == "join":
            # (eval_ctx, value, d="", attribute=None): the result is at least len(d) * items
            items = list(args[1])
            sep = kwargs.get("d", args[2] if len(args) > 2 else "")
            if len(str(sep)) * len(items) > MAX_VALUE_CHARS:
                raise TemplateFault("join would build a value over the limits")
            args = (args[0], items, *args[2:])
        elif name == "round":
            precision = kwargs.get("precision", args[1] if len(args) > 1 else 0)
            if not isinstance(precision, int) or abs(precision) > 20:
                raise TemplateFault("round's precision must be an integer within -20..20")
        return _checked(inner(*args, **kwargs))

    return run


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """A for loop's items, each one counted against the render's iteration budget."""
    budget = _BUDGET.get()
    for item in iterable:
        budget[0] -= 1
        if budget[0] < 0:
            raise TemplateFault(f"loops ran over {MAX_TEMPLATE_LOOP_ITERATIONS} iterations")
        yield item


def _concat(*parts: Any) -> str:
    """`a ~ b`, refusing a result over the limits before it is built."""
    texts = [str(p) for p in parts]
    if sum(map(len, texts)) > MAX_VALUE_CHARS:
        raise TemplateFault(f"`~` would build a string over {MAX_VALUE_CHARS} characters")
    return "".join(texts)


def _lexical_problem(env: ImmutableSandboxedEnvironment, source: str) -> str | None:
    """Size and nesting of the source, checked on its tokens before the recursive parser runs
    (so nothing deep can reach it)."""
    if len(source) > MAX_TEMPLATE_SOURCE_CHARS:
        return f"the template has {len(source)} characters (limit {MAX_TEMPLATE_SOURCE_CHARS})"
    depth = in_tag = 0
    for _, kind, value in env.lex(source):
        if kind in ("variable_begin", "block_begin"):
            in_tag = 0
        elif kind != "whitespace":
            in_tag += 1
            if in_tag > MAX_TEMPLATE_TAG_TOKENS:
                return f"a placeholder has over {MAX_TEMPLATE_TAG_TOKENS} tokens"
        if kind == "operator" and value in "([{":
            depth += 1
            if depth > MAX_TEMPLATE_DEPTH:
                return f"brackets nest over {MAX_TEMPLATE_DEPTH} deep"
        elif kind == "operator" and value in ")]}":
            depth -= 1
    return None


def _tree_problem(tree: nodes.Template) -> tuple[str, int] | None:
    """The first construct speech doesn't need, with its line, or None."""
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Filter | nodes.Test) and node.node is None:
            return "speech templates can't use filter blocks", node.lineno
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            return (f"speech templates can't use the filter {node.name!r} (they have "
                    f"{', '.join(FILTERS)})"), node.lineno
        if isinstance(node, nodes.Name) and node.name.startswith("_"):
            return f"speech templates can't use names starting with '_' ({node.name})", node.lineno
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return (f"speech templates can't use attributes starting with '_' ({node.attr})",
                    node.lineno)
        if isinstance(node, nodes.For) and (node.recursive or node.test is not None):
            return "speech templates can't use recursive or filtered loops", node.lineno
        if not isinstance(node, _STATEMENTS + _EXPRESSIONS):
            what = next((w for t, w in _WHAT.items() if isinstance(node, t)),
                        f"`{type(node).__name__}`")
            return f"speech templates can't use {what}", node.lineno
    return None


def _bound(tree: nodes.Template) -> None:
    """Route every loop through the iteration budget and every `~` through the size check."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name(_ITER, "load"), [loop.iter], [], None, None,
                               lineno=loop.lineno)
    for concat in list(tree.find_all(nodes.Concat)):
        call = nodes.Call(nodes.Name(_CONCAT, "load"), concat.nodes, [], None, None,
                          lineno=concat.lineno)
        for parent in tree.find_all(nodes.Node):
            for field in parent.fields:
                value = getattr(parent, field)
                if value is concat:
                    setattr(parent, field, call)
                elif isinstance(value, list):
                    setattr(parent, field, [call if v is concat else v for v in value])


def _blank_null(value: Any) -> Any:
    """What a placeholder prints: null as empty text, anything else as it is."""
    return "" if value is None else value


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable jinja2 sandbox, restricted to what speech needs and bounded in size."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%"})

    def __init__(self) -> None:
        # a missing name or field chains to one more missing value, rendered (as null is) as
        # empty text: the rule of expressions (ccc_runtime.expressions)
        super().__init__(undefined=ChainableUndefined, autoescape=False, finalize=_blank_null)
        self.globals = {_ITER: _counted, _CONCAT: _concat}
        self.filters = {name: _capped_filter(name) for name in FILTERS}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        problem = _lexical_problem(self, source)
        if problem is not None:
            raise TemplateSyntaxError(problem, 1, name, filename)
        tree = super()._parse(source, name, filename)
        found = _tree_problem(tree)
        if found is not None:
            raise TemplateSyntaxError(found[0], found[1], name, filename)
        _bound(tree)
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise TemplateFault("`%` formatting of strings is not available")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and (
                        len(seq) * n > MAX_VALUE_CHARS):
                    raise TemplateFault("repetition makes a value too large")
            if isinstance(left, int) and isinstance(right, int) and (
                    left.bit_length() + right.bit_length() > MAX_TEMPLATE_INT_BITS + 1):
                raise TemplateFault(f"a product over {MAX_TEMPLATE_INT_BITS} bits is too large")
        return _checked(super().call_binop(context, operator, left, right))


_CHECKER: Final = _BoundedEnvironment()


@functools.lru_cache(maxsize=4096)
def template_error(source: str) -> str | None:
    """Why `source` is no valid speech template, or None (the compiler's check, P212)."""
    try:
        _CHECKER.parse(source)
    except TemplateSyntaxError as exc:
        return exc.message or "syntax error"
    return None


class TemplateRenderer:
    """Compiles each distinct template once and renders it against a call's variables."""

    def __init__(self) -> None:
        self._env = _BoundedEnvironment()
        self._cache: dict[str, Template] = {}

    def render(self, source: str, variables: Mapping[str, Any]) -> str:
        """Render `source`; raise TemplateFault on any template problem or exceeded limit."""
        if "{" not in source:  # plain text: nothing to render, the common case
            return source
        token = _BUDGET.set([MAX_TEMPLATE_LOOP_ITERATIONS])
        try:
            template = self._cache.get(source)
            if template is None:
                template = self._env.from_string(source)
                self._cache[source] = template
            out: list[str] = []
            size = 0
            for chunk in template.generate(variables):
                size += len(chunk)
                if size > MAX_RENDERED_CHARS:
                    raise TemplateFault(f"it renders over {MAX_RENDERED_CHARS} characters")
                out.append(chunk)
        except TemplateFault as exc:
            raise TemplateFault(f"template {source!r}: {exc}") from None
        except TemplateError as exc:
            raise TemplateFault(f"template {source!r}: {exc}") from None
        except Exception as exc:
            raise TemplateFault(f"template {source!r}: {type(exc).__name__}: {exc}") from None
        finally:
            _BUDGET.reset(token)
        return "".join(out)
