"""`flow` is never a name (so a flow that starts before the last one closed is seen as one), but
a function argument or a reply field may be called `flow`: that was a P105 "reserved word" and
a spurious P106 (issue 10)."""

from __future__ import annotations

from ccc_dsl.grammar import ast
from ccc_dsl.grammar.formatter import format_text
from ccc_dsl.grammar.parser import parse_text

SOURCE = """\
flow lookup {
  start:
    call function "account-lookup" with { flow: "x", account: caller.number } as r {
      ok -> say "{{ r.flow }}" then decide
      error -> hangup
    }

  decide:
    if r.flow == "vip" -> hangup
    hangup
}
"""


def test_an_argument_and_a_field_named_flow_parse_without_diagnostics() -> None:
    result = parse_text(SOURCE, "lookup.ivr")
    assert result.diagnostics == []
    assert result.module is not None
    call = result.module.flows[0].steps[0].body[0]
    assert isinstance(call, ast.CallFunction)
    assert [a.name for a in call.args] == ["flow", "account"]
    branch = result.module.flows[0].steps[1].body[0]
    assert isinstance(branch, ast.If)
    assert isinstance(branch.condition, ast.Binary)
    assert branch.condition.left == ast.Var(("r", "flow"), branch.span)


def test_fmt_keeps_the_argument_and_is_idempotent() -> None:
    once = format_text(SOURCE, "lookup.ivr")
    assert "with { flow: \"x\", account: caller.number }" in once
    assert format_text(once, "lookup.ivr") == once


def test_flow_is_still_reserved_as_a_label_and_starts_a_flow() -> None:
    label = parse_text("flow a {\n  flow:\n    hangup\n}\n", "a.ivr")
    assert [d.code for d in label.diagnostics] == ["P105"]
    unclosed = parse_text("flow a {\n  start:\n    hangup\n\nflow b {\n  s:\n    hangup\n}\n",
                          "a.ivr")
    assert [d.code for d in unclosed.diagnostics] == ["P106"]
