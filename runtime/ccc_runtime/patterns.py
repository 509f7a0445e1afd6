"""Digit patterns for `collect ... pattern "..."`, compiled with RE2.

A caller controls the digits a pattern sees, so matching must be linear in their length: RE2
has no backtracking, hence no catastrophic patterns. RE2 lacks backreferences and lookaround;
the compiler rejects those with `pattern_error` (one check for compiler and runtime).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import re2  # type: ignore[import-untyped]

from .limits import MAX_PATTERN_CHARS, PATTERN_MAX_MEM


class DigitPattern(Protocol):
    """What the VM needs of a compiled pattern."""

    def fullmatch(self, text: str) -> object | None: ...


class PatternError(ValueError):
    """A pattern RE2 can't compile, or one over the limits (message says why)."""


_HINTS: tuple[tuple[str, str], ...] = (
    ("(?=", "lookahead"), ("(?!", "lookahead"), ("(?<=", "lookbehind"), ("(?<!", "lookbehind"),
    ("(?>", "atomic groups"), ("(?P=", "backreferences"), ("\\Z", "\\Z (write \\z)"),
)


def _options() -> object:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every bad pattern on stderr
    options.max_mem = PATTERN_MAX_MEM
    return options


@lru_cache(maxsize=1024)
def compile_pattern(source: str) -> DigitPattern:
    """The RE2 program for `source` (cached: calls share their flows' few patterns)."""
    if len(source) > MAX_PATTERN_CHARS:
        raise PatternError(f"pattern is {len(source)} characters long (limit {MAX_PATTERN_CHARS})")
    if "\x00" in source:
        raise PatternError("pattern contains a NUL character")
    try:
        compiled: DigitPattern = re2.compile(source, _options())
    except re2.error as exc:
        detail = exc.args[0] if exc.args else "syntax error"
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise PatternError(str(detail)) from None
    return compiled


def pattern_error(source: str) -> tuple[str, str] | None:
    """Why `source` is no valid digit pattern, and a hint; None when it is."""
    try:
        compile_pattern(source)
    except PatternError as exc:
        lacking = next((what for token, what in _HINTS if token in source), None)
        if lacking is None and any(f"\\{d}" in source for d in "123456789"):
            lacking = "backreferences"
        hint = ("patterns use RE2 syntax, which has no " + lacking + "; "
                if lacking else "patterns use RE2 syntax (linear time); ")
        return str(exc), hint + 'e.g. "[0-9]{6,12}"'
    return None
