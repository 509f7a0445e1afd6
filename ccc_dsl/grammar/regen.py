"""Write the parse tables the start-up path runs (tables.py) from Lark's analysis of ivr.lark.

    .venv/bin/python -m ccc_dsl.grammar.regen            # rewrite ccc_dsl/grammar/tables.py
    .venv/bin/python -m ccc_dsl.grammar.regen --check    # exit 1 when it is out of date

Lark's LALR tables, its contextual lexer's per-state scanners and the glue around each of the
AST builder's actions (glue.py) are written out as Python literals and one factory of the
callbacks, so that a process parsing a valid flow imports neither Lark nor its tables pickle
(the pickle and Lark stay for the error path and for this script). Everything is taken from the
very objects Lark builds, so the driver (driver.py) does what Lark does: the scanners are the
regular expressions Lark compiles for each state, in its order, and a name retyped as a keyword
is one of the keywords Lark's own `unless` callback of that state knows. The committed file is
checked by tests/grammar/test_grammar_driver.py: a grammar edit without regenerating fails there,
and so does a Lark release that analyses the grammar differently (the file names no Lark
version: one that gives the same tables passes).
"""

from __future__ import annotations

import argparse
import re
import sys
from functools import partial
from pathlib import Path
from typing import Any

TABLES_MODULE = Path(__file__).with_name("tables.py")
COMMAND = "python -m ccc_dsl.grammar.regen"


def _canonical_states(states: dict[Any, dict[str, tuple[Any, Any]]], start: Any,
                      shift: Any) -> list[Any]:
    """Lark's states in the order a walk from `start` first meets them (symbols in name order):
    the same for the same grammar whatever numbers Lark gave them."""
    order = [start]
    seen = {start}
    for state in order:  # grows as the walk goes
        for _, (action, arg) in sorted(states[state].items()):
            if action is shift and arg not in seen:
                seen.add(arg)
                order.append(arg)
    if len(order) != len(states):
        raise SystemExit("regen: some LALR states can't be reached from the start")
    return order


NAME_PATTERN = "(?!flow(?![A-Za-z0-9_]))[A-Za-z_][A-Za-z0-9_]*"
"""The NAME terminal driver.py's proof of its root scanner is about (see driver.py)."""


def _check_root_scanner(root: Any) -> None:
    """What driver.py's use of Lark's root scanner rests on: the only keywords the root scanner
    leaves out are those its NAME retypes, each an identifier that is no prefix of `flow` but
    itself, and NAME is NAME_PATTERN (so NAME matches wherever one of them does)."""
    scanner = root.scanner  # built now, as Lark builds it on first use
    terminals = {t.name: t for t in root.terminals}
    name = terminals.get("NAME")
    if name is None or name.pattern.to_regexp() != NAME_PATTERN or set(root.callback) != {"NAME"}:
        raise SystemExit("regen: NAME or the root lexer's keywords changed: re-check driver.py's "
                         "proof of its root scanner and update regen.NAME_PATTERN")
    left_out = set(terminals) - set(scanner.allowed_types)
    retyped = {t.name for t in root.callback["NAME"].scanner.terminals}
    identifier = re.compile("[A-Za-z_][A-Za-z0-9_]*")
    for term in left_out:
        word = terminals[term].pattern.value
        if (term not in retyped or terminals[term].priority != name.priority
                or not identifier.fullmatch(word) or "flow".startswith(word)):
            raise SystemExit(f"regen: the root scanner leaves out {term}, which driver.py's "
                             "proof does not cover")


def _lexer_tables(lexer: Any, states: list[int]) -> tuple[list[str], list[list[int]],
                                                          list[dict[str, dict[str, str]]],
                                                          list[int], set[str], set[str]]:
    """Lark's contextual lexer as data: the distinct scanner patterns, per lexer the indexes of
    its patterns (in Lark's order) and its retyping of names as keywords, per state its lexer,
    and the newline and ignored terminals. The last lexer is Lark's root lexer (all terminals),
    the lexer of no state."""
    from lark.lexer import PatternStr, UnlessCallback

    patterns: list[str] = []
    lexers: list[list[int]] = []
    retypes: list[dict[str, dict[str, str]]] = []
    index_of: dict[int, int] = {}
    lexer_of: list[int] = []
    newline: set[str] = set()
    ignore: set[str] = set()
    _check_root_scanner(lexer.root_lexer)
    for state in [*states, None]:
        basic = lexer.lexers[state] if state is not None else lexer.root_lexer
        if id(basic) in index_of and state is None:
            raise SystemExit("regen: the root lexer is some state's lexer")
        if id(basic) not in index_of:
            scanner = basic.scanner  # built now, as Lark builds it on first use
            if basic.user_callbacks or basic.g_regex_flags or basic.use_bytes:
                raise SystemExit("regen: lexer callbacks, flags or bytes are not supported")
            indexes: list[int] = []
            for compiled in scanner._mres:
                if compiled.pattern not in patterns:
                    patterns.append(compiled.pattern)
                indexes.append(patterns.index(compiled.pattern))
            retype: dict[str, dict[str, str]] = {}
            for name, callback in basic.callback.items():
                if type(callback) is not UnlessCallback or name in basic.ignore_types:
                    raise SystemExit(f"regen: terminal {name}'s lexer callback is not supported")
                words: dict[str, str] = {}
                for term in callback.scanner.terminals:  # Lark fullmatches them: equality
                    if type(term.pattern) is not PatternStr or term.pattern.flags:
                        raise SystemExit(f"regen: {term.name} is not a plain string")
                    if term.pattern.value in words:
                        raise SystemExit(f"regen: two keywords spelt {term.pattern.value!r}")
                    words[term.pattern.value] = term.name
                retype[name] = words
            index_of[id(basic)] = len(lexers)
            lexers.append(indexes)
            retypes.append(retype)
            newline |= set(basic.newline_types)
            ignore |= set(basic.ignore_types)
        if state is not None:
            lexer_of.append(index_of[id(basic)])
    return patterns, lexers, retypes, lexer_of, newline, ignore


def _same_action(action: Any, attribute: Any) -> bool:
    """Whether Lark's action of a rule is what `getattr(builder, name)` gives again (a bound
    method, or a `partialmethod`'s partial of one)."""
    if isinstance(action, partial) and isinstance(attribute, partial):
        return bool(action.func == attribute.func and action.args == attribute.args
                    and action.keywords == attribute.keywords)
    return bool(action == attribute)


def _callbacks(callbacks: dict[Any, Any], rules: list[Any], builder: Any) -> list[str]:
    """The source of `callbacks(b)`: per rule (in `rules` order) the callback glue.py compiles
    for Lark's wrappers of that rule, bound to the builder `b`."""
    from lark.grammar import Rule

    from ccc_dsl.grammar.glue import callback_code, unwrap

    lines = ["def callbacks(b: Any) -> tuple[Callable[[list[Any]], Any], ...]:",
             '    """Per rule (by number) its action on the builder `b`, as glue.py makes it."""']
    methods: set[str] = set()
    defs: dict[str, str] = {}  # function source -> its name
    entries: list[str] = []
    for rule in rules:
        if not isinstance(rule, Rule):
            raise SystemExit("regen: a terminal callback is not supported")
        plan = unwrap(callbacks[rule])
        if plan is None:
            raise SystemExit(f"regen: rule {rule.origin.name}'s wrapper is not one glue.py knows")
        include, append, expand1, action = plan
        method = rule.alias or rule.options.template_source or rule.origin.name  # as Lark
        if action is not None and not _same_action(action, getattr(builder, method, None)):
            raise SystemExit(f"regen: rule {rule.origin.name}'s action is not `b.{method}`")
        kind, arg = callback_code(rule, include, append, expand1, action)
        if kind == "action":
            methods.add(method)
            entries.append(f"_m_{method}")
        elif kind == "list":
            entries.append("list")
        elif kind == "none":
            entries.append("_none")
        elif kind == "item":
            entries.append(f"itemgetter({arg})")
        else:
            if "_tree(" in arg:
                raise SystemExit(f"regen: rule {rule.origin.name} would build a Lark tree")
            if action is not None:
                methods.add(method)
                arg = arg.replace("_action(", f"_m_{method}(")
            name = defs.setdefault(arg, f"_f{len(defs)}")
            entries.append(name)
    lines += [f"    _m_{m} = b.{m}" for m in sorted(methods)]
    for source, name in defs.items():
        body = source.replace("def callback(c):", f"def {name}(c: list[Any]) -> Any:")
        lines += ["    " + line for line in body.rstrip("\n").split("\n")]
    lines.append("    return (")
    lines += [f"        {entry}," for entry in entries]
    lines.append("    )")
    return lines


def generate(grammar_text: str) -> str:
    """The text of tables.py for this grammar, from a Lark parser built with ccc's options."""
    from lark import Lark
    from lark.parsers.lalr_analysis import Shift

    from ccc_dsl.grammar.lexing import word_keywords
    from ccc_dsl.grammar.parser import lark_options
    from ccc_dsl.grammar.transformer import AstBuilder

    builder = AstBuilder()
    lark = Lark(grammar_text, transformer=builder, **lark_options())
    parser = lark.parser.parser.parser
    table = parser.parse_table
    if set(table.start_states) != {"start"}:
        raise SystemExit("regen: one start symbol, `start`, is supported")
    # Lark numbers states and orders rules as its sets happen to iterate (string hashes vary
    # from run to run): renumber both canonically, so the same grammar gives the same file.
    rules = sorted(parser.callbacks, key=lambda r: (
        r.origin.name, [sym.name for sym in r.expansion], r.alias or "", r.order))
    number = {id(rule): i for i, rule in enumerate(rules)}
    states = _canonical_states(table.states, table.start_states["start"], Shift)
    new_number = {state: i for i, state in enumerate(states)}
    state_lines: list[str] = []
    for state in states:
        actions: list[str] = []
        for symbol, (action, arg) in sorted(table.states[state].items()):
            code = new_number[arg] if action is Shift else -1 - number[id(arg)]
            actions.append(f"{str(symbol)!r}: {code}")
        state_lines.append("    {" + ", ".join(actions) + "},")
    patterns, lexers, retypes, lexer_of, newline, ignore = _lexer_tables(lark.parser.lexer,
                                                                         states)
    out = [
        f'"""Parse tables of ivr.lark for driver.py, written by `{COMMAND}`: do not edit.',
        "",
        "Lark's LALR states (per state, symbol -> shift to state n >= 0, or reduce by rule",
        "-1 - code), its rules (origin, length), its contextual lexer's scanner patterns, the",
        "lexer of each state and its keyword retyping, the terminals each lexer matches (the last,",
        "ROOT, is Lark's root lexer), and the AST builder's callbacks as glue.py compiles them.",
        '"""',
        "# ruff: noqa: E501",
        "# mypy: ignore-errors",
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Callable",
        "from operator import itemgetter",
        "from typing import Any",
        "",
        f"GRAMMAR = {grammar_text!r}",
        f"START = {new_number[table.start_states['start']]}",
        f"END = {new_number[table.end_states['start']]}",
        f"NEWLINE_TYPES = frozenset({sorted(newline)!r})",
        f"IGNORE_TYPES = frozenset({sorted(ignore)!r})",
        f"WORDS = frozenset({sorted(word_keywords(lark.terminals))!r})",
        "STATES = (",
        *state_lines,
        ")",
        "RULES = (",
        *[f"    ({str(rule.origin.name)!r}, {len(rule.expansion)})," for rule in rules],
        ")",
        "PATTERNS = (",
        *[f"    {pattern!r}," for pattern in patterns],
        ")",
        "LEXERS = (",
        *[f"    ({', '.join(map(str, indexes))},)," for indexes in lexers],
        ")",
        f"ROOT = {len(lexers) - 1}",
        "TERMINALS = (",
        *[f"    frozenset({_group_names(patterns, indexes)!r})," for indexes in lexers],
        ")",
        "RETYPES = (",
        *[f"    {retype!r}," for retype in retypes],
        ")",
        f"LEXER_OF = {tuple(lexer_of)!r}",
        "",
        "",
        "def _none(c: list[Any]) -> None:",
        '    """A `?rule` whose one child is an absent `[optional]`."""',
        "    return None",
        "",
        "",
        *_callbacks(parser.callbacks, rules, builder),
        "",
    ]
    for pattern in patterns:
        re.compile(pattern)  # as Lark compiled it (no flags)
    return "\n".join(out)


def _group_names(patterns: list[str], indexes: list[int]) -> list[str]:
    """The terminals a lexer matches: the named groups of its patterns, sorted."""
    return sorted(name for i in indexes for name in re.compile(patterns[i]).groupindex)


def main(argv: list[str] | None = None) -> int:
    """Rewrite tables.py, or (--check) report whether it matches the grammar."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when tables.py is not what the grammar gives")
    args = parser.parse_args(argv)
    from ccc_dsl.grammar.parser import GRAMMAR_PATH

    text = generate(GRAMMAR_PATH.read_text(encoding="utf-8"))
    current = TABLES_MODULE.read_text(encoding="utf-8") if TABLES_MODULE.exists() else ""
    if args.check:
        if current != text:
            print(f"{TABLES_MODULE} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        TABLES_MODULE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
