"""The AST node base: children in source order, walks, searches by type and by position, as
name resolution and a language server use them."""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from gr_helpers import EXAMPLES

from ccc_dsl.grammar import ast
from ccc_dsl.grammar.parser import parse_file, parse_text

FLOW = '''flow demo {
  start:
    menu prompt "main-greeting" {
      1 -> transfer queue "sales" { busy -> voicemail "sales" }
      2 -> check
    }
  check:
    if caller.number == "+8613800000000" -> hangup else -> start
}
'''


def _module(text: str = FLOW) -> ast.Module:
    module = parse_text(text, "demo.ivr").module
    assert module is not None
    return module


def _reference_nodes(value: object) -> list[object]:
    """Every dataclass node under `value`, by plain recursion over all fields (the reference
    the base's typed, iterative walk must agree with)."""
    if isinstance(value, tuple):
        return [n for item in value for n in _reference_nodes(item)]
    if is_dataclass(value) and not isinstance(value, type) and isinstance(value, ast.Node):
        return [value, *(n for f in fields(value) if f.name != "span"
                         and not f.name.endswith("_span")
                         for n in _reference_nodes(getattr(value, f.name)))]
    return []


def test_walk_visits_every_node_once_in_source_order() -> None:
    for path in sorted(EXAMPLES.glob("*.ivr")):
        module = parse_file(path).module
        assert module is not None
        assert [id(n) for n in module.walk()] == [id(n) for n in _reference_nodes(module)]


def test_children_are_the_direct_nodes_in_field_order() -> None:
    menu = _module().flows[0].steps[0].body[0]
    assert isinstance(menu, ast.Menu)
    kids = list(menu.children())
    assert kids[0] is menu.prompt
    assert kids[1:] == list(menu.exits)


def test_find_all_by_type_and_skip() -> None:
    module = _module()
    refs = [(r.kind, r.name) for r in module.find_all(ast.Ref)]
    assert refs == [(ast.RefKind.PROMPT, "main-greeting"), (ast.RefKind.GROUP, "sales"),
                    (ast.RefKind.VOICEMAIL, "sales"), (ast.RefKind.LABEL, "check"),
                    (ast.RefKind.LABEL, "start")]
    assert [type(n) for n in module.find_all(ast.Hangup, ast.Voicemail)] == [
        ast.Voicemail, ast.Hangup]
    # a skipped subtree is yielded but not entered
    assert not list(module.find_all(ast.Var, skip=(ast.Binary,)))
    assert [v.dotted for v in module.find_all(ast.Var)] == ["caller.number"]


def test_node_at_gives_the_innermost_node() -> None:
    module = _module()
    line4 = FLOW.splitlines()[3]
    column = line4.index('"sales"') + 2  # inside the group name
    node = module.node_at(4, column)
    assert isinstance(node, ast.Ref) and node.kind is ast.RefKind.GROUP
    line8 = FLOW.splitlines()[7]
    node = module.node_at(8, line8.index("caller") + 1)
    assert isinstance(node, ast.Var) and node.dotted == "caller.number"
    node = module.node_at(8, line8.index("hangup") + 3)
    assert isinstance(node, ast.Hangup)
    assert module.node_at(99, 1) is None
    assert module.flows[0].steps[0].node_at(1, 1) is None  # before the step


def test_walk_is_not_recursive() -> None:
    """Blocks nested as deep as the parser allows don't exhaust the Python stack."""
    block: ast.Block = (ast.Hangup(ast.Span("x", 1, 1, 1, 2)),)
    span = ast.Span("x", 1, 1, 1, 2)
    for _ in range(5000):
        block = (ast.If(ast.Literal(True, span), block, None, span),)
    step = ast.Step("start", span, block, span)
    assert sum(1 for _ in step.walk()) == 1 + 5000 * 2 + 1
    assert len(list(step.find_all(ast.Hangup))) == 1


def test_every_node_class_derives_from_node() -> None:
    for name in dir(ast):
        cls = getattr(ast, name)
        if isinstance(cls, type) and is_dataclass(cls) and cls is not ast.Span:
            assert issubclass(cls, ast.Node), name
