"""Dead ends no call can reach (issue 10 bugs): after a `call flow` of a sub-flow that never
returns, `ccc graph` drew the exit out of it and a dead end, though the compiler called the
flow valid; and A602 reported a run-off on a `collect`'s `exhausted` that no retry counter can
reach. The analysis and the picture now agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_helpers import analyse_text, examples_copy
from click.testing import CliRunner

from ccc_dsl.cli import cli
from ccc_dsl.compiler.passes.dead_ends import as_run
from ccc_dsl.views.graph import to_dot, to_mermaid

NO_RETURN = """\
flow caller_side "Calls a sub-flow that never comes back" {
  start:
    call flow goodbye
    play "bye"
}

flow goodbye "Always hangs up" {
  start:
    play "bye" then hangup
}
"""


def test_no_dead_end_and_no_exit_after_a_sub_flow_that_never_returns() -> None:
    analysis, diagnostics = analyse_text(NO_RETURN)
    assert [d.code for d in diagnostics] == []
    ir = analysis.program.flows["caller_side"]
    assert "dead end" in to_mermaid(ir)  # the graph as lowered still has the fall-through
    shown = as_run(ir, analysis.program)
    mermaid = to_mermaid(shown)
    assert "dead" not in mermaid
    assert '-->|"next"|' not in mermaid
    assert "style n1 stroke-dasharray" in mermaid  # the play after it is never reached
    assert "dead" not in to_dot(shown) and "n0 ->" not in to_dot(shown)


def test_a_returning_sub_flow_keeps_its_exit_and_dead_end() -> None:
    text = NO_RETURN.replace('play "bye" then hangup', 'play "bye" then return')
    analysis, diagnostics = analyse_text(text)
    assert [d.code for d in diagnostics] == ["A602"]
    mermaid = to_mermaid(as_run(analysis.program.flows["caller_side"], analysis.program))
    assert 'n0 -->|"next"| n1' in mermaid and 'n1 -->|"next"| dead' in mermaid


def test_ccc_graph_draws_the_flow_as_it_runs(tmp_path: Path) -> None:
    repo = examples_copy(tmp_path / "repo")
    (repo / "flows" / "no_return.ivr").write_text(NO_RETURN, encoding="utf-8")
    result = CliRunner().invoke(cli, ["graph", "caller_side", str(repo)])
    assert result.exit_code == 0, result.output
    assert "dead" not in result.output and '-->|"next"|' not in result.output


def collect(exits: str, options: str = 'digits 6 prompt "enter-account" retries 2') -> str:
    return f"""\
flow c "Collect" {{
  start:
    collect account {options} {{
      ok -> hangup
{exits}    }}
}}
"""


LEAVES = "      noinput -> play \"bye\" then hangup\n      nomatch -> hangup\n"


def test_no_a602_on_an_exhausted_that_no_counter_reaches() -> None:
    analysis, diagnostics = analyse_text(collect(LEAVES))
    assert diagnostics == []
    picture = to_mermaid(as_run(analysis.program.flows["c"], analysis.program))
    assert "dead" not in picture


def test_a_collect_that_cannot_mismatch_needs_only_noinput_handled() -> None:
    _, diagnostics = analyse_text(collect("      noinput -> hangup\n",
                                          'digits 1..4 prompt "enter-account"'))
    assert diagnostics == []


@pytest.mark.parametrize("exits, options", [
    ("      noinput -> hangup\n", 'digits 6 prompt "enter-account"'),  # nomatch asks again
    (LEAVES, 'digits 6 prompt "enter-account" noinput 0'),  # the first no-input exhausts
    ("      noinput -> hangup\n      nomatch -> reprompt\n", 'digits 6 prompt "enter-account"'),
    ("      noinput -> hangup\n      nomatch -> goto start\n",
     'digits 6 prompt "enter-account"'),  # back to the collect: its counters go on
    ("      noinput -> hangup\n", 'digits 1..4 terminator # prompt "enter-account"'),
])
def test_a602_still_on_an_exhausted_a_counter_reaches(exits: str, options: str) -> None:
    _, diagnostics = analyse_text(collect(exits, options))
    assert [(d.code, "`exhausted`" in d.message) for d in diagnostics] == [("A602", True)]
