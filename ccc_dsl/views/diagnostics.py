"""Rendering diagnostics for people (text with source excerpts) and for machines
(JSON, GitHub workflow annotations, SARIF 2.1.0)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from textwrap import shorten
from typing import Any
from urllib.parse import quote

from ccc_dsl import __version__
from ccc_dsl.codes import lookup
from ccc_dsl.diagnostics import Diagnostic, Severity
from ccc_dsl.util import SECRET_WORDS
from ccc_dsl.views.terminal import paint, visible

FORMATS = ("text", "json", "github", "sarif")

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}

@lru_cache(maxsize=256)
def _source_lines(file: str) -> tuple[str, ...]:
    try:
        return tuple(Path(file).read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return ()


EXCERPT_WIDTH = 100
"""Characters of a source line shown at most; a longer line is cut around the column."""


def _cells(text: str) -> int:
    """Terminal columns `text` takes: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _excerpt(line: str, column: int, end_column: int) -> tuple[str, str]:
    """The source line as shown (control characters made visible, long lines cut around the
    column) and the caret line under the span, aligned for wide characters."""
    text = "".join(c if c.isprintable() else ("\ufffd" if c != "\t" else " ") for c in line)
    start = max(0, min(column - 1, len(text)) - EXCERPT_WIDTH // 3)
    stop = start + EXCERPT_WIDTH
    head = "\u2026" if start > 0 else ""
    tail = "\u2026" if stop < len(text) else ""
    shown = head + text[start:stop] + tail
    first = len(head) + column - 1 - start
    span_stop = end_column - 1 if end_column > column else column  # exclusive, in `text`
    last = len(head) + min(span_stop, stop) - start
    caret = " " * _cells(shown[:first]) + "^" * max(1, _cells(shown[first:last]))
    return shown, caret


def _echo_source(code: str, file: str, line: str) -> bool:
    """Whether the source line may be shown: never for a code whose line holds a secret, nor
    a YAML line that may hold one (`password: hunter2: x` is a syntax error, and its line is
    the secret)."""
    entry = lookup(code)
    if entry is not None and not entry.echo_source:
        return False
    return not (file.endswith((".yaml", ".yml")) and SECRET_WORDS.search(line))


def render_text(diagnostics: Sequence[Diagnostic], color: bool = False,
                sources: Mapping[str, str] | None = None) -> str:
    """rustc-like text: `file:line:col: severity[code]: message`, the line, a caret, a hint.
    `sources`: the text of files that aren't on disk (`<stdin>`), by the name spans use."""
    out: list[str] = []
    for d in diagnostics:
        where = visible(f"{d.span}: ") if d.span else ""
        head = paint(f"{d.severity}[{d.code}]", _COLORS[d.severity], color)
        out.append(f"{where}{head}: {visible(d.message)}")
        if d.span is not None:
            text = sources.get(d.span.file) if sources is not None else None
            lines = _source_lines(d.span.file) if text is None else tuple(text.splitlines())
            if 0 < d.span.line <= len(lines) and _echo_source(d.code, d.span.file,
                                                              lines[d.span.line - 1]):
                line = lines[d.span.line - 1]
                # a span going on below is underlined to the end of its first line
                end = (d.span.end_column if d.span.end_line == d.span.line
                       else len(line.rstrip()) + 1 if d.span.end_line > d.span.line else 0)
                shown, caret = _excerpt(line, d.span.column, end)
                gutter = f"{d.span.line:>5} | "
                out.append(f"{gutter}{shown}")
                painted = paint(caret, _COLORS[d.severity], color)
                out.append(" " * (len(gutter) - 2) + "| " + painted)
        if d.hint:
            out.append(f"  = hint: {visible(d.hint)}")
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    if diagnostics:
        out.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(out)


def diagnostic_to_dict(d: Diagnostic) -> dict[str, Any]:
    span = None
    if d.span is not None:
        span = {
            "file": d.span.file,
            "line": d.span.line,
            "column": d.span.column,
            "end_line": d.span.end_line,
            "end_column": d.span.end_column,
        }
    return {"severity": str(d.severity), "code": d.code, "message": d.message, "span": span,
            "hint": d.hint}


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    payload = {
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": sum(1 for d in diagnostics if d.severity is Severity.WARNING),
        "diagnostics": [diagnostic_to_dict(d) for d in diagnostics],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _github_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands: `::error file=F,line=L,col=C,title=CODE TITLE::message`
    (the code's registry title, so an annotation says what kind of problem it is)."""
    kinds = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    out = []
    for d in diagnostics:
        props = []
        if d.span is not None:
            props += [
                f"file={_github_escape(d.span.file, True)}",
                f"line={d.span.line}",
                f"col={d.span.column}",
                f"endLine={d.span.end_line}",
            ]
        entry = lookup(d.code)
        title = d.code if entry is None else f"{d.code} {shorten(entry.title, 60, placeholder='…')}"
        props.append(f"title={_github_escape(title, True)}")
        message = d.message + (f" (hint: {d.hint})" if d.hint else "")
        out.append(f"::{kinds[d.severity]} {','.join(props)}::{_github_escape(message)}")
    return "\n".join(out)


_SARIF_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def sarif_rule(code: str) -> dict[str, Any]:
    """A SARIF reportingDescriptor from the code registry and its explanation (`ccc explain`):
    title, what it means, the fix, default level, and helpUri, the code's section of
    docs/diagnostics.md (a repo path: the docs have no published address)."""
    from ccc_dsl.explanations import explanations, help_anchor  # SARIF only: spare the rest

    entry = lookup(code)
    explained = explanations().get(code)
    if entry is None or explained is None:
        return {"id": code}
    means, fix = " ".join(explained.means.split()), " ".join(explained.fix.split())
    return {
        "id": code,
        "shortDescription": {"text": entry.title},
        "fullDescription": {"text": means},
        "helpUri": help_anchor(code),
        "help": {"text": f"{means}\n\nFix: {fix}\n\nExample:\n{explained.example}",
                 "markdown": f"{means}\n\n**Fix:** {fix}\n\n**Example:**\n\n```\n"
                             f"{explained.example}```\n\nMore: `ccc explain {code}`"},
        "defaultConfiguration": {"level": _SARIF_LEVELS[entry.severity]},
        "properties": {"tags": [str(entry.stage)], "docs": entry.docs},
    }


def render_sarif(diagnostics: Sequence[Diagnostic]) -> str:
    """A SARIF 2.1.0 log (GitHub code scanning): one rule per code met, one result each."""
    levels = _SARIF_LEVELS
    rules = sorted({d.code for d in diagnostics})
    results = []
    for d in diagnostics:
        result: dict[str, Any] = {
            "ruleId": d.code,
            "level": levels[d.severity],
            "message": {"text": d.message + (f"\nhint: {d.hint}" if d.hint else "")},
        }
        if d.span is not None:
            result["locations"] = [{
                "physicalLocation": {
                    "artifactLocation": {"uri": quote(Path(d.span.file).as_posix())},
                    "region": {
                        "startLine": d.span.line,
                        "startColumn": d.span.column,
                        "endLine": d.span.end_line,
                        "endColumn": d.span.end_column,
                    },
                }
            }]
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "ccc", "version": __version__,
                                "rules": [sarif_rule(r) for r in rules]}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)


def render(diagnostics: Sequence[Diagnostic], fmt: str, color: bool = False,
           sources: Mapping[str, str] | None = None) -> str:
    if fmt == "json":
        return render_json(diagnostics)
    if fmt == "github":
        return render_github(diagnostics)
    if fmt == "sarif":
        return render_sarif(diagnostics)
    return render_text(diagnostics, color, sources)
