"""Colour on the terminal: one decision (use_color) and one way to apply it (paint)."""

from __future__ import annotations

import os
import re
from typing import TextIO

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069]")
"""Control characters (a terminal would obey ESC, BEL, CSI...) and invisible direction marks."""


def use_color(stream: TextIO) -> bool:
    """Colour when the stream is a terminal, unless NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def paint(text: str, code: str, color: bool) -> str:
    """`text` in the ANSI SGR colour `code` (e.g. "31", red) when `color`, else unchanged."""
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def visible(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`): input
    from a repo or a caller must not set the terminal's title or hide text. Line breaks and
    tabs stay."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text) if _UNSAFE.search(text) else text
