"""Syntax errors in words, and recovery so one run reports several of them.

Lark reports what went wrong as a token and a set of terminal names; this module turns that into
a `Diagnostic` a flow author understands ("expected a key 0-9, * or #, `noinput` or `}`"),
recognises the common mistakes (a missing `->`, a misspelt keyword, an unclosed brace, a duration
without a unit, a reserved word used as a label), and repairs the token stream where the fix is
clear so the parse goes on. Where it is not, the parse stops and the caller blanks out the step
around `stop_line` (see `skip_region`) and parses again, so several errors are still reported.

Codes: P100 unreadable file (bad bytes, bad encoding); P101 unexpected token; P102 missing `->`;
P103 duration without a unit; P104 unknown keyword; P105 reserved word used as a label; P106
unclosed brace; P107 unexpected character or unclosed string; P108 too many errors; P109 blocks
nested too deep.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Final

from ccc_dsl.diagnostics import Diagnostic, Span, error

if TYPE_CHECKING:  # Lark is imported only for a text with an error (_borrow, local imports)
    from lark import Lark, Token
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
    from lark.parsers.lalr_interactive_parser import InteractiveParser

MAX_ERRORS: Final = 20

# How terminals read in a message; keywords and punctuation default to their text in backticks.
_WORDS: Final[dict[str, str]] = {
    "EX_KEY": "a key 0-9, * or #",
    "NAME": "a name",
    "STRING": "a quoted string",
    "INT": "a number",
    "DECIMAL": "a decimal number",
    "DURATION": "a duration such as 5s",
    "COMP": "a comparison (==, !=, <, <=, >, >=)",
    "$END": "the end of the file",
}
_EXPR_START: Final = frozenset({
    "NAME", "STRING", "INT", "DECIMAL", "TRUE", "FALSE", "NULL", "LBRACKET", "LPAR", "MINUS", "NOT",
    "NOW",
})
_OPERATORS: Final = frozenset({"PLUS", "MINUS", "STAR", "SLASH", "PERCENT"})
STATEMENT_KEYWORDS: Final = (
    "play", "say", "set", "if", "goto", "hangup", "return", "reprompt", "language", "menu",
    "collect", "hours", "blacklist", "call", "staffing", "transfer", "voicemail", "survey",
    "record", "pause",
)


@cache
def _terminal_words(parser: Lark) -> tuple[dict[str, str], dict[str, str]]:
    """Keyword and punctuation terminals by name -> their text; exit terminals -> exit name."""
    patterns = {t.name: t.pattern.value for t in parser.terminals if t.pattern.type == "str"}
    exits = {t.name: t.name[3:].lower() for t in parser.terminals if t.name.startswith("EX_")}
    return patterns, exits


def _borrow(kind: str, value: str, tok: Token) -> Token:
    """A Lark token of another kind at `tok`'s place (Lark is loaded: `tok` is its own)."""
    from lark import Token

    return Token.new_borrow_pos(kind, value, tok)


def _rank(name: str) -> tuple[int, str]:
    """Order in which expected terminals are listed: keys and exits first, `}` and EOF last."""
    if name == "EX_KEY":
        return (0, name)
    if name.startswith("EX_"):
        return (1, name)
    if name in ("RBRACE", "$END"):
        return (3, name)
    return (2, name)


class SyntaxErrors:
    """Collects syntax errors for one parse and repairs the input where a fix is clear."""

    def __init__(self, parser: Lark, text: str, file: str) -> None:
        self.parser = parser
        self.text = text
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.stopped = False  # the parse stopped at an error it could not repair
        self.stop_line: int | None = None  # where; None when the file ended too early
        self._arrow_pending = False  # a misspelt exit name was repaired; its `->` follows
        self._patterns, self._ex_patterns = _terminal_words(parser)

    # ------------------------------------------------------------ words

    def word(self, terminal: str) -> str:
        if terminal in _WORDS:
            return _WORDS[terminal]
        if terminal in self._ex_patterns:
            return f"`{self._ex_patterns[terminal]}`"
        if terminal in self._patterns:
            return f"`{self._patterns[terminal]}`"
        return terminal.lower()

    def expected_words(self, expected: Iterable[str]) -> str:
        names = set(expected)
        parts: list[str] = []
        keywords = {self._patterns.get(n) for n in names}
        statements = [k for k in STATEMENT_KEYWORDS if k in keywords]
        if len(statements) >= 5:
            parts.append("a statement (" + ", ".join(f"`{k}`" for k in statements[:6]) + ", ...)")
            names = {n for n in names if self._patterns.get(n) not in STATEMENT_KEYWORDS}
        if len(names & _EXPR_START) >= 5:
            parts.append("an expression (a name such as caller.number, a string or a number)")
            names -= _EXPR_START
        if len(names & _OPERATORS) >= 4:
            parts.append("an operator (+, -, *, /, %)")
            names -= _OPERATORS
        parts.extend(self.word(n) for n in sorted(names, key=_rank))
        if not parts:
            return "nothing more"
        if len(parts) > 10:
            parts = [*parts[:9], "..."]
        if len(parts) == 1:
            return parts[0]
        return ", ".join(parts[:-1]) + " or " + parts[-1]

    # ------------------------------------------------------------ reporting

    def _span(self, tok: Token) -> Span:
        line, column = tok.line or 1, tok.column or 1
        end_line = tok.end_line or line
        end_column = tok.end_column or column + 1
        return Span(self.file, line, column, end_line, max(end_column, column + 1))

    def _add(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        if len(self.diagnostics) < MAX_ERRORS:
            self.diagnostics.append(error(code, message, span, hint))
        elif len(self.diagnostics) == MAX_ERRORS:
            self.diagnostics.append(
                error("P108", f"too many syntax errors; stopped after {MAX_ERRORS}", span)
            )

    def on_error(self, exc: UnexpectedInput) -> bool:
        """Lark's `on_error` hook: record the error; go on (True) only when the input could be
        repaired, else stop (False) and leave `stop_line` for the caller to skip past."""
        if len(self.diagnostics) > MAX_ERRORS:
            return False
        from lark.exceptions import UnexpectedCharacters, UnexpectedToken

        if isinstance(exc, UnexpectedCharacters):
            self._bad_character(exc)
            return False
        if isinstance(exc, UnexpectedToken):
            return self._bad_token(exc)
        return False

    def final(self, exc: UnexpectedInput) -> None:
        """The parse stopped on `exc`: make sure it is reported."""
        if self.stopped:
            return
        self.stopped = True
        line, column = exc.line or 1, exc.column or 1
        self.stop_line = line
        self._add("P101", "the parser stopped here", Span.point(self.file, line, column))

    def _bad_character(self, exc: UnexpectedCharacters) -> None:
        pos: int = exc.pos_in_stream or 0
        self.stopped = True
        self.stop_line = exc.line
        char = self.text[pos] if pos < len(self.text) else ""
        span = Span.point(self.file, exc.line, exc.column)
        if char == '"':
            self._add("P107", "unclosed string: the closing `\"` is missing on this line", span,
                      "strings end on the line they start; write a newline as \\n")
        else:
            ip = exc.interactive_parser
            allowed = set(ip.accepts()) if ip is not None else set(exc.allowed or ())  # type: ignore[no-untyped-call]
            expected = f"; expected {self.expected_words(allowed)}" if allowed else ""
            self._add("P107", f"unexpected character `{char}`{expected}", span)

    def _bad_token(self, exc: UnexpectedToken) -> bool:
        tok = exc.token
        ip = exc.interactive_parser
        # The LALR state may merge several contexts; ask which terminals really fit here.
        expected: set[str] = set(ip.accepts()) or set(exc.expected)  # type: ignore[no-untyped-call]
        self.stopped = True
        if tok.type == "$END":
            self._end_of_file(exc)
            return False
        if tok.type == "ARROW" and self._arrow_pending:
            self._arrow_pending = False
            self.stopped = False
            return True
        self._arrow_pending = False
        span = self._span(tok)
        self.stop_line = span.line
        repairs: list[Callable[[], bool | None]] = [
            lambda: self._missing_unit(tok, expected, ip, span),
            lambda: self._missing_arrow(tok, expected, ip, span),
            lambda: self._missing_brace(tok, expected, ip, span),
            lambda: self._unknown_keyword(tok, expected, ip, span),
        ]
        for repair in repairs:
            outcome = repair()  # None: not this mistake; else reported, and repaired or not
            if outcome is None:
                continue
            if outcome:
                self.stopped = False
                self.stop_line = None
            return outcome
        if not (self._reserved_label(tok, span) or self._then_before_label(tok)
                or self._arrow_without_target(tok) or self._label_without_colon(tok, expected)):
            self._add("P101", f"unexpected {self._describe(tok)}; expected "
                      f"{self.expected_words(expected)}", span)
        return False

    def _describe(self, tok: Token) -> str:
        if tok.type == "STRING":
            return f"string {tok}"
        return f"`{tok}`"

    # ------------------------------------------------------------ repairs

    def _try_feed(self, ip: InteractiveParser, tokens: list[Token]) -> bool:
        """Feed `tokens` if the parser accepts all of them (tried on a copy first)."""
        from lark.exceptions import UnexpectedInput

        trial: InteractiveParser = ip.copy()  # type: ignore[no-untyped-call]
        try:
            for t in tokens:
                trial.feed_token(t)
        except UnexpectedInput:
            return False
        for t in tokens:
            ip.feed_token(t)
        return True

    def _missing_unit(self, tok: Token, expected: set[str], ip: InteractiveParser,
                      span: Span) -> bool | None:
        if tok.type != "INT" or "DURATION" not in expected:
            return None
        self._add("P103", f"the duration `{tok}` has no unit", span,
                  f"write `{tok}s` for seconds or `{tok}ms` for milliseconds (also m, h)")
        return self._try_feed(ip, [_borrow("DURATION", f"{tok}s", tok)])

    def _missing_arrow(self, tok: Token, expected: set[str], ip: InteractiveParser,
                       span: Span) -> bool | None:
        if tok.type == "EQUAL" and "COMP" in expected:
            self._add("P101", "`=` only sets a variable; to compare, write `==`", span,
                      "write `if caller.number == \"1\" -> target`")
            return self._try_feed(ip, [_borrow("COMP", "==", tok)])
        if "ARROW" in expected and (tok.type in ("NAME", "STRING")
                                    or self._patterns.get(tok.type, "").isalpha()):
            self._add("P102", f"missing `->` before {self._describe(tok)}", span,
                      "write `condition -> target`")
            return self._try_feed(ip, [_borrow("ARROW", "->", tok), tok])
        exits = {n for n in expected if n.startswith("EX_")}
        if not exits:
            return None
        value = str(tok)
        if "EX_KEY" in exits and re.fullmatch(r"[0-9]+|\*|#", value):
            kind = "EX_KEY"
        else:
            matches = [n for n in exits if self._ex_patterns.get(n) == value]
            if not matches:
                return None
            kind = matches[0]
        self._add("P102", f"missing `->` after `{value}`", span,
                  f"write `{value} -> target`")
        # The next token is the target: put the name and its arrow back as one exit token.
        return self._try_feed(ip, [_borrow(kind, f"{value} ->", tok)])

    def _reserved_label(self, tok: Token, span: Span) -> bool:
        if tok.type == "FLOW" and self._flow_label(tok):
            self._add("P105", "`flow` is a reserved word and can't be used as a label", span,
                      "choose another label, e.g. `flow_step`")
            return True
        if tok.type != "COLON" or tok.start_pos is None:
            return False
        before = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", self.text[: tok.start_pos])
        if before is None or before.group(1) not in self._patterns.values():
            return False
        word = before.group(1)
        line_start = self.text.rfind("\n", 0, before.start()) + 1
        column = before.start() - line_start + 1
        self._add("P105", f"`{word}` is a reserved word and can't be used as a label",
                  Span(self.file, span.line, column, span.line, column + len(word)),
                  f"choose another label, e.g. `{word}_step`")
        return True

    def _flow_label(self, tok: Token) -> bool:
        """`flow:`: the word `flow` (never a name) written as a step's label, not a new flow."""
        return re.match(r"[ \t]*:", self.text[tok.end_pos or 0:]) is not None

    def _then_before_label(self, tok: Token) -> bool:
        """`play "x" then` at the end of a line, before the next step's `label:`: the label was
        read as the end of the chain. Report the dangling `then`, and skip its step."""
        if tok.type != "COLON" or tok.start_pos is None:
            return False
        before = re.search(r"\bthen\s+[A-Za-z_][A-Za-z0-9_]*\s*$", self.text[: tok.start_pos])
        if before is None:
            return False
        line = self.text.count("\n", 0, before.start()) + 1
        column = before.start() - (self.text.rfind("\n", 0, before.start()) + 1) + 1
        self.stop_line = line
        self._add("P101", "`then` must be followed by a statement or a label on the same step",
                  Span(self.file, line, column, line, column + 4),
                  "remove the `then`, or write what should happen next after it")
        return True

    def _arrow_without_target(self, tok: Token) -> bool:
        """`2 ->` ending a line: the next line's exit (`nomatch`) was read as its target, so
        its `->` is the unexpected token. Report the `->` that has no target (string slicing,
        not a regex search back through the file: a long line costs one pass), and skip."""
        if tok.type != "ARROW" or tok.start_pos is None:
            return False
        line_start = self.text.rfind("\n", 0, tok.start_pos) + 1
        if line_start == 0 or not self.text[line_start:tok.start_pos].strip().isidentifier():
            return False
        prev_start = self.text.rfind("\n", 0, line_start - 1) + 1
        code = self.text[prev_start:line_start - 1].split("//")[0].rstrip()
        words = code[:-2].split()
        if not code.endswith("->") or not words:
            return False
        at = prev_start + len(code) - 2
        line = self.text.count("\n", 0, at) + 1
        column = at - prev_start + 1
        self.stop_line = line
        self._add("P101", f"`{words[-1]} ->` has no target",
                  Span(self.file, line, column, line, column + 2),
                  "write where it goes after the `->`, e.g. `2 -> main_menu` or `2 -> hangup`")
        return True

    def _label_without_colon(self, tok: Token, expected: set[str]) -> bool:
        """A word alone where a statement may stand reads as a new label (`hangpu` then the
        next line); when a `:` is all that fits after it, report the word instead."""
        if expected != {"COLON"} or tok.start_pos is None:
            return False
        before = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", self.text[: tok.start_pos])
        if before is None:
            return False
        word = before.group(1)
        line = self.text.count("\n", 0, before.start()) + 1
        column = before.start() - (self.text.rfind("\n", 0, before.start()) + 1) + 1
        span = Span(self.file, line, column, line, column + len(word))
        self.stop_line = line
        guess = difflib.get_close_matches(word, STATEMENT_KEYWORDS, n=1, cutoff=0.6)
        if word in STATEMENT_KEYWORDS:  # a statement where only a step's label may start
            self._add("P101", f"`{word}` must be inside a step: a step starts with a label",
                      span, f"write a label first, such as `start:`, then `{word} ...` under it")
        elif guess:
            self._add("P104", f"unknown keyword `{word}`; did you mean `{guess[0]}`?", span,
                      "a statement starts with a keyword such as `play`, `menu` or `goto`")
        else:
            self._add("P101", f"`{word}` is not a statement; a label needs a `:` after it",
                      span, f"write `goto {word}` to jump, or `{word}:` to start a step")
        return True

    def _missing_brace(self, tok: Token, expected: set[str], ip: InteractiveParser,
                       span: Span) -> bool | None:
        if "RBRACE" not in expected:
            return None
        if tok.type == "FLOW" and not self._flow_label(tok):
            what = "this flow"
        elif tok.type == "NAME" and re.match(r"\s*:", self.text[tok.end_pos or 0:]):
            what = f"step `{tok}:`"  # a new step starts while a block is still open
        else:
            return None
        opened = self._unclosed_brace(tok.start_pos or 0)
        where = f" (opened at line {opened[0]})" if opened else ""
        self._add("P106", f"unclosed `{{`{where}: a `}}` is missing before {what}", span,
                  "close every `{` with a `}`")
        for _ in range(20):  # close as many blocks as needed, then let the new flow/step start
            if self._try_feed(ip, [_borrow("RBRACE", "}", tok), tok]):
                return True
            if not self._try_feed(ip, [_borrow("RBRACE", "}", tok)]):
                break
        return False

    def _unknown_keyword(self, tok: Token, expected: set[str], ip: InteractiveParser,
                         span: Span) -> bool | None:
        if tok.type != "NAME" and tok.type not in self._patterns:
            return None
        keywords = {self._patterns[n]: n for n in expected if n in self._patterns}
        keywords.update({self._ex_patterns[n]: n for n in expected if n in self._ex_patterns})
        words = [k for k in keywords if k.isalpha()]
        if not words:
            return None
        guess = difflib.get_close_matches(str(tok), words, n=1, cutoff=0.6)
        if not guess:
            return None
        self._add("P104", f"unknown keyword `{tok}`; did you mean `{guess[0]}`?", span,
                  f"expected {self.expected_words(expected)}")
        kind = keywords[guess[0]]
        value = guess[0]
        if kind.startswith("EX_"):
            value += " ->"
            self._arrow_pending = True
        return self._try_feed(ip, [_borrow(kind, value, tok)])

    def _end_of_file(self, exc: UnexpectedToken) -> None:
        end = len(self.text)
        line = self.text.count("\n", 0, end) + 1
        column = end - (self.text.rfind("\n", 0, end) + 1) + 1
        opened = self._unclosed_brace(end)
        if "RBRACE" in exc.expected and opened is not None:
            self._add("P106", "unclosed `{`: the file ends before its `}`",
                      Span(self.file, opened[0], opened[1], opened[0], opened[1] + 1),
                      "add the missing `}`")
            return
        self._add("P101", f"the file ends too early; expected "
                  f"{self.expected_words(exc.expected)}", Span.point(self.file, line, column))

    def _unclosed_brace(self, limit: int) -> tuple[int, int] | None:
        """Line and column of the innermost `{` still open at `limit` (strings and comments
        skipped)."""
        stack: list[int] = []
        for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|[{}]', self.text[:limit]):
            if m.group() == "{":
                stack.append(m.start())
            elif m.group() == "}" and stack:
                stack.pop()
        if not stack:
            return None
        pos = stack[-1]
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1


_SYNC_RE: Final = re.compile(r"[ \t]*(?:flow\b|[A-Za-z_][A-Za-z0-9_]*[ \t]*:)")
_BRACES_RE: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|[{}]')


def skip_region(text: str, line: int) -> str:
    """`text` with the step (or flow header) around 1-based `line` blanked out, so a new parse
    starts past an error. Newlines are kept (so positions elsewhere don't move), and so are the
    `}` that close blocks opened before the region, so the rest of the file keeps its shape."""
    lines = text.split("\n")
    index = min(max(line - 1, 0), len(lines) - 1)
    start = index
    while start > 0 and not _SYNC_RE.match(lines[start]):
        start -= 1
    end = index + 1
    while end < len(lines) and not _SYNC_RE.match(lines[end]):
        end += 1
    kept: list[str] = []
    depth = 0
    for source in lines[start:end]:
        out = [" "] * len(source)
        for m in _BRACES_RE.finditer(source):
            if m.group() == "{":
                depth += 1
            elif m.group() == "}":
                if depth > 0:
                    depth -= 1
                else:
                    out[m.start()] = "}"
        kept.append("".join(out).rstrip())
    return "\n".join(lines[:start] + kept + lines[end:])


MAX_DEPTH: Final = 64


def too_deep(text: str, file: str) -> Diagnostic | None:
    """P109 at the first `{` nested deeper than MAX_DEPTH. Such a file is no real flow, and the
    formatter and compiler recurse over blocks, so it is refused before parsing."""
    if text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for m in _BRACES_RE.finditer(text):
        if m.group() == "{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, m.start()) + 1
                column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
                return error("P109", f"blocks are nested more than {MAX_DEPTH} deep",
                             Span.point(file, line, column), "move inner blocks to their own steps")
        elif m.group() == "}":
            depth = max(depth - 1, 0)
    return None
