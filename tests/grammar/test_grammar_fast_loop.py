"""Lark's loop made cheaper for our parser (grammar/lexing.py's contextual lexer, glue.py's
identity rules) parses exactly what Lark's own lexer and rules parse: the same modules with their
spans, the same checks, the same syntax errors and repairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lark import Lark
from lark.exceptions import UnexpectedInput
from lark.grammar import Rule
from lark.lexer import ContextualLexer
from lark.parsers.lalr_analysis import Reduce
from test_grammar_bench_corpus import load_generator

from ccc_dsl.grammar.errors import SyntaxErrors
from ccc_dsl.grammar.glue import compile_callbacks, identity_rules
from ccc_dsl.grammar.lexing import fast_lexer
from ccc_dsl.grammar.parser import GRAMMAR_PATH, lark_options, lark_parser
from ccc_dsl.grammar.transformer import AstBuilder

ROOT = Path(__file__).parents[2]

BROKEN = [  # each goes through a different error path of the lexer or the parser
    "flow x {\n  start:\n    hangup ~\n}\n",  # a character no terminal matches
    "flow x {\n  start:\n    play \"unterminated\n    hangup\n}\n",
    "flow x {\n  start:\n    menu { 1 -> }\n}\n",  # an unexpected token, repaired or not
    "flow x {\n\tstart:\r\n    // a comment\r\n    hangup hangup\n}\n",
    "flow x {\n  start:\n    set a = 1 +\n}\n",
    "flow",  # the end of the text too early
    "",
]


def _parser(fast: bool) -> tuple[Lark, AstBuilder]:
    builder = AstBuilder()
    lark = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), transformer=builder, **lark_options())
    assert compile_callbacks(lark.parser.parser.parser.callbacks)
    if fast:
        assert identity_rules(lark.parser.parser.parser)
        assert fast_lexer(lark)
    return lark, builder


def _outcome(lark: Lark, builder: AstBuilder, text: str, name: str) -> tuple[Any, ...]:
    """What a parse gives without error recovery and with parse_text's (SyntaxErrors)."""
    builder.reset(name)
    try:
        plain: tuple[Any, ...] = ("module", repr(lark.parse(text)))  # repr: with the spans
    except UnexpectedInput as exc:
        plain = ("error", type(exc).__name__, exc.line, exc.column, str(exc))
    plain += (list(builder.diagnostics),)
    builder.reset(name)
    errors = SyntaxErrors(lark, text, name)
    try:
        recovered = repr(lark.parse(text, on_error=errors.on_error))
    except UnexpectedInput as exc:
        errors.final(exc)
        recovered = "gave up"
    return plain, recovered, errors.diagnostics, builder.diagnostics


def test_the_parser_runs_the_fast_lexer_and_identity_rules() -> None:
    lark = lark_parser()
    assert isinstance(lark.parser.lexer, ContextualLexer)
    assert type(lark.parser.lexer).__name__ == "_FastContextualLexer"
    assert {type(x).__name__ for x in lark.parser.lexer.lexers.values()} == {"_FastBasicLexer"}
    rules = [r for r in lark.parser.parser.parser.callbacks if isinstance(r, Rule)]
    assert rules and {type(r).__name__ for r in rules} == {"_IdentityRule"}


def test_the_fast_loop_parses_what_larks_own_parses() -> None:
    texts = list(load_generator().generate_corpus(40, 5))
    for pattern in ("tests/grammar/cases/*.ivr", "examples/**/*.ivr"):
        texts += [(str(p), p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob(pattern))]
    texts += [(f"broken{i}.ivr", text) for i, text in enumerate(BROKEN)]
    fast, larks = _parser(True), _parser(False)
    failed = 0
    for name, text in texts:
        mine = _outcome(*fast, text, name)
        assert mine == _outcome(*larks, text, name), name
        failed += bool(mine[2])
    assert failed >= len(BROKEN) + 5  # syntax errors of the cases among them, not only modules


def test_a_keyword_is_a_whole_word_unlike_in_larks_own_lexer() -> None:
    """Where only `queue` fits, Lark's lexer reads `queues` as `queue` then a name `s` (a
    queue whose group is variable `s`); the fast lexer takes the word whole, a NAME there."""
    text = 'flow x {\n  start:\n    transfer queues {\n      timeout -> hangup\n    }\n}\n'
    (plain, *_), (larks, *_) = _outcome(*_parser(True), text, "q.ivr"), \
        _outcome(*_parser(False), text, "q.ivr")
    assert larks[0] == "module" and "'s'" in larks[1]
    assert plain[:4] == ("error", "UnexpectedToken", 3, 14) and "'queues'" in plain[4]


def test_identity_rules_refuse_a_table_whose_rules_are_other_objects() -> None:
    lark = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), transformer=AstBuilder(),
                **lark_options())
    parser = lark.parser.parser.parser
    actions = next(a for a in parser.parse_table.states.values()
                   if any(kind is Reduce for kind, _ in a.values()))
    token, (kind, rule) = next((t, a) for t, a in actions.items() if a[0] is Reduce)
    actions[token] = (kind, Rule(rule.origin, rule.expansion, rule.order, rule.alias,
                                 rule.options))  # equal, not the same object
    assert not identity_rules(parser)
    assert {type(r) for r in parser.callbacks} == {Rule}


def test_fast_lexer_leaves_other_lexers_alone() -> None:
    lark = Lark('start: "a"', parser="lalr", lexer="basic")
    lexer = lark.parser.lexer
    assert not fast_lexer(lark)
    assert lark.parser.lexer is lexer and type(lexer).__name__ != "_FastContextualLexer"
