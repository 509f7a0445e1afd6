"""The generated-table parser (grammar/driver.py over grammar/tables.py) parses every valid flow
exactly as Lark's parser does (same module, spans and checks), hands everything else to Lark
untouched (same diagnostics, word for word), never imports Lark for a valid flow, and its tables
are what `python -m ccc_dsl.grammar.regen` makes of the grammar as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_grammar_bench_corpus import load_generator
from test_grammar_fast_loop import BROKEN
from test_grammar_properties import SETTINGS, modules, mutated_examples

from ccc_dsl.grammar import driver, parser, regen, tables
from ccc_dsl.grammar.formatter import format_module
from ccc_dsl.grammar.parser import GRAMMAR_PATH, parse_text

ROOT = Path(__file__).parents[2]


def _texts() -> list[tuple[str, str]]:
    texts = list(load_generator().generate_corpus(60, 7))
    for pattern in ("tests/grammar/cases/*.ivr", "examples/**/*.ivr"):
        texts += [(str(p), p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob(pattern))]
    return texts + [(f"broken{i}.ivr", text) for i, text in enumerate(BROKEN)]


def _both(text: str, name: str) -> tuple[object, object, bool]:
    """parse_text's outcome, Lark's outcome of the same text, and whether the driver took it."""
    ours = parse_text(text, name)
    builder = parser._builder()
    with parser._LOCK:
        builder.reset(name)
        rules = parser._driver_rules()
        assert rules is not None
        took = driver.parse(text.removeprefix("\ufeff"), rules) is not driver.FAILED
        larks = parser._parse_with_lark(text.removeprefix("\ufeff"), name)
    return (repr(ours.module), ours.diagnostics), (repr(larks.module), larks.diagnostics), took


def test_the_committed_tables_are_what_the_grammar_gives() -> None:
    text = GRAMMAR_PATH.read_text(encoding="utf-8")
    assert text == tables.GRAMMAR
    fresh = regen.generate(text)
    assert fresh == regen.TABLES_MODULE.read_text(encoding="utf-8"), (
        f"ccc_dsl/grammar/tables.py is out of date: run `{regen.COMMAND}`")


def test_regen_check_reports_stale_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "tables.py"
    stale.write_text("# an older grammar's tables\n", encoding="utf-8")
    monkeypatch.setattr(regen, "TABLES_MODULE", stale)
    assert regen.main(["--check"]) == 1
    assert regen.COMMAND in capsys.readouterr().err
    assert regen.main([]) == 0 and regen.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == regen.generate(
        GRAMMAR_PATH.read_text(encoding="utf-8"))


def _scanners(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Start the driver's scanners afresh: "root" keeps to the root scanner wherever it may
    (states' own compiled only on a miss), "state" compiles every state's own up front."""
    monkeypatch.setattr(driver, "_scanners", [None] * len(tables.LEXERS))
    monkeypatch.setattr(driver, "_root_uses", [0] * len(tables.LEXERS))
    if mode == "root":
        monkeypatch.setattr(driver, "ROOT_USES", 10**9)
    else:
        for lexer in range(len(tables.LEXERS)):
            driver._scanner(lexer)


@pytest.mark.parametrize("mode", ["root", "state"])
def test_valid_flows_take_the_driver_and_parse_as_with_lark(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _scanners(monkeypatch, mode)
    taken = refused = 0
    for name, text in _texts():
        ours, larks, took = _both(text, name)
        assert ours == larks, name
        taken += took
        refused += not took
        if took:
            assert ours[0] != "None" or ours[1], name  # P109 aside, a module
    assert taken >= 80 and refused >= 10  # the corpus and examples; the cases with errors


def test_text_with_errors_gets_larks_diagnostics_word_for_word() -> None:
    for text in BROKEN:
        ours, larks, took = _both(text, "broken.ivr")
        assert ours == larks
        syntax = [d for d in parse_text(text, "broken.ivr").diagnostics if d.code < "P2"]
        assert took is not bool(syntax), text  # refused exactly when Lark finds an error
    result = parse_text("flow x {\n  start:\n    menu { 1 -> }\n}\n", "m.ivr")
    assert result.module is None and [d.code for d in result.diagnostics] == ["P101"]


def test_stale_tables_send_every_text_to_lark(monkeypatch: pytest.MonkeyPatch) -> None:
    name, text = next(iter(load_generator().generate_corpus(1, 3)))
    before = parse_text(text, name)
    parser._driver_rules.cache_clear()
    monkeypatch.setattr(tables, "GRAMMAR", tables.GRAMMAR + "// an edit\n")
    try:
        assert parser._driver_rules() is None
        after = parse_text(text, name)
    finally:
        parser._driver_rules.cache_clear()
    assert repr(after.module) == repr(before.module) and after.diagnostics == before.diagnostics


def _imports_lark(text: str, tmp_path: Path) -> bool:
    flow = tmp_path / "f.ivr"
    flow.write_text(text, encoding="utf-8")
    code = ("import sys; from pathlib import Path; from ccc_dsl.grammar.parser import parse_file;"
            f"parse_file(Path({str(flow)!r})); print('lark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout.strip() == "True"


def test_a_valid_flow_is_parsed_without_importing_lark(tmp_path: Path) -> None:
    _, text = next(iter(load_generator().generate_corpus(1, 5)))
    assert not _imports_lark(text, tmp_path)
    assert _imports_lark(BROKEN[0], tmp_path)


def test_the_root_scanner_is_lark_s_and_names_what_states_match() -> None:
    root = tables.TERMINALS[tables.ROOT]
    assert {"NAME", "STRING", "EX_KEY", "FLOW"} <= root and "IF" not in root  # left to NAME
    assert all(names - root <= set(tables.RETYPES[tables.ROOT]["NAME"].values())
               for names in tables.TERMINALS)
    assert len(tables.LEXER_OF) == len(tables.STATES) and tables.ROOT not in tables.LEXER_OF


@SETTINGS
@given(st.one_of(modules.map(format_module), mutated_examples()),
       st.sampled_from(["root", "state"]))
def test_generated_and_mutated_texts_parse_as_with_lark(text: str, mode: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _scanners(monkeypatch, mode)
        ours, larks, _ = _both(text, "gen.ivr")
    assert ours == larks


WORDS = ["transfer", "queue", "queues", "agent", "number", "sip", "call", "flow", "flowx",
         "function", "say", "play", "set", "x", "a_b", "hangup", "hangupx", "then", "goto",
         "if", "else", "not", "in", "and", "or", "menu", "prompt", "timeout", "noinput",
         "retries", "forever", "5", "5s", "5sx", "1.5", "12ms", "3m", '"s"', '"a\\"b"', "{",
         "}", "(", ")", "[", "]", ",", ":", ".", "=", "==", "<", "->", "1->", "*", "#",
         "ok->", "done ->", "-", "+", "//c\n", "\n", "bargein", "nobargein", "key"]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(["", " ", "\n"])),
                max_size=14),
       st.sampled_from(["root", "state"]))
def test_words_glued_in_a_step_parse_as_with_lark(words: list[tuple[str, str]],
                                                  mode: str) -> None:
    """Keywords, names and numbers run together (`transfer queues`, `pause 5sthen`): where
    the root scanner and a state's own could part, if anywhere."""
    body = "".join(word + gap for word, gap in words)
    text = f"flow main {{\n  start:\n    {body}\n}}\n"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _scanners(monkeypatch, mode)
        ours, larks, _ = _both(text, "glued.ivr")
    assert ours == larks, text


@pytest.mark.parametrize("body", [
    "transfer queues", "transfer queue\"q\"", "pause 5sthen hangup", "set a=1.5then hangup",
    "call flowx", "set hangupx = 1 then hangup", "say\"hi\"bargein", "menu prompt \"p\" "
    "{1->hangup 2 ->goto start noinput->hangup}", "transfer agent x timeout 5s{busy->hangup}",
])
def test_tight_texts_parse_as_with_lark(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _scanners(monkeypatch, "root")
    ours, larks, _ = _both(f"flow main {{\n  start:\n    {body}\n}}\n", "tight.ivr")
    assert ours == larks
