"""Parse `.ivr` text into an `ast.Module` plus diagnostics; never raises on bad input.

One LALR parser (contextual lexer, grammar analysis cached on disk) runs the `AstBuilder`
transformer inline, so no parse tree is built; Lark's glue around each action is compiled per
rule (glue.py), its rules compare by identity and its lexer's per-token loop is written
out (lexing.py). Syntax errors go through `errors.SyntaxErrors`, which words them and repairs or
skips tokens so several errors are reported per file. When a file has a syntax error the module
is None: a half-parsed flow would only mislead the compiler. After an error that can't be
repaired in place, the step around it is blanked out and the text parsed again (at most
MAX_ROUNDS times), so one run reports the errors of several steps.

A valid flow (nearly every parse) never meets Lark at all: driver.py runs the same parse from
the tables regen.py wrote out of Lark's (tables.py, checked against the grammar's text), so a
process that parses one flow doesn't import Lark nor load its tables pickle. The first thing out
of the ordinary sends the text to the Lark parser above, from the start.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ccc_dsl.codes import Stage, stage_of
from ccc_dsl.diagnostics import Diagnostic, Span, error, sorted_diagnostics
from ccc_dsl.grammar import ast, driver, tables
from ccc_dsl.grammar.errors import MAX_ERRORS, SyntaxErrors, skip_region, too_deep
from ccc_dsl.grammar.transformer import AstBuilder

if TYPE_CHECKING:
    from lark import Lark

GRAMMAR_PATH = Path(__file__).with_name("ivr.lark")
_LOCK = threading.Lock()
MAX_ROUNDS = 12  # parses per file when skipping past errors
MAX_FLOW_BYTES: Final = 4 * 1024 * 1024
"""Largest .ivr file read (a flow of 100,000 lines is about 3 MiB); a larger one is P100."""


@dataclass
class ParseResult:
    """The module (None when the file has syntax errors or can't be read) and every diagnostic."""

    module: ast.Module | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def lark_options() -> dict[str, Any]:
    """The options every parser of the language shares (the benchmark builds a bare twin)."""
    return {
        "parser": "lalr",
        "lexer": "contextual",
        "strict": True,
        "propagate_positions": False,  # spans come from tokens: inline actions get no meta
        "maybe_placeholders": True,
        "cache": _tables_file(),
    }


TABLES_PATH = GRAMMAR_PATH.with_name("ivr.lark-tables")
"""The grammar's parse tables as Lark saves them (a pickle), beside the grammar: made at install
time by scripts/setup.sh, as the byte-compiled modules beside them are."""


def _tables_file() -> str | bool:
    """Where Lark keeps the grammar's parse tables between runs (building them takes 0.3-0.8 s):
    beside the grammar when they were made at install or the package folder is ours to write;
    else in ccc's own cache folder (mode 0700). Never Lark's default, a predictable name in the
    shared temp folder where another local user could plant the pickle Lark loads. False
    (build them every run) when neither can be had."""
    if TABLES_PATH.exists() or os.access(TABLES_PATH.parent, os.W_OK):
        return str(TABLES_PATH)
    from ccc_dsl.cache import cache_dir

    folder = cache_dir()
    if folder is None:
        return False
    try:
        (folder / "grammar").mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return False
    # Lark checks the grammar, its options and its own version inside the file
    return str(folder / "grammar" / "ivr.lark-tables")


@cache
def _builder() -> AstBuilder:
    """The one AST builder both parsers run (under _LOCK)."""
    return AstBuilder()


@cache
def _driver_rules() -> driver.Rules | None:
    """The generated tables' rules bound to the builder; None when tables.py was not made from
    the grammar as it is now (`python -m ccc_dsl.grammar.regen` after an edit; until then every
    text goes through Lark). The tables carry the grammar's whole text: comparing it costs less
    than loading a hash function."""
    if GRAMMAR_PATH.read_text(encoding="utf-8") != tables.GRAMMAR:
        return None
    return driver.bind(_builder())


@cache
def _parser() -> tuple[Lark, AstBuilder]:
    from lark import Lark

    from ccc_dsl.grammar.glue import compile_callbacks, identity_rules
    from ccc_dsl.grammar.lexing import fast_lexer

    builder = _builder()
    lark = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), transformer=builder, **lark_options())
    compile_callbacks(lark.parser.parser.parser.callbacks)
    identity_rules(lark.parser.parser.parser)
    fast_lexer(lark)
    return lark, builder


def lark_parser() -> Lark:
    """The Lark parser `parse_text` runs, its AstBuilder attached (the benchmark times its
    actions one by one)."""
    return _parser()[0]


def parse_text(text: str, file: str) -> ParseResult:
    """Parse the text of one `.ivr` file; `file` is the name used in spans."""
    if text.startswith("\ufeff"):
        text = text[1:]
    deep = too_deep(text, file)
    if deep is not None:
        return ParseResult(None, [deep])
    with _LOCK:
        rules = _driver_rules()
        if rules is not None:
            builder = _builder()
            builder.reset(file)
            module = driver.parse(text, rules)
            if module is not driver.FAILED:
                return _parsed(module, builder.diagnostics)
        return _parse_with_lark(text, file)


def _parsed(module: Any, checks: list[Diagnostic]) -> ParseResult:
    """The result of a parse without syntax errors."""
    if not isinstance(module, ast.Module) or any(stage_of(d.code) is Stage.SYNTAX for d in checks):
        # A syntax-level check (P109: an expression too deep) leaves no usable module either.
        return ParseResult(None, sorted_diagnostics(checks))
    return ParseResult(module, sorted_diagnostics(checks))


def _parse_with_lark(text: str, file: str) -> ParseResult:
    """Lark's parse (under _LOCK), which words syntax errors and parses on past them."""
    from lark.exceptions import UnexpectedInput

    lark, builder = _parser()
    syntax: list[Diagnostic] = []
    checks: list[Diagnostic] = []
    module: Any = None
    gave_up = False  # too many errors, or too many rounds of skipping
    for _ in range(MAX_ROUNDS):
        builder.reset(file)
        errors = SyntaxErrors(lark, text, file)
        module = None
        try:
            module = lark.parse(text, on_error=errors.on_error)
        except UnexpectedInput as exc:
            errors.final(exc)
        # Each round parses from the top again, so it repeats the repaired errors before the
        # skipped step; keep one of each.
        syntax.extend(d for d in errors.diagnostics if d not in syntax)
        checks = builder.diagnostics
        if not errors.stopped or errors.stop_line is None:
            break
        skipped = skip_region(text, errors.stop_line)
        if skipped == text:
            break
        if len(syntax) >= MAX_ERRORS:
            gave_up = True
            break
        text = skipped
    else:
        gave_up = True
    if gave_up:
        syntax = syntax[:MAX_ERRORS]
        syntax.append(error("P108", f"too many syntax errors; stopped after {len(syntax)}",
                            syntax[-1].span, "fix these and run again"))
    if syntax:
        # Checks of a repaired or partly skipped text only count before the first syntax error.
        first = min(d.sort_key() for d in syntax)
        kept = [d for d in checks if d.sort_key() < first] if module is not None else []
        return ParseResult(None, sorted_diagnostics(syntax + kept))
    return _parsed(module, checks)


_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters a flow never needs (tab, line feed and carriage return aside): a NUL or
an ESC in a string would reach speech, records and terminals."""


def decode(data: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    """UTF-8 text of a file, or a located P100 diagnostic for bytes that are not UTF-8 (P107
    for a control character)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [error(
            "P100", f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            Span.point(file, line, column), "save the file as UTF-8",
        )]
    bad = _CONTROL.search(text)
    if bad is None:
        return text, []
    line = text.count("\n", 0, bad.start()) + 1
    column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
    return None, [error(
        "P107", f"a control character (U+{ord(bad.group()):04X}) is not allowed in a flow",
        Span.point(file, line, column), "remove it; in a string write \\n or \\t",
    )]


def parse_file(path: Path) -> ParseResult:
    """Read and parse one `.ivr` file; unreadable files give a P100 diagnostic."""
    file = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FLOW_BYTES + 1)
    except OSError as exc:
        return ParseResult(None, [error("P100", f"cannot read the file: {exc.strerror}",
                                        Span.point(file, 1, 1))])
    if len(data) > MAX_FLOW_BYTES:
        return ParseResult(None, [error(
            "P100", f"the file is over {MAX_FLOW_BYTES // (1024 * 1024)} MiB; no flow is that "
            "long", Span.point(file, 1, 1), "split it into flows of their own files")])
    text, diagnostics = decode(data, file)
    if text is None:
        return ParseResult(None, diagnostics)
    return parse_text(text, file)
