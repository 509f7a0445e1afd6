"""What the parser promises the compiler: the AST's shape, defaults, spans and diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccc_dsl.diagnostics import Span
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.formatter import format_text
from ccc_dsl.grammar.parser import parse_file, parse_text


def parse_ok(text: str) -> ast.Module:
    result = parse_text(text, "t.ivr")
    assert result.diagnostics == [], result.diagnostics
    assert result.module is not None
    return result.module


def only_step(text: str) -> ast.Block:
    module = parse_ok(f"flow f {{\n  s:\n    {text}\n}}\n")
    return module.flows[0].steps[0].body


def codes(text: str) -> list[str]:
    return [d.code for d in parse_text(text, "t.ivr").diagnostics]


def test_spans_are_one_based_and_end_exclusive() -> None:
    module = parse_ok('flow main "Main" {\n  start:\n    play "bye"\n}\n')
    flow = module.flows[0]
    assert flow.span == Span("t.ivr", 1, 1, 4, 2)
    assert flow.name_span == Span("t.ivr", 1, 6, 1, 10)
    step = flow.steps[0]
    assert step.label_span == Span("t.ivr", 2, 3, 2, 8)
    play = step.body[0]
    assert isinstance(play, ast.Play)
    assert play.span == Span("t.ivr", 3, 5, 3, 15)
    ref = play.audio.items[0]
    assert isinstance(ref, ast.Ref)
    assert (ref.kind, ref.name) == (ast.RefKind.PROMPT, "bye")
    assert ref.span == Span("t.ivr", 3, 10, 3, 15)


def test_spans_do_not_take_part_in_equality() -> None:
    a = parse_ok("flow f { s: hangup }")
    b = parse_ok("flow f {\n\n  s:\n      hangup\n}")
    assert a.flows == b.flows
    assert a.flows[0].span != b.flows[0].span


def test_menu_defaults_and_durations_in_milliseconds() -> None:
    (menu,) = only_step('menu prompt "m" { 1 -> s }')
    assert isinstance(menu, ast.Menu)
    assert (menu.timeout_ms, menu.noinput_retries, menu.nomatch_retries) == (5000, 3, 3)
    assert menu.interdigit_ms is None
    assert menu.prompt.barge_in is True
    (menu,) = only_step('menu prompt "m" nobargein timeout 1500ms interdigit 2s retries 2 '
                        "nomatch 4 { 12 -> s }")
    assert isinstance(menu, ast.Menu)
    assert (menu.timeout_ms, menu.interdigit_ms) == (1500, 2000)
    assert (menu.noinput_retries, menu.nomatch_retries) == (2, 4)
    assert menu.prompt.barge_in is False
    assert menu.exits[0].name == "12" and menu.exits[0].is_key


@pytest.mark.parametrize(("text", "ms"), [("2500ms", 2500), ("3s", 3000), ("2m", 120_000),
                                          ("1h", 3_600_000)])
def test_duration_units(text: str, ms: int) -> None:
    (queue,) = only_step(f'transfer queue "sales" timeout {text}')
    assert isinstance(queue, ast.TransferQueue)
    assert queue.timeout_ms == ms


def test_exit_targets_are_blocks_of_statements() -> None:
    (menu,) = only_step('menu prompt "m" {\n 1 -> s\n 2 -> play "x" then hangup\n'
                        ' noinput -> play "a", say "b" then reprompt }')
    assert isinstance(menu, ast.Menu)
    one, two, noinput = menu.exits
    assert isinstance(one.body[0], ast.Goto) and one.body[0].target.kind is ast.RefKind.LABEL
    assert [type(s) for s in two.body] == [ast.Play, ast.Hangup]
    assert [type(s) for s in noinput.body] == [ast.Play, ast.Reprompt]
    play = noinput.body[0]
    assert isinstance(play, ast.Play)
    assert isinstance(play.audio.items[1], ast.Tts)


def test_chain_in_a_step_is_flattened_into_its_body() -> None:
    body = only_step('play "a" then goto s\n    hangup')
    assert [type(s) for s in body] == [ast.Play, ast.Goto, ast.Hangup]


def test_if_else_and_expressions() -> None:
    (stmt,) = only_step('if not caller.vip and time.hour >= 9 or called.number in ["1", "2"] '
                        "-> s else -> hangup")
    assert isinstance(stmt, ast.If)
    cond = stmt.condition
    assert isinstance(cond, ast.Binary) and cond.op is ast.BinaryOp.OR
    left = cond.left
    assert isinstance(left, ast.Binary) and left.op is ast.BinaryOp.AND
    assert isinstance(left.left, ast.Unary) and left.left.op is ast.UnaryOp.NOT
    assert isinstance(cond.right, ast.Binary) and cond.right.op is ast.BinaryOp.IN
    assert isinstance(cond.right.right, ast.ListExpr)
    assert stmt.otherwise is not None and isinstance(stmt.otherwise[0], ast.Hangup)


def test_function_call_with_arguments_result_and_exits() -> None:
    (call,) = only_step('call function "account-lookup" with { account: account, n: 1 } '
                        "timeout 2s as acct { ok -> s  error -> hangup }")
    assert isinstance(call, ast.CallFunction)
    assert call.function.kind is ast.RefKind.FUNCTION
    assert [a.name for a in call.args] == ["account", "n"]
    assert (call.timeout_ms, call.result_var) == (2000, "acct")
    assert [e.name for e in call.exits] == ["ok", "error"]
    (call,) = only_step('call function "vip-check"')
    assert isinstance(call, ast.CallFunction)
    assert (call.args, call.result_var, call.exits) == ((), "result", ())


def test_queue_with_in_queue_experience() -> None:
    (queue,) = only_step(
        'transfer queue "sales" priority caller.vip timeout 5m familiar music "hold-music" '
        "announce position every 30s announce wait every 1m "
        'prompt say "Wait {{ queue.wait_seconds }}" '
        "offer callback after 2m key 1 { 0 -> s  callback -> hangup  busy -> s }"
    )
    assert isinstance(queue, ast.TransferQueue)
    assert queue.familiar and isinstance(queue.priority, ast.Var)
    assert queue.hold is not None and queue.hold.barge_in is False
    assert [(a.kind, a.every_ms) for a in queue.announcements] == [
        (ast.AnnounceKind.POSITION, 30_000), (ast.AnnounceKind.WAIT, 60_000)]
    assert queue.announcements[1].prompt is not None
    assert [(o.kind, o.after_ms, o.key) for o in queue.offers] == [
        (ast.OfferKind.CALLBACK, 120_000, "1")]
    assert [e.name for e in queue.exits] == ["0", "callback", "busy"]


def test_transfer_targets_named_or_from_data() -> None:
    named, data, number = only_step(
        'transfer agent "alice"\n transfer agent result.agent timeout 10s\n'
        ' transfer number "+8613800138000"')
    assert isinstance(named, ast.TransferAgent) and isinstance(named.agent, ast.Ref)
    assert named.agent.kind is ast.RefKind.AGENT and named.timeout_ms == 30_000
    assert isinstance(data, ast.TransferAgent) and isinstance(data.agent, ast.Var)
    assert isinstance(number, ast.TransferNumber)
    assert number.number == ast.Literal("+8613800138000", number.span)


def test_tts_per_language_and_templates_kept_verbatim() -> None:
    (play,) = only_step('say { zh: "您好 {{ result.name }}", en: "Hi {{ result.name }}" } bargein')
    assert isinstance(play, ast.Play) and play.audio.barge_in
    (tts,) = play.audio.items
    assert isinstance(tts, ast.Tts)
    assert [(t.language, t.template) for t in tts.texts] == [
        ("zh", "您好 {{ result.name }}"), ("en", "Hi {{ result.name }}")]


def test_string_escapes() -> None:
    (play,) = only_step(r'say "a \"quoted\" \\ word\nnext"')
    assert isinstance(play, ast.Play)
    (tts,) = play.audio.items
    assert isinstance(tts, ast.Tts)
    assert tts.texts[0].template == 'a "quoted" \\ word\nnext'


def test_an_unknown_escape_keeps_its_backslash() -> None:
    """`pattern "\\d{6}"` means the regular expression \\d{6}; dropping the backslash made it
    d{6}, which no digits match."""
    module = parse_ok(r'flow a { s: collect x digits 6 pattern "\d{6}" prompt "p" { ok -> s } }')
    (collect,) = module.flows[0].steps[0].body
    assert isinstance(collect, ast.Collect)
    assert collect.pattern == r"\d{6}"
    once = format_text(r'flow a { s: collect x digits 6 pattern "\d{6}" prompt "p" { ok -> s } }',
                       "t.ivr")
    assert parse_ok(once) == module


def test_several_flows_per_file_and_subflow_refs() -> None:
    module = parse_ok("flow a { s: call flow b then hangup }\nflow b { s: return }")
    assert [f.name for f in module.flows] == ["a", "b"]
    call = module.flows[0].steps[0].body[0]
    assert isinstance(call, ast.CallFlow) and call.flow.kind is ast.RefKind.FLOW


def test_comments_are_ignored() -> None:
    module = parse_ok("// head\nflow a { // x\n s: // y\n hangup // z\n}\n// tail")
    assert module.flows[0].steps[0].body == (ast.Hangup(module.flows[0].steps[0].body[0].span),)


def test_an_empty_file_is_an_empty_module() -> None:
    assert parse_ok("").flows == ()


@pytest.mark.parametrize(("text", "code"), [
    ("flow a { s: hangup }\nflow a { s: hangup }", "P203"),
    ("flow a { s: hangup\n s: hangup }", "P201"),
    ('flow a { s: hours "h" { open -> s  open -> s } }', "P202"),
    ('flow a { s: menu prompt "m" timeout 2h { 1 -> s } }', "P204"),
    ('flow a { s: menu prompt "m" retries 1 retries 2 { 1 -> s } }', "P205"),
    ('flow a { s: collect x digits 5..2 prompt "p" { ok -> s } }', "P206"),
    ("flow a { s: menu { 1 -> s } }", "P207"),
    ("flow a { s: reprompt }", "P208"),
    ('flow a { s: menu prompt "m" { 12 -> s } }', "P209"),
    ('flow a { s: play "" }', "P210"),
    ('flow a { s: collect x digits 4 pattern "[" prompt "p" { ok -> s } }', "P211"),
    ('flow a { s: say "{{ x " }', "P212"),
    ("flow a { s: set x = 9223372036854775808 }", "P214"),
    ("flow a { s: set x = -9223372036854775808 }", "P214"),
    ("flow a { s: set x = " + "9" * 400 + ".5 }", "P214"),
])
def test_checks_without_manifests(text: str, code: str) -> None:
    result = parse_text(text, "t.ivr")
    assert [d.code for d in result.diagnostics] == [code]
    assert result.module is not None


@pytest.mark.parametrize(("text", "column"), [
    ('flow a { s: set caller.number = "1" }', 17),
    ("flow a { s: set time = 3 }", 17),
    ('flow a { s: collect call digits 4 prompt "p" { ok -> s } }', 21),
    ('flow a { s: call function "f" as queue { ok -> s } }', 34),
    ('flow a { s: set menu.key = "1" }', 17),
])
def test_call_data_is_read_only(text: str, column: int) -> None:
    """The runtime refuses to set call data (a fault, then the error handler): say so before
    deploy, at the variable."""
    result = parse_text(text, "t.ivr")
    assert [(d.code, d.span.column) for d in result.diagnostics] == [("P213", column)]
    assert result.module is not None


@pytest.mark.parametrize(("text", "column"), [
    ('flow a { s: transfer queue "q" { 12 -> s busy -> s timeout -> s } }', 34),
    ('flow a { s: transfer queue "q" offer callback after 1m key 12 { busy -> s timeout -> s'
     ' callback -> s } }', 60),
])
def test_keys_pressed_while_waiting_in_a_queue_are_single_keys(text: str, column: int) -> None:
    """In the queue the runtime takes one key press at a time (no inter-digit wait), so an
    exit or offer key of several digits could never be taken."""
    result = parse_text(text, "t.ivr")
    assert [(d.code, d.span.column) for d in result.diagnostics] == [("P206", column)]


@pytest.mark.parametrize(("priority", "codes"), [
    ('"high"', ["P215"]), ("1.5", ["P215"]), ("true", ["P215"]), ("-1", []), ("7", []),
    ("caller.vip", []), ("null", []),
])
def test_a_literal_queue_priority_is_an_integer(priority: str, codes: list[str]) -> None:
    """The runtime faults on a priority that is not an integer (null counts as 0)."""
    text = f'flow a {{ s: transfer queue "q" priority {priority} {{ busy -> s timeout -> s }} }}'
    assert [d.code for d in parse_text(text, "t.ivr").diagnostics] == codes


def test_variables_that_are_not_call_data_may_be_set() -> None:
    text = ('flow a { s: set callers = 1 set account.kind = "x" collect timed digits 4 prompt "p"'
            ' { ok -> s } call function "f" as vip { ok -> s } }')
    assert parse_text(text, "t.ivr").diagnostics == []


@pytest.mark.parametrize(("text", "code", "words"), [
    ('flow a { s: menu prompt "m" { "1" -> s } }', "P101",
     "expected a key 0-9, * or #, `exhausted`, `noinput`, `nomatch` or `}`"),
    ('flow a { s: menu prompt "m" { 1 s } }', "P102", "missing `->` after `1`"),
    ("flow a { s: if x s }", "P102", "missing `->` before `s`"),
    ('flow a { s: menu prompt "m" timeout 5 { 1 -> s } }', "P103", "the duration `5` has no unit"),
    ('flow a { s: plya "x" }', "P104", "did you mean `play`?"),
    ("flow a { menu: hangup\n s: survey: hangup }", "P105", "reserved word"),
    ("flow a { then: hangup }", "P105", "reserved word"),
    ('flow a { s: play "x" then then hangup }', "P105", "`then` twice"),
    ("flow a { s: hours \"h\" { open -> s }", "P106", "unclosed `{`"),
    ('flow a { s: play "x }', "P107", "unclosed string"),
    ('flow a {\n s:\n  menu prompt "m" {\n   1 -> t\n t:\n  hangup\n}', "P106",
     "unclosed `{` (opened at line 3): a `}` is missing before step `t:`"),
    ('flow a { s: if x = "1" -> s }', "P101", "to compare, write `==`"),
    ('flow a {\n s:\n  play "x" then\n t:\n  hangup\n}', "P101",
     "`then` must be followed by a statement or a label"),
    ('flow a {\n  say "hi"\n}', "P101", "`say` must be inside a step"),  # not "did you mean `say`"
    # a keyword is a whole word: `queues` was read as `queue` and a group from variable `s`
    ('flow a { s: transfer queues "q" }', "P104",
     "unknown keyword `queues`; did you mean `queue`?"),
    ('flow a { s: menu prompt "m" retries3 { 1 -> s } }', "P104", "unknown keyword `retries3`"),
    ('flow a {\n s:\n  menu prompt "m" {\n   2 ->\n   nomatch -> s\n  }\n}', "P101",
     "`2 ->` has no target"),
])
def test_syntax_errors_in_words(text: str, code: str, words: str) -> None:
    result = parse_text(text, "t.ivr")
    assert result.module is None
    first = result.diagnostics[0]
    assert first.code == code
    assert words in first.message
    assert first.span is not None and first.span.file == "t.ivr"


def test_an_arrow_without_target_is_reported_on_its_own_line() -> None:
    text = 'flow a {\n s:\n  menu prompt "m" {\n   2 ->\n   nomatch -> s\n  }\n}'
    first = parse_text(text, "t.ivr").diagnostics[0]
    assert first.span is not None and (first.span.line, first.span.column) == (4, 6)


def test_several_errors_are_reported_in_one_run() -> None:
    text = ("flow a {\n  s:\n    plya \"x\"\n  t:\n    menu prompt \"m\" timeout 3 {\n"
            "      1 u\n    }\n  u:\n    play \"x\" \"y\"\n  v:\n    hangpu\n}\n")
    result = parse_text(text, "t.ivr")
    assert [(d.code, d.span.line if d.span else 0) for d in result.diagnostics] == [
        ("P104", 3), ("P103", 5), ("P102", 6), ("P101", 9), ("P104", 11)]


def test_a_file_missing_the_closing_brace_of_a_flow() -> None:
    result = parse_text("flow a {\n  s:\n    hangup\n\nflow b {\n  s:\n    hangup\n}\n", "t.ivr")
    assert [d.code for d in result.diagnostics] == ["P106"]
    assert result.diagnostics[0].span is not None and result.diagnostics[0].span.line == 5


def test_bad_bytes_and_missing_files_are_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ivr"
    bad.write_bytes(b'flow a {\n  s: play "\xff\xfe"\n}\n')
    result = parse_file(bad)
    assert result.module is None
    assert [(d.code, d.span.line if d.span else 0) for d in result.diagnostics] == [("P100", 2)]
    missing = parse_file(tmp_path / "nope.ivr")
    assert [d.code for d in missing.diagnostics] == ["P100"]


def test_a_byte_order_mark_is_accepted() -> None:
    assert parse_text("\ufeffflow a { s: hangup }", "t.ivr").module is not None


def test_errors_are_capped() -> None:
    steps = "".join(f"  s{i}:\n    plya \"x\" \"y\"\n" for i in range(40))
    result = parse_text(f"flow a {{\n{steps}}}\n", "t.ivr")
    assert result.module is None
    assert 10 <= len(result.diagnostics) <= 21
    assert result.diagnostics[-1].code == "P108"
    assert {d.code for d in result.diagnostics[:-1]} == {"P104", "P101"}


def test_absurdly_deep_nesting_is_refused_not_crashed() -> None:
    deep = "flow a { s: " + 'menu prompt "m" { 1 -> ' * 200 + "hangup" + " }" * 200 + " }"
    result = parse_text(deep, "t.ivr")
    assert result.module is None
    assert [d.code for d in result.diagnostics] == ["P109"]
    assert format_text(deep, "t.ivr") == deep


@pytest.mark.parametrize("expr", [
    "not " * 3000 + "true",
    "- " * 3000 + "1",
    "[" * 3000 + "1" + "]" * 3000,
    " or ".join(["true"] * 3000),
    " and ".join(["x == 1"] * 3000),
])
def test_absurdly_deep_expressions_are_refused_not_crashed(expr: str) -> None:
    """The compiler, the formatter and the runtime walk expressions recursively: a deep one
    is a P109 at its place, not a RecursionError (exit 3) later."""
    text = f"flow a {{\n  s:\n    set x = {expr}\n    hangup\n}}\n"
    result = parse_text(text, "t.ivr")
    assert result.module is None
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("P109", 3)]
    assert format_text(text, "t.ivr") == text


def test_expressions_of_a_sensible_depth_parse() -> None:
    text = "flow a { s: set x = " + " or ".join(["y == 1"] * 60) + " hangup }"
    assert parse_text(text, "t.ivr").diagnostics == []
