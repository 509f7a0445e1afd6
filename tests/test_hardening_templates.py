"""Issue 11 item 6: speech templates can't hang, bloat or mutate a call. What `say` never
needs is refused at compile time (P212, located), by the same check the runtime runs on a
bundle; what is left is bounded while it renders, and an exceeded limit is a located fault
that takes the flow's error path."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from ccc_runtime.bytecode import Op
from ccc_runtime.functions import StubFunctions
from ccc_runtime.limits import MAX_RENDERED_CHARS, MAX_TEMPLATE_LOOP_ITERATIONS
from ccc_runtime.templates import TemplateFault, TemplateRenderer, template_error
from click.testing import CliRunner

from ccc_dsl.cli import cli

sys.path.insert(0, str(Path(__file__).parent / "flowtest"))
sys.path.insert(0, str(Path(__file__).parent / "runtime"))
from ft_helpers import write_repo
from rt_helpers import Flow, make_bundle, prompt, run_call, say, spoken

REPRODUCERS = [
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
     "can't use calls"),
    ("{{ 'a'|center(800000000) }}", "can't use the filter 'center'"),
    ("{{ ((9**64)**64)**64 }}", "can't use `**`"),
    ("{{ result.update({'balance': 0}) }}", "can't use calls"),
    ("{{ '%0999999999d' | format(1) }}", "can't use the filter 'format'"),
    ("{% set x = 1 %}", "can't use `{% set %}`"),
    ("{% macro m() %}{% endmacro %}", "can't use macros"),
    ("{{ x.__class__ }}", "attributes starting with '_'"),
    ("{{ " + "(" * 40 + "1" + ")" * 40 + " }}", "brackets nest over"),
    ("{{ " + "not " * 150 + "x }}", "over 100 tokens"),
    ("{" * 78 + " (({{ (({({(({(", "brackets nest over"),  # atheris: RecursionError in jinja2
]


@pytest.mark.parametrize(("template", "message"), REPRODUCERS)
def test_what_say_never_needs_is_refused_at_compile_time(template: str, message: str) -> None:
    problem = template_error(template)
    assert problem is not None and message in problem


def test_validate_locates_the_refused_template(tmp_path: Path) -> None:
    flow = 'flow t "T" {\n  s: say "{{ result.update({\'a\': 1}) }}" then hangup\n}\n'
    result = CliRunner().invoke(cli, ["validate", str(write_repo(tmp_path / "r", flow))])
    assert result.exit_code == 1
    assert "t.ivr:2:" in result.output and "P212" in result.output
    assert "can't use calls" in result.output


@pytest.mark.parametrize("template", [
    "{{ result.balance }}", "{{ (queue.wait_seconds / 60) | round | int }}",
    "{% if result.balance > 0 %}in credit{% else %}owing{% endif %}",
    "{% for o in result.orders %}{{ loop.index }}: {{ o|upper }}, {% endfor %}",
    "{{ result.name|default('caller')|title }} {{ result.orders|join(', ') }}",
])
def test_what_speech_needs_still_renders(template: str) -> None:
    assert template_error(template) is None
    data = {"result": {"balance": 5, "name": "ann", "orders": ["a", "b"]},
            "queue": {"wait_seconds": 130}}
    assert TemplateRenderer().render(template, data)


@pytest.mark.parametrize(("template", "message"), [
    ("{% for i in l %}{% for j in l %}{% for k in l %}{% endfor %}{% endfor %}{% endfor %}",
     f"loops ran over {MAX_TEMPLATE_LOOP_ITERATIONS} iterations"),
    ("{% for i in l %}{{ s }}{% endfor %}", f"renders over {MAX_RENDERED_CHARS} characters"),
    ("{{ l|join(s) }}", "join would build a value over the limits"),
    ("{{ s ~ s ~ s }}", "`~` would build a string"),
    ("{{ s * 1000 }}", "repetition makes a value too large"),
    ("{{ '%099999999d' % 1 }}", "`%` formatting of strings"),
    ("{{ big * big * big }}", "a product over 256 bits"),
    ("{{ 5|round(-1000000000) }}", "round's precision"),
])
def test_limits_while_rendering_are_faults_in_bounded_time(template: str, message: str) -> None:
    assert template_error(template) is None  # allowed constructs: bounded while they run
    data = {"l": list(range(5000)), "s": "a" * 30_000, "big": 2**200}
    start = time.perf_counter()
    with pytest.raises(TemplateFault, match=message):
        TemplateRenderer().render(template, data)
    assert time.perf_counter() - start < 1.0


def test_a_bundle_template_that_mutates_call_data_is_a_located_fault() -> None:
    """A hand-made bundle skips the compiler; the runtime runs the same check and the call
    takes its error path at the DSL line, with the function result untouched."""
    f = Flow()
    lookup = f.node(Op.CALL_FUNCTION, "account-lookup", [], 0, "result", 0, line=3)
    talk = f.node(Op.PLAY, say("{{ result.update({'balance': 0}) }}"), line=4)
    end = f.node(Op.HANGUP)
    sorry = f.node(Op.PLAY, prompt("sorry"))
    f.exit(lookup, "ok", talk)
    f.exit(lookup, "error", end)
    f.exit(talk, "next", end)
    f.exit(sorry, "next", end)
    f.b.set_error_node(sorry)
    stub = StubFunctions({"account-lookup": {"balance": 7}})
    result, _, _, _ = run_call(make_bundle({"main": f.build()}), functions=stub)
    assert spoken(result) == ["sorry"]
    assert result.faults[0].loc.line == 4
    assert "can't use calls" in result.faults[0].message
    assert result.variables["result"] == {"balance": 7}


def test_a_manifest_prompt_gets_the_same_check(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "r", 'flow t "T" {\n  s: play "hello" then hangup\n}\n')
    things = repo / "things.yaml"
    things.write_text(things.read_text(encoding="utf-8").replace(
        'languages: {en: {tts: "Hello"}}', "languages: {en: {tts: \"{{ 'a'|center(9) }}\"}}"),
        encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(repo)])
    assert result.exit_code == 1
    assert "things.yaml:" in result.output and "can't use the filter 'center'" in result.output
