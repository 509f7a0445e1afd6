"""Digit patterns for `collect ... pattern "..."`, compiled with RE2.

A caller controls the digits a pattern sees, so matching must be linear in their length: RE2
has no backtracking, hence no catastrophic patterns. RE2 lacks backreferences and lookaround;
the compiler rejects those with `pattern_error` (one check for compiler and runtime).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

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
    import re2  # type: ignore[import-untyped]  # imported by the first pattern compiled

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
    import re2

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


# -- menu keys: literal keys and key patterns (`1XX`, `N`, `[1-5]`), Asterisk's notation

MAX_KEY_DIGITS = 16
"""Key presses one menu key (literal or pattern) may stand for."""
MAX_KEY_CHARS = 64
"""Characters one key may be written with (`[0-9]` takes five for one press)."""
MAX_MENU_KEYS = 100
"""Keys (literal and patterns) one menu may list."""
_ANY = frozenset("0123456789")
_CLASSES = {"X": _ANY, "Z": frozenset("123456789"), "N": frozenset("23456789")}
_LITERAL = frozenset("0123456789*#")

KeyPattern = tuple[frozenset[str], ...]
"""One set of accepted keys per key press: a key of fixed length."""


class KeyPatternError(ValueError):
    """A menu key that is not in the notation, or over a bound (the message says which)."""


@lru_cache(maxsize=4096)
def parse_key(text: str) -> KeyPattern:
    """The key presses a menu key stands for: `1XX` -> ({1}, 0-9, 0-9). Digits, `*` and `#`
    are themselves; `X` is 0-9, `Z` 1-9, `N` 2-9; `[...]` is one press from a set of digits
    and ranges (`[1-5]`, `[1237-9]`). Upper case only; no `.` or `!` (every key has a fixed
    length). One parser for the compiler and the VM, bounded by MAX_KEY_CHARS/_DIGITS."""
    if not text:
        raise KeyPatternError("a key can't be empty")
    if len(text) > MAX_KEY_CHARS:
        raise KeyPatternError(f"the key is {len(text)} characters long (limit {MAX_KEY_CHARS})")
    out: list[frozenset[str]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in _LITERAL:
            out.append(frozenset(char))
        elif char in _CLASSES:
            out.append(_CLASSES[char])
        elif char == "[":
            end = text.find("]", i)
            if end < 0:
                raise KeyPatternError("`[` is not closed with `]`")
            out.append(_key_set(text[i + 1:end]))
            i = end
        elif char.upper() in _CLASSES:
            raise KeyPatternError(f"`{char}` is written in upper case: `{char.upper()}`")
        else:
            shown = "a space" if char.isspace() else f"`{char}`"
            raise KeyPatternError(f"{shown} is not a key or a key class (X, Z, N, [...])")
        i += 1
    if len(out) > MAX_KEY_DIGITS:
        raise KeyPatternError(f"the key stands for {len(out)} key presses (limit "
                              f"{MAX_KEY_DIGITS})")
    return tuple(out)


def _key_set(body: str) -> frozenset[str]:
    """The digits of a `[...]` set: digits and ranges `a-b` with a <= b."""
    digits: set[str] = set()
    i = 0
    while i < len(body):
        char = body[i]
        if char not in _ANY:
            raise KeyPatternError(f"`[{body}]` may hold only digits and ranges such as 1-5")
        if i + 2 < len(body) and body[i + 1] == "-":
            last = body[i + 2]
            if last not in _ANY or last < char:
                raise KeyPatternError(f"the range `{char}-{last}` in `[{body}]` is not a range "
                                      "of digits from low to high")
            digits.update(str(d) for d in range(int(char), int(last) + 1))
            i += 3
            continue
        digits.add(char)
        i += 1
    if not digits:
        raise KeyPatternError("`[]` matches no key")
    return frozenset(digits)


def key_error(text: str) -> str | None:
    """Why `text` is not a menu key, or None when it is one."""
    try:
        parse_key(text)
    except KeyPatternError as exc:
        return str(exc)
    return None


def key_matches(pattern: KeyPattern, digits: str) -> bool:
    """Whether the whole of `digits` is one input of the key."""
    return len(digits) == len(pattern) and all(d in s for d, s in zip(digits, pattern,
                                                                     strict=True))


def key_inputs(pattern: KeyPattern) -> int:
    """How many different inputs the key matches (its specificity: fewer is more specific)."""
    count = 1
    for accepted in pattern:
        count *= len(accepted)
    return count


def more_specific(a: KeyPattern, b: KeyPattern) -> bool:
    """Whether every input of `a` is an input of `b`, and `b` has more: `a` then wins."""
    return (len(a) == len(b) and a != b
            and all(sa <= sb for sa, sb in zip(a, b, strict=True)))


def best_key(keys: list[str], digits: str) -> str | None:
    """The key `digits` select: of the keys that match them, the one matching the fewest
    inputs (the most specific; the compiler refuses two that overlap with neither more
    specific, A621); the first of equals for a hand-made image. None when no key matches."""
    best: str | None = None
    best_count = 0
    for key in keys:
        pattern = parse_key(key)
        if key_matches(pattern, digits):
            count = key_inputs(pattern)
            if best is None or count < best_count:
                best, best_count = key, count
    return best


def key_may_grow(keys: list[str], digits: str) -> bool:
    """Whether some key longer than `digits` starts with an input that `digits` are: then a
    menu waits the interdigit timeout for the next press."""
    for key in keys:
        pattern = parse_key(key)
        if len(pattern) > len(digits) and all(
                d in s for d, s in zip(digits, pattern, strict=False)):
            return True
    return False
