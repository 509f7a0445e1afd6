"""`ccc fmt`: one canonical layout for `.ivr` files, printed from the AST, comments kept.

Layout: two spaces per level; a blank line between flows and between steps; a step's label on
its own line and each of its statements on its own line below it; one exit per line; a chain of
statements in an exit joined by `then`; options in a fixed order, wrapped one per line when the
statement would pass 100 columns. Every option that governs a wait (timeouts, retries) is written
out, so a reviewer sees it.

Comments are not in the AST: they are found in the source and merged into the printed lines. An
own-line comment goes before the first printed line that comes from a later source line; a
comment after code stays at the end of the printed line that starts with that code.
Formatting is idempotent: the output parses to the same AST, and formats to itself.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

from ccc_dsl.codes import Stage, stage_of
from ccc_dsl.diagnostics import Diagnostic, Span
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.parser import MAX_FLOW_BYTES, decode, parse_file, parse_text
from ccc_dsl.grammar.transformer import format_duration

WIDTH: Final = 100
_COMMENT_RE: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*')
_PREC: Final[dict[ast.BinaryOp, int]] = {
    ast.BinaryOp.OR: 1, ast.BinaryOp.AND: 2, ast.BinaryOp.ADD: 5, ast.BinaryOp.SUB: 5,
    ast.BinaryOp.MUL: 6, ast.BinaryOp.DIV: 6, ast.BinaryOp.MOD: 6}
"""Binding of the left-associative operators (`not` is 3, comparisons 4, unary minus 7,
indexing 8, atoms _ATOM), as in ivr.lark."""
_COMPARISON: Final = 4
_ATOM: Final = 9
_UNPRINTABLE: Final = frozenset({"P207", "P214"})
"""Checks whose AST can't be printed back as the source meant (the file is left alone)."""


@dataclass
class _Line:
    """A printed line: its indent, its text, the source line it stands for (for comments), and
    the indent a comment placed before it takes."""

    indent: int
    text: str
    tag: int
    comment_indent: int


@dataclass
class FormatResult:
    """The formatted text (the input unchanged when it doesn't parse) and the parse diagnostics."""

    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def format_source(text: str, file: str) -> FormatResult:
    """Format `text`; on syntax errors, or a statement missing a required option (P207, whose
    AST holds a placeholder) or a number out of range (P214: a decimal may be infinite), return
    it unchanged with the diagnostics."""
    result = parse_text(text, file)
    if result.module is None or any(d.code in _UNPRINTABLE for d in result.diagnostics):
        return FormatResult(text, result.diagnostics)
    return FormatResult(format_module(result.module, text), result.diagnostics)


def format_text(text: str, file: str) -> str:
    """The canonical text of `text`; the input unchanged when it has syntax errors."""
    return format_source(text, file).text


def format_module(module: ast.Module, source: str = "") -> str:
    """Print a module canonically, with the comments of `source` (its text) merged in."""
    printer = _Printer()
    for i, flow in enumerate(module.flows):
        if i:
            printer.blank()
        printer.flow(flow)
    lines = _merge_comments(printer.lines, _comments(source))
    out: list[str] = []
    for ln in lines:
        # A line may hold a multi-line part (a `say { ... }`), indented relative to the line.
        out.extend((" " * ln.indent + part) if part else "" for part in ln.text.split("\n"))
    return "\n".join(out) + "\n" if out else ""


# ---------------------------------------------------------------- comments


@dataclass(frozen=True)
class _Comment:
    line: int
    text: str
    trailing: bool


def _comments(source: str) -> list[_Comment]:
    """The `//` comments in source order (line numbers counted as the scan goes: linear)."""
    found: list[_Comment] = []
    line, counted = 1, 0
    for m in _COMMENT_RE.finditer(source):
        if not m.group().startswith("//"):
            continue
        line += source.count("\n", counted, m.start())
        counted = m.start()
        line_start = source.rfind("\n", 0, m.start()) + 1
        trailing = bool(source[line_start:m.start()].strip())
        found.append(_Comment(line, m.group().rstrip(), trailing))
    return found


def _merge_comments(lines: list[_Line], comments: Sequence[_Comment]) -> list[_Line]:
    if not comments:
        return lines
    first_by_tag: dict[int, int] = {}
    # The first printed line from a source line after L is the first whose running maximum
    # of source lines passes L: a binary search, so merging stays n log n in comments.
    running: list[int] = []
    indexes: list[int] = []
    for i, ln in enumerate(lines):
        if ln.text:
            first_by_tag.setdefault(ln.tag, i)
            if not running or ln.tag > running[-1]:
                running.append(ln.tag)
                indexes.append(i)
    before: dict[int, list[_Comment]] = {}
    after: dict[int, str] = {}
    tail: list[_Comment] = []
    for c in comments:
        if c.trailing and c.line in first_by_tag and first_by_tag[c.line] not in after:
            after[first_by_tag[c.line]] = c.text
            continue
        found = bisect.bisect_right(running, c.line)
        if found == len(running):
            tail.append(c)
        else:
            before.setdefault(indexes[found], []).append(c)
    out: list[_Line] = []
    for i, ln in enumerate(lines):
        for c in before.get(i, []):
            out.append(_Line(ln.comment_indent, c.text, c.line, ln.comment_indent))
        if i in after:
            # On the line's first physical line (a `say {` opens a multi-line part): after
            # the closing `}` it would be an own-line comment on the next run.
            head, nl, rest = ln.text.partition("\n")
            ln = _Line(ln.indent, f"{head} {after[i]}{nl}{rest}", ln.tag, ln.comment_indent)
        out.append(ln)
    if tail:
        if out:
            out.append(_Line(0, "", 0, 0))
        out.extend(_Line(0, c.text, c.line, 0) for c in tail)
    return out


# ---------------------------------------------------------------- printing


def quote(value: str) -> str:
    """A STRING token for `value` (the inverse of the parser's unquote)."""
    body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{body}"'


class _Printer:
    def __init__(self) -> None:
        self.lines: list[_Line] = []

    def blank(self) -> None:
        tag = self.lines[-1].tag if self.lines else 0
        self.lines.append(_Line(0, "", tag, 0))

    def flow(self, flow: ast.Flow) -> None:
        title = f" {quote(flow.title)}" if flow.title is not None else ""
        self.lines.append(_Line(0, f"flow {flow.name}{title} {{", flow.span.line, 0))
        for i, step in enumerate(flow.steps):
            if i:
                self.blank()
            self.lines.append(_Line(2, f"{step.label}:", step.label_span.line, 2))
            for stmt in step.body:
                self.lines.extend(_stmt_lines(stmt, 4, in_body=True))
        self.lines.append(_Line(0, "}", flow.span.end_line, 2))


def _stmt_lines(stmt: ast.Stmt, indent: int, in_body: bool = False) -> list[_Line]:
    """The lines of a statement at `indent`; the first line's text carries no indent."""
    lines = _stmt(stmt, indent, in_body)
    lines[0] = _Line(indent, lines[0].text, lines[0].tag, indent)
    return lines


def _stmt(stmt: ast.Stmt, indent: int, in_body: bool) -> list[_Line]:
    tag = stmt.span.line
    match stmt:
        case ast.Goto():
            text = f"goto {stmt.target.name}" if in_body else stmt.target.name
            return [_Line(indent, text, tag, indent)]
        case ast.If():
            lines = [_Line(indent, f"if {expr(stmt.condition)} -> ", tag, indent)]
            _append(lines, _chain(stmt.then, indent))
            if stmt.otherwise is not None:
                lines[-1].text += " else -> "
                _append(lines, _chain(stmt.otherwise, indent))
            return lines
        case ast.Play():
            return [_Line(indent, _play(stmt.audio), tag, indent)]
        case ast.Set():
            return [_Line(indent, f"set {stmt.target.dotted} = {expr(stmt.value)}", tag, indent)]
        case ast.Hangup():
            return [_Line(indent, "hangup", tag, indent)]
        case ast.Return():
            return [_Line(indent, "return", tag, indent)]
        case ast.Reprompt():
            return [_Line(indent, "reprompt", tag, indent)]
        case ast.Language():
            return [_Line(indent, f"language {expr(stmt.value)}", tag, indent)]
        case ast.CallFlow():
            return [_Line(indent, f"call flow {stmt.flow.name}", tag, indent)]
        case ast.Voicemail():
            opts = []
            if stmt.prompt is not None:
                opts.append(f"prompt {audio(stmt.prompt, False)}")
            if stmt.max_length_ms != ast.DEFAULT_VOICEMAIL_MS:
                opts.append(f"maxlength {format_duration(stmt.max_length_ms)}")
            return _headed(f"voicemail {quote(stmt.box.name)}", opts, stmt.exits, indent,
                           stmt.span, False)
        case ast.Record():
            opts = [f"maxlength {format_duration(stmt.max_length_ms)}"]
            if stmt.silence_ms is not None:
                opts.append(f"silence {format_duration(stmt.silence_ms)}")
            if stmt.beep:
                opts.append("beep")
            if stmt.terminator is not None:
                opts.append(f"terminator {stmt.terminator}")
            if stmt.box is not None:
                opts.append(f"as voicemail {quote(stmt.box.name)}")
            return _headed(f"record {stmt.var}", opts, (), indent, stmt.span, False)
        case ast.Pause():
            text = f"pause {format_duration(stmt.duration_ms)}"
            return [_Line(indent, text + (" bargein" if stmt.barge_in else ""), tag, indent)]
        case ast.Menu():
            opts = [f"prompt {audio(stmt.prompt, True)}",
                    f"timeout {format_duration(stmt.timeout_ms)}"]
            if stmt.interdigit_ms is not None:
                opts.append(f"interdigit {format_duration(stmt.interdigit_ms)}")
            opts.extend(_retries("forever" if stmt.noinput_forever else stmt.noinput_retries,
                                 "forever" if stmt.nomatch_forever else stmt.nomatch_retries))
            if stmt.reset_on_entry:
                opts.append("reset_on_entry")
            return _headed("menu", opts, stmt.exits, indent, stmt.span, True)
        case ast.Collect():
            digits = (f"digits {stmt.min_digits}" if stmt.min_digits == stmt.max_digits
                      else f"digits {stmt.min_digits}..{stmt.max_digits}")
            opts = [digits]
            if stmt.terminator is not None:
                opts.append(f"terminator {stmt.terminator}")
            if stmt.pattern is not None:
                opts.append(f"pattern {quote(stmt.pattern)}")
            opts += [f"prompt {audio(stmt.prompt, True)}",
                     f"timeout {format_duration(stmt.timeout_ms)}"]
            if stmt.interdigit_ms is not None:
                opts.append(f"interdigit {format_duration(stmt.interdigit_ms)}")
            opts.extend(_retries(stmt.noinput_retries, stmt.nomatch_retries))
            return _headed(f"collect {stmt.var}", opts, stmt.exits, indent, stmt.span, True)
        case ast.Survey():
            opts = [f"prompt {audio(stmt.prompt, True)}",
                    f"scale {stmt.min_score}..{stmt.max_score}",
                    f"timeout {format_duration(stmt.timeout_ms)}",
                    *_retries(stmt.noinput_retries, stmt.nomatch_retries)]
            if stmt.thanks is not None:
                opts.append(f"thanks {audio(stmt.thanks, False)}")
            return _headed("survey", opts, stmt.exits, indent, stmt.span, False)
        case ast.Hours():
            head = f"hours {quote(stmt.schedule.name)}"
            return _headed(head, [], stmt.exits, indent, stmt.span, True)
        case ast.Blacklist():
            opts = [] if stmt.number is None else [f"number {expr(stmt.number)}"]
            return _headed(f"blacklist {quote(stmt.blacklist.name)}", opts, stmt.exits, indent,
                           stmt.span, True)
        case ast.Staffing():
            head = f"staffing {quote(stmt.group.name)}"
            return _headed(head, [], stmt.exits, indent, stmt.span, True)
        case ast.CallFunction():
            opts = []
            if stmt.args:
                args = ", ".join(f"{a.name}: {expr(a.value)}" for a in stmt.args)
                opts.append(f"with {{ {args} }}")
            if stmt.timeout_ms is not None:  # unwritten: the manifest's, never spelt out
                opts.append(f"timeout {format_duration(stmt.timeout_ms)}")
            if stmt.retries:
                opts.append(f"retries {stmt.retries}")
            if stmt.result_var != ast.DEFAULT_RESULT_VAR:
                opts.append(f"as {stmt.result_var}")
            return _headed(f"call function {quote(stmt.function.name)}", opts, stmt.exits,
                           indent, stmt.span, False)
        case ast.TransferQueue():
            opts = []
            if stmt.priority is not None:
                opts.append(f"priority {expr(stmt.priority)}")
            opts.append(f"timeout {format_duration(stmt.timeout_ms)}")
            if stmt.familiar:
                opts.append("familiar")
            if stmt.hold is not None:
                opts.append(f"music {audio(stmt.hold, False)}")
            for a in stmt.announcements:
                text = f"announce {a.kind} every {format_duration(a.every_ms)}"
                opts.append(text + (f" prompt {audio(a.prompt, False)}" if a.prompt else ""))
            for o in stmt.offers:
                opts.append(_offer(o))
            if stmt.capacity is not None:
                opts.append(f"capacity {stmt.capacity}")
            if stmt.when_empty_wait:
                opts.append("when_empty wait")
            script = None
            if stmt.script:
                script = [_Line(indent + 4, "waiting {", tag, indent + 4)]
                script += [_Line(indent + 6, _script_item(i), i.span.line, indent + 6)
                           for i in stmt.script]
                script.append(_Line(indent + 4, "}", stmt.script[-1].span.end_line, indent + 6))
            group = (quote(stmt.group.name) if isinstance(stmt.group, ast.Ref)
                     else expr(stmt.group))
            return _headed(f"transfer queue {group}", opts, stmt.exits, indent, stmt.span, False,
                           script)
        case ast.TransferAgent():
            who = (quote(stmt.agent.name) if isinstance(stmt.agent, ast.Ref)
                   else expr(stmt.agent))
            return _headed(f"transfer agent {who}", _ring(stmt.timeout_ms), stmt.exits, indent,
                           stmt.span, False)
        case ast.TransferNumber() | ast.TransferSip():
            kind, where = (("number", stmt.number) if isinstance(stmt, ast.TransferNumber)
                           else ("sip", stmt.uri))
            opts = _ring(stmt.timeout_ms)
            if stmt.caller_id is not None:
                opts.append(f"caller_id {expr(stmt.caller_id)}")
            return _headed(f"transfer {kind} {expr(where)}", opts, stmt.exits, indent,
                           stmt.span, False)
    raise AssertionError(f"unhandled statement {type(stmt).__name__}")  # pragma: no cover


def _append(lines: list[_Line], more: list[_Line]) -> None:
    """Continue the last line of `lines` with the first of `more`."""
    lines[-1].text += more[0].text
    lines.extend(more[1:])


def _chain(block: ast.Block, indent: int) -> list[_Line]:
    """A block as a `then` chain starting mid-line; nested blocks are indented from `indent`."""
    lines: list[_Line] = []
    for i, stmt in enumerate(block):
        # A goto is written as a bare label only at the end of a chain, where the grammar allows it.
        part = _stmt(stmt, indent, in_body=i < len(block) - 1)
        if not lines:
            lines = part
            continue
        last = lines[-1]
        width = last.indent + len(last.text.rsplit("\n", 1)[-1])
        if width + len(" then ") + len(part[0].text.split("\n", 1)[0]) > WIDTH:
            lines.append(_Line(indent + 4, "then ", last.tag, indent + 4))
        else:
            last.text += " then "
        _append(lines, part)
    return lines


def _offer(o: ast.Offer) -> str:
    text = f"offer {o.kind} after {format_duration(o.after_ms)} key {o.key}"
    return text + (f" prompt {audio(o.prompt, False)}" if o.prompt else "")


def _script_item(item: ast.ScriptItem) -> str:
    """One line of an in-queue script: `at 0s play ...`, `every 1m from 30s say position`,
    `after 25s offer voicemail key 1`."""
    if isinstance(item, ast.Offer):
        text = f"after {format_duration(item.after_ms)} offer {item.kind} key {item.key}"
        return text + (f" prompt {audio(item.prompt, False)}" if item.prompt else "")
    if item.every_ms is None:
        when = f"at {_at(item.start_ms)}"
    else:
        when = f"every {format_duration(item.every_ms)}"
        if item.start_ms != item.every_ms:
            when += f" from {_at(item.start_ms)}"
    if isinstance(item, ast.QueueCheck):
        return f"{when} check staffing"
    if item.audio is None:
        return f"{when} say {item.say}"
    if (len(item.audio.items) == 1 and isinstance(item.audio.items[0], ast.Tts)
            and not item.audio.barge_in):
        return f"{when} say {tts(item.audio.items[0])}"
    return f"{when} play {audio(item.audio, False)}"


def _at(ms: int) -> str:
    """A second of a queue wait: `0s` for the start."""
    return format_duration(ms) if ms else "0s"


def _retries(noinput: int | str, nomatch: int | str) -> list[str]:
    if noinput == nomatch:
        return [f"retries {noinput}"]
    return [f"noinput {noinput}", f"nomatch {nomatch}"]


def _ring(timeout_ms: int) -> list[str]:
    if timeout_ms == ast.DEFAULT_RING_TIMEOUT_MS:
        return []
    return [f"timeout {format_duration(timeout_ms)}"]


def _headed(head: str, opts: list[str], exits: tuple[ast.Exit, ...], indent: int, span: Span,
            block_required: bool, block_opt: list[_Line] | None = None) -> list[_Line]:
    """A statement with options and an exits block, wrapped one option per line if too long.
    `block_opt` is a last option of several lines (a queue's `waiting { ... }`), with a tag
    per line so comments stay in it; it makes the options wrap."""
    tag = span.line
    has_block = bool(exits) or block_required
    opener = " {" if has_block else ""
    one_line = " ".join([head, *opts]) + opener
    if not block_opt and ((indent + len(one_line) <= WIDTH and "\n" not in one_line)
                          or not opts):
        lines = [_Line(indent, one_line, tag, indent)]
    else:
        lines = [_Line(indent, head, tag, indent)]
        lines.extend(_Line(indent + 4, o, tag, indent + 4) for o in opts)
        lines.extend(block_opt or ())
        lines[-1].text += opener
    if not has_block:
        return lines
    for ex in exits:
        exit_lines = [_Line(indent + 2, f"{ex.name} -> ", ex.span.line, indent + 2)]
        _append(exit_lines, _chain(ex.body, indent + 2))
        lines.extend(exit_lines)
    lines.append(_Line(indent, "}", span.end_line, indent + 2))
    return lines


def audio(value: ast.Audio, default_barge: bool) -> str:
    """The source of an audio clause; barge-in is written only when it differs from the default."""
    parts = []
    for item in value.items:
        if isinstance(item, ast.Ref):
            parts.append(quote(item.name))
        elif isinstance(item, ast.Recording):
            parts.append(f"recording {item.var.dotted}")
        else:
            parts.append(f"say {tts(item)}")
    text = ", ".join(parts)
    if value.barge_in != default_barge:
        text += " bargein" if value.barge_in else " nobargein"
    return text


def _play(value: ast.Audio) -> str:
    if len(value.items) == 1 and isinstance(value.items[0], ast.Tts):
        text = f"say {tts(value.items[0])}"
        return text + (" bargein" if value.barge_in else "")
    return f"play {audio(value, False)}"


def tts(value: ast.Tts) -> str:
    """Spoken text: a string, or one line per language inside braces."""
    if len(value.texts) == 1 and value.texts[0].language is None:
        return quote(value.texts[0].template)
    if len(value.texts) == 1:
        return f"{{ {value.texts[0].language}: {quote(value.texts[0].template)} }}"
    items = ",\n".join(f"  {t.language}: {quote(t.template)}" for t in value.texts)
    return "{\n" + items + "\n}"


def expr(value: ast.Expr, parent: int = 0) -> str:
    """An expression with the fewest parentheses that keep its meaning."""
    match value:
        case ast.Literal(value=v):
            if isinstance(v, bool):
                return "true" if v else "false"
            if v is None:
                return "null"
            if isinstance(v, str):
                return quote(v)
            if isinstance(v, float):
                return _float(v)
            return str(v)
        case ast.Var():
            return value.dotted
        case ast.ListExpr():
            return "[" + ", ".join(expr(i) for i in value.items) + "]"
        case ast.Call(name="now", args=()):
            return "now"
        case ast.Call():
            return f"{value.name}(" + ", ".join(expr(a) for a in value.args) + ")"
        case ast.Index():
            text, prec = f"{expr(value.target, 8)}[{expr(value.index)}]", 8
        case ast.Unary(op=ast.UnaryOp.NEG):
            text, prec = "-" + expr(value.operand, 7), 7
        case ast.Unary():
            text, prec = "not " + expr(value.operand, 3), 3
        case ast.Binary() if value.op in _PREC:
            prec = _PREC[value.op]
            text = f"{expr(value.left, prec)} {value.op} {expr(value.right, prec + 1)}"
        case ast.Binary():
            prec = _COMPARISON
            text = (f"{expr(value.left, _COMPARISON + 1)} {value.op} "
                    f"{expr(value.right, _COMPARISON + 1)}")
    return f"({text})" if prec < parent else text


def _float(v: float) -> str:
    text = repr(v)
    if "e" in text:  # the grammar only has plain decimals: write the exponent out in full
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


# ---------------------------------------------------------------- files (for `ccc fmt`)


@dataclass
class FileFormat:
    """One file's formatting outcome; `formatted` is None when the file doesn't parse."""

    path: Path
    original: str
    formatted: str | None
    diagnostics: list[Diagnostic]

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted != self.original

    def diff(self) -> str:
        """A unified diff from the original to the formatted text."""
        if self.formatted is None:
            return ""
        return "".join(difflib.unified_diff(
            self.original.splitlines(keepends=True), self.formatted.splitlines(keepends=True),
            f"{self.path} (original)", f"{self.path} (formatted)",
        ))


def ivr_files(paths: Sequence[Path]) -> list[Path]:
    """The `.ivr` files named or found under `paths` (hidden folders skipped), sorted."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*.ivr")
                         if not any(part.startswith(".") for part in p.relative_to(path).parts)
                         and p.is_file())
        else:
            found.add(path)
    return sorted(found)


def format_file(path: Path) -> FileFormat:
    """Format one file in memory (nothing is written)."""
    data: bytes | None
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FLOW_BYTES + 1)
    except OSError:
        data = None
    if data is None or len(data) > MAX_FLOW_BYTES:  # parse_file says why
        return FileFormat(path, "", None, parse_file(path).diagnostics)
    text, problems = decode(data, str(path))
    if text is None:
        return FileFormat(path, "", None, problems)
    result = format_source(text, str(path))
    blocking = [d for d in result.diagnostics
                if stage_of(d.code) is Stage.SYNTAX or d.code in _UNPRINTABLE]
    return FileFormat(path, text, None if blocking else result.text, blocking)
