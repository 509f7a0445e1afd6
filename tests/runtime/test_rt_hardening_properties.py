"""Issue 11, keep it found: property tests (bounded, in the default run) for the readers the
runtime shares with live calls: the expression evaluator, the template renderer, the digit
pattern matcher, and (ccc_dsl side) the cache's entry reader. Each input gives a value, a
located fault or a refusal, in bounded time; never another exception."""

from __future__ import annotations

import itertools
import time
from typing import Any

from ccc_runtime.bytecode import BytecodeError, Op
from ccc_runtime.limits import MAX_RENDERED_CHARS
from ccc_runtime.patterns import PatternError, compile_pattern, pattern_error
from ccc_runtime.templates import TemplateFault, TemplateRenderer, template_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rt_helpers import Flow, make_bundle, run_call

from ccc_dsl.cache import unseal

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)
NAMES = ["a", "b", "c", "caller.number", "menu.key", "a.x", "missing"]


def expressions(depth: int = 4) -> st.SearchStrategy[list[Any]]:
    leaf = st.one_of(st.builds(lambda v: ["const", v], values),
                     st.builds(lambda n: ["var", n], st.sampled_from(NAMES)))
    if depth == 0:
        return leaf
    sub = expressions(depth - 1)
    binary = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])
    return st.one_of(
        leaf,
        st.builds(lambda op, a, b: [op, a, b], binary, sub, sub),
        st.builds(lambda op, xs: [op, *xs], st.sampled_from(["and", "or"]),
                  st.lists(sub, min_size=2, max_size=3)),
        st.builds(lambda op, a: [op, a], st.sampled_from(["not", "neg"]), sub),
        st.builds(lambda a, b, c: ["?", a, b, c], sub, sub, sub),
        st.builds(lambda xs: ["list", *xs], st.lists(sub, max_size=3)),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "a.x"]), expressions(2)), max_size=3),
       expressions())
def test_any_expression_is_a_value_or_a_located_fault(sets: list[tuple[str, list[Any]]],
                                                     expr: list[Any]) -> None:
    f = Flow()
    nodes = [f.node(Op.SET, name, value, line=n + 1) for n, (name, value) in enumerate(sets)]
    try:
        branch = f.node(Op.BRANCH, expr, line=9)
    except BytecodeError:  # the verifier refuses what the VM must never see
        return
    yes, no = f.node(Op.HANGUP), f.node(Op.HANGUP)
    for node, after in itertools.pairwise([*nodes, branch]):
        f.exit(node, "next", after)
    f.exit(branch, "true", yes)
    f.exit(branch, "false", no)
    start = time.perf_counter()
    result, _, _, _ = run_call(make_bundle({"main": f.build()}))
    assert time.perf_counter() - start < 2
    assert result.outcome.kind in ("hangup", "error")
    assert all(fault.loc.line in range(1, 10) for fault in result.faults)


FRAGMENTS = ["{{ x }}", "{{ l|join(',') }}", "{% for i in l %}", "{% endfor %}", "{{ i }}",
             "{% if x > 1 %}", "{% else %}", "{% endif %}", "{{ s * 3 }}", "{{ s ~ s }}",
             "{{ x * x }}", "{{ 9 ** 9 }}", "{{ range(10) }}", "{{ s|center(99) }}", "{{ (x",
             ")", "}}", "{{", "text ", "{{ missing }}", "{{ d.k }}", "{{ d.update({}) }}",
             "{{ x|round(3) }}", "{{ s|truncate(5) }}", "{% set y = 1 %}", "{{ -x }}",
             "{{ x // 0 }}", "{{ '%d' % x }}", "{{ l[1:3] }}", "{{ l|sum }}", "{{ s|upper }}",
             "{{ loop.index }}", "{{ l|length }}", "{{ x.__class__ }}", "{{ d['k'] }}"]
templates = st.one_of(st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join),
                      st.text(alphabet="{}%|~*()[]'\". xlsdik0123456789", max_size=60))
call_data = st.fixed_dictionaries({
    "x": st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5)),
    "l": st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=50),
    "s": st.text(max_size=3000), "d": st.dictionaries(st.text(max_size=3), values, max_size=3),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates, call_data)
def test_any_template_renders_bounded_or_faults(source: str, data: dict[str, Any]) -> None:
    problem = template_error(source)
    assert problem is None or isinstance(problem, str)
    before = repr(data)
    start = time.perf_counter()
    try:
        text = TemplateRenderer().render(source, data)
    except TemplateFault:
        pass
    else:
        assert problem is None or "{" not in source
        assert len(text) <= MAX_RENDERED_CHARS or "{" not in source
    assert time.perf_counter() - start < 1
    assert repr(data) == before  # call data is read-only


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789()[]{}+*?|^$\\-,.:=!<>Pd#", max_size=40),
       st.text(alphabet="0123456789#*", max_size=200))
def test_any_pattern_compiles_or_is_refused_and_matches_in_linear_time(
        source: str, digits: str) -> None:
    problem = pattern_error(source)
    try:
        compiled = compile_pattern(source)
    except PatternError:
        assert problem is not None
        return
    assert problem is None
    start = time.perf_counter()
    compiled.fullmatch(digits)
    assert time.perf_counter() - start < 0.1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 2))
def test_any_cache_bytes_unseal_to_parts_or_none(blob: bytes, lazy: int) -> None:
    parts = unseal(b"ccc-cache 1\n" + blob, lazy)
    assert parts is None or isinstance(parts, list)
