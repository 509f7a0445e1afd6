"""The LALR parse of a valid flow from the generated tables (tables.py), without Lark.

Starting Lark costs a process ~100 ms before its first token (importing it, loading the tables
pickle, building the lexers); a one-edit `ccc compile` parses one flow. This module runs the same
parse from tables regen.py wrote out of Lark's own objects: the contextual lexer's per-state
scanners (the very patterns Lark compiles, in its order, compiled here on first use), its
retyping of names as keywords, and Lark's LALR loop (`ParserState.feed_token`) calling the
builder's actions through the callbacks glue.py would compile. Only the success path lives
here: at the first character no scanner matches, the first token no action expects, or anything
else out of the ordinary, `parse` returns FAILED having reported nothing, and the caller parses
again with Lark from the start (parser.py), which words every error as before.

Compiling a state's scanner costs 0.1-1 ms (Python's regular-expression compiler is written in
Python) and one flow meets ~50 states, so until a state is met often (ROOT_USES) its token comes
from Lark's root scanner (all terminals, compiled once) when the terminal it finds is one of the
state's own; else the state's scanner is compiled and asked. That gives what the state's scanner
gives. Both take the first of their terminals, in Lark's one order, that matches at the place. If
the root scanner's first, T, is one of the state's, every terminal before T among the state's
either is among the root scanner's, before T (so it doesn't match there, nor here: the same
pattern at the same place), or is a keyword the root scanner leaves to NAME. regen.py checks
that each of those is an identifier that is no prefix of `flow` and NAME is the pattern
regen.NAME_PATTERN, so NAME matches wherever such a keyword does: T is then NAME or before it.
T can't be NAME (a state with NAME leaves its keywords to NAME too, so the keyword would not be
among the state's), and a keyword comes after NAME (same priority, shorter), so not before T.
The same text follows (the same pattern), retyped by the state's own keywords.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from ccc_dsl.grammar import tables
from ccc_dsl.grammar.tokens import WORD_CHARS, Token

FAILED: Final = object()
"""What `parse` returns when the text is not a valid flow (or the tables can't tell)."""

_new_str = str.__new__
_scanners: list[list[Callable[[str, int], re.Match[str] | None]] | None] = [None] * len(
    tables.LEXERS)
"""Per lexer of the tables, the `match` of its compiled patterns (compiled on first use)."""


_root_uses: list[int] = [0] * len(tables.LEXERS)
"""Per lexer, the tokens the root scanner matched for it so far."""
ROOT_USES: Final = 64
"""Tokens after which a state's own scanner is compiled: a one-flow parse compiles few (each
0.1-1 ms), a run over many flows soon matches with the smaller scanners of the busy states."""


def _scanner(lexer: int) -> list[Callable[[str, int], re.Match[str] | None]]:
    """The `match` methods of one lexer's patterns, compiled as Lark compiles them (no flags;
    `re` keeps the compiled pattern of a text shared by several lexers)."""
    found = _scanners[lexer] = [re.compile(tables.PATTERNS[i]).match
                                for i in tables.LEXERS[lexer]]
    return found


Rules = tuple[tuple[str, int, Callable[[list[Any]], Any]], ...]
"""Per rule number: the rule's name, its length and its callback."""


def bind(builder: Any) -> Rules:
    """The tables' rules with the callbacks of one AST builder."""
    return tuple((origin, size, callback) for (origin, size), callback
                 in zip(tables.RULES, tables.callbacks(builder), strict=True))


def parse(text: str, rules: Rules) -> Any:
    """The value of the start rule for `text`, or FAILED. The callbacks of `rules` (see `bind`)
    run as the rules are reduced, exactly as in Lark's parse of a valid text."""
    states, lexer_of = tables.STATES, tables.LEXER_OF
    retypes, scanners, terminals, uses = tables.RETYPES, _scanners, tables.TERMINALS, _root_uses
    root = scanners[tables.ROOT] or _scanner(tables.ROOT)
    newlines, ignore, words = tables.NEWLINE_TYPES, tables.IGNORE_TYPES, tables.WORDS
    end_state = tables.END
    stack = [tables.START]
    values: list[Any] = []
    pos, line, line_start, end = 0, 1, 0, len(text)
    while True:
        lexer = lexer_of[stack[-1]]
        patterns = scanners[lexer]
        kind = "$END"
        token: Any = None
        while pos < end:
            found = None
            if patterns is None:  # this state's scanner isn't compiled: the root one may do
                for match in root:
                    found = match(text, pos)
                    if found:
                        break
                if found is None or found.lastgroup not in terminals[lexer]:
                    found = None
                    patterns = _scanner(lexer)
                else:
                    uses[lexer] += 1
                    if uses[lexer] == ROOT_USES:  # a state met this often: its own is faster
                        patterns = _scanner(lexer)
            if found is None:
                for match in patterns:  # type: ignore[union-attr]
                    found = match(text, pos)
                    if found:
                        break
                else:  # no terminal of this state matches here: Lark words the error
                    return FAILED
            value: str = found.group(0)
            kind = found.lastgroup  # type: ignore[assignment]
            if kind in words and pos + len(value) < end and text[pos + len(value)] in WORD_CHARS:
                return FAILED  # `queues` where only `queue` fits: Lark's lexer takes the word
            start, start_line, column = pos, line, pos - line_start + 1
            if kind in newlines:
                count = value.count("\n")
                if count:
                    line += count
                    line_start = pos + value.rindex("\n") + 1
            pos += len(value)
            if kind in ignore:
                kind = "$END"
                continue
            retype = retypes[lexer].get(kind)
            if retype is not None:
                kind = retype.get(value, kind)
            token = _new_str(Token, value)
            token.type = kind
            token.start_pos = start
            token.value = value
            token.line = start_line
            token.column = column
            token.end_line = line
            token.end_column = pos - line_start + 1
            token.end_pos = pos
            break
        while True:  # reduce as the token asks, then shift it (or accept at the end)
            action = states[stack[-1]].get(kind)
            if action is None:  # a token no rule expects here: Lark words the error
                return FAILED
            if action >= 0:
                if token is None or action == end_state:
                    return FAILED  # Lark never shifts the end; it asserts against it
                stack.append(action)
                values.append(token)
                break
            origin, size, callback = rules[-1 - action]
            if size:
                children = values[-size:]
                del stack[-size:]
                del values[-size:]
            else:
                children = []
            values.append(callback(children))
            stack.append(states[stack[-1]][origin])
            if token is None and stack[-1] == end_state:
                return values[-1]
