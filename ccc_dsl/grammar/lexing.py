"""Lark's contextual lexer with its per-token loop written out: the same tokens, fewer calls.

For every token Lark's `BasicLexer.next_token` goes through six Python frames besides the
regular expression's own work: the `scanner` property, two `match` methods, `Token.__new__` and
`Token._future_new`, and `LineCounter.feed`; `ContextualLexer.lex` reads the parser's state
through a property. A flow has ~120 tokens, so that was about a tenth of a parse. `fast_lexer`
makes the lexers of one Lark parser `_FastBasicLexer`s and its contextual lexer a
`_FastContextualLexer`, which do the same steps inline. Anything out of the ordinary (no
terminal matches, an error to word) goes back to Lark's own methods at the same position, so
errors are Lark's, word for word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, cast

from lark import Lark
from lark.exceptions import LexError, UnexpectedCharacters
from lark.lexer import BasicLexer, ContextualLexer, LexerState, PatternStr, Token

from ccc_dsl.grammar.tokens import WORD_CHARS

_new_str = str.__new__


_WORD = re.compile("[A-Za-z_][A-Za-z0-9_]*")


def word_keywords(terminals: Iterable[Any]) -> frozenset[str]:
    """The keywords spelt as a name (`queue`): a scanner may match one as the start of a longer
    word (`queues`) where no NAME is expected, so the lexers take such a word whole (a NAME);
    regen.py writes them into the tables for driver.py."""
    return frozenset(t.name for t in terminals
                     if type(t.pattern) is PatternStr and _WORD.fullmatch(t.pattern.value))


class _FastBasicLexer(BasicLexer):
    """`BasicLexer` with `next_token`'s matching, token making and line counting inline, and
    words taken whole: a keyword followed by a name's character is the start of a longer word."""

    _words: frozenset[str]
    """Its keywords spelt as a name (set by `fast_lexer`)."""

    def next_token(self, lex_state: LexerState, parser_state: Any = None) -> Token:
        scanner = self._scanner if self._scanner is not None else self.scanner
        patterns = scanner._mres
        ignore, newlines, callback = self.ignore_types, self.newline_types, self.callback
        line_ctr = lex_state.line_ctr
        newline = line_ctr.newline_char
        source, end = lex_state.text.text, lex_state.text.end
        while (pos := line_ctr.char_pos) < end:
            for pattern in patterns:
                found = pattern.match(source, pos, end)
                if found:
                    break
            else:  # nothing matches here: Lark raises its UnexpectedCharacters
                token: Token = super().next_token(lex_state, parser_state)
                return token
            value: str = found.group(0)
            kind: str = found.lastgroup
            if kind in self._words and pos + len(value) < end \
                    and source[pos + len(value)] in WORD_CHARS:
                # a keyword that starts a longer word (`queues`): the word, a NAME (which the
                # parser then reports where a keyword belongs), not `queue` and then `s`
                value = _WORD.match(source, pos).group(0)  # type: ignore[union-attr]
                kind = "NAME"
            line = line_ctr.line
            column = line_ctr.column
            if kind in newlines:
                count = value.count(newline)
                if count:
                    line_ctr.line += count
                    line_ctr.line_start_pos = pos + value.rindex(newline) + 1
            line_ctr.char_pos = after = pos + len(value)
            line_ctr.column = after - line_ctr.line_start_pos + 1
            if kind in ignore and kind not in callback:
                continue
            token = _new_str(Token, value)  # what Token(kind, value, pos, line, column) makes
            token.type = kind
            token.start_pos = pos
            token.value = value
            token.line = line
            token.column = column
            token.end_line = line_ctr.line
            token.end_column = line_ctr.column
            token.end_pos = after
            if kind in callback:
                token = callback[kind](token)
            if kind not in ignore:
                if not isinstance(token, Token):  # as Lark words it
                    raise LexError(f"Callbacks must return a token (returned {token!r})")
                lex_state.last_token = token
                return token
        raise EOFError(self)


class _FastContextualLexer(ContextualLexer):
    """`ContextualLexer` reading the parser's state off its stack (not through a property);
    an unexpected character is handed to Lark's own `lex` at the same place, which words it."""

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[Token]:
        lexers, stack = self.lexers, parser_state.state_stack
        try:
            while True:
                yield lexers[stack[-1]].next_token(lexer_state, parser_state)
        except EOFError:
            pass
        except UnexpectedCharacters:  # nothing was consumed: Lark's lex sees the same place
            yield from super().lex(lexer_state, parser_state)


def fast_lexer(lark: Lark) -> bool:
    """Make the contextual lexer of `lark` (and each of its per-state lexers) the fast kind, in
    place; False, and nothing changed, when it is not Lark's own contextual lexer."""
    lexer = getattr(lark.parser, "lexer", None)
    if type(lexer) is not ContextualLexer:
        return False
    basics = [*lexer.lexers.values(), lexer.root_lexer]
    if any(type(basic) is not BasicLexer for basic in basics):
        return False
    for basic in basics:
        basic.__class__ = _FastBasicLexer  # the same attributes: only the methods differ
        fast = cast(_FastBasicLexer, basic)
        fast._words = word_keywords(fast.terminals)
    lexer.__class__ = _FastContextualLexer
    return True
