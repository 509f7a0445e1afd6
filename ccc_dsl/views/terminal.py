"""Colour on the terminal: one decision (use_color) and one way to apply it (paint)."""

from __future__ import annotations

import os
from typing import TextIO


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
