"""The tokens the generated-table parser (driver.py) hands to the AST builder, without Lark.

The builder reads a token as it reads Lark's `lark.Token`: a `str` (its text) with the same
eight attributes. Lark's own class can't be had without importing Lark (30-40 ms at start-up),
so this one mirrors it: same slots, same equality (two tokens of different types differ), same
repr. The builder tells tokens from nodes with `isinstance(child, str)`, true of both kinds, as
the error path still runs Lark and feeds the builder Lark's tokens.
"""

from __future__ import annotations

from typing import Final

WORD_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
"""What a name is made of: a keyword spelt as a name (tables.WORDS) followed by one of these is
no keyword but the start of a longer word, which both lexers take whole (driver.py, lexing.py)."""


class Token(str):
    """A piece of the input: its text, its terminal's name and where it starts and ends."""

    __slots__ = ("column", "end_column", "end_line", "end_pos", "line", "start_pos", "type",
                 "value")

    type: str
    start_pos: int
    value: str
    line: int
    column: int
    end_line: int
    end_column: int
    end_pos: int

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Token) and self.type != other.type:
            return False
        return str.__eq__(self, other)

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r})"
