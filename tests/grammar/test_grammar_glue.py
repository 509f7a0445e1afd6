"""The compiled glue between Lark's parser and the AST builder (ccc_dsl/grammar/glue.py) gives
every action the same children as Lark's own wrappers: the same modules, spans and checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lark import Lark
from lark.exceptions import UnexpectedInput
from lark.parse_tree_builder import ChildFilter, ExpandSingleChild
from test_grammar_bench_corpus import load_generator

from ccc_dsl.grammar.glue import compile_callbacks
from ccc_dsl.grammar.parser import GRAMMAR_PATH, lark_options, lark_parser
from ccc_dsl.grammar.transformer import AstBuilder

ROOT = Path(__file__).parents[2]


def _parser(compiled: bool) -> tuple[Lark, AstBuilder]:
    builder = AstBuilder()
    lark = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), transformer=builder, **lark_options())
    if compiled:
        assert compile_callbacks(lark.parser.parser.parser.callbacks)
    return lark, builder


def _outcome(lark: Lark, builder: AstBuilder, text: str, name: str) -> tuple[Any, ...]:
    builder.reset(name)
    try:
        return ("module", repr(lark.parse(text)), builder.diagnostics)  # repr: with the spans
    except UnexpectedInput as exc:
        return ("error", type(exc).__name__, exc.line, exc.column, builder.diagnostics)


def test_the_parser_runs_compiled_callbacks_only() -> None:
    callbacks = lark_parser().parser.parser.parser.callbacks
    assert callbacks
    assert not [r for r, f in callbacks.items() if isinstance(f, ChildFilter | ExpandSingleChild)]


def test_compiled_callbacks_build_what_larks_wrappers_build() -> None:
    texts = list(load_generator().generate_corpus(40, 3))
    for pattern in ("tests/grammar/cases/*.ivr", "examples/**/*.ivr"):
        texts += [(str(p), p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob(pattern))]
    assert len(texts) > 60
    ours, larks = _parser(True), _parser(False)
    checked = 0
    for name, text in texts:
        mine = _outcome(*ours, text, name)
        assert mine == _outcome(*larks, text, name), name
        checked += mine[0] == "module" and bool(mine[2])
    assert checked >= 5  # cases with diagnostics of the P2xx checks among them


def test_unknown_wrappers_leave_the_table_as_it_is() -> None:
    lark = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), transformer=AstBuilder(),
                **{**lark_options(), "propagate_positions": True})
    callbacks = lark.parser.parser.parser.callbacks
    before = dict(callbacks)
    assert not compile_callbacks(callbacks)
    assert callbacks == before
