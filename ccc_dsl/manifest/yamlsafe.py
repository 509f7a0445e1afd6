"""Safe YAML reading with positions.

ruamel.yaml composes the text into nodes (which carry start and end marks); this module turns the
node tree into plain Python data plus two position maps, applying the safety rules itself:
YAML 1.2 core-schema scalars (so `NO` and `09:00` stay strings), no custom tags, duplicate keys
rejected, alias expansion and nesting depth capped, file size capped, UTF-8 only. Plain data and
tuple-keyed position maps (`ParsedFile`, manifest/parsed.py) are cheap to cache (JSON) and are what
pydantic validates.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import Reader, ReaderError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.manifest.parsed import MAX_FILE_BYTES, ParsedFile, PathKey, Pos
from ccc_dsl.util import SECRET_WORDS

MAX_DEPTH = 64
MAX_NODES = 200_000

_PLAIN = "tag:ccc-dsl,2026:plain"
_CORE_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq", _PLAIN,
}
_STR = "tag:yaml.org,2002:str"
_PLAIN_TAG = Tag(suffix=_PLAIN)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


def core_scalar(text: str) -> Any:
    """Resolve a plain scalar by the YAML 1.2 core schema; anything else stays a string."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT10.match(text):
        return int(text)
    if _INT8.match(text):
        return int(text[2:], 8)
    if _INT16.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset; the column counts characters, as editors and
    ruamel's marks do (not bytes, not a leading BOM)."""
    before = data[:offset]
    line = before.count(b"\n") + 1
    prefix = before[before.rfind(b"\n") + 1 :]
    if line == 1:
        prefix = prefix.removeprefix(b"\xef\xbb\xbf")
    return line, len(prefix.decode("utf-8", errors="replace")) + 1


def _decode(file: str, raw: bytes) -> tuple[str | None, list[Diagnostic]]:
    """Bytes to text, or a located Y1xx diagnostic for what can't be a UTF-8 YAML file."""
    if len(raw) > MAX_FILE_BYTES:
        return None, [error("Y106", f"file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES}",
                            Span.point(file, 1, 1), "split the resources over more files")]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [error("Y107", "file is UTF-16; manifests must be UTF-8",
                            Span.point(file, 1, 1), "re-save the file as UTF-8")]
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, col = _line_col(raw, nul)
        return None, [error("Y108", "binary file (contains NUL bytes), not YAML",
                            Span.point(file, line, col), "only YAML text files may be included")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)  # -sig strips it
        line, col = _line_col(raw, start)
        return None, [error("Y107", f"not valid UTF-8 (byte 0x{raw[start]:02x})",
                            Span.point(file, line, col), "re-save the file as UTF-8")]
    return text, []


def _mark_pos(node: Node) -> Pos:
    s, e = node.start_mark, node.end_mark
    end_line, end_col = e.line + 1, e.column + 1
    if (end_line, end_col) <= (s.line + 1, s.column + 1):
        end_line, end_col = s.line + 1, s.column + 2
    return (s.line + 1, s.column + 1, end_line, end_col)


class _Converter:
    """Node tree to plain data, enforcing tags, duplicate keys, depth and alias expansion caps."""

    def __init__(self, parsed: ParsedFile) -> None:
        self.parsed = parsed
        self.count = 0
        self.active: set[int] = set()

    def _fail(self, code: str, message: str, node: Node, hint: str | None = None) -> None:
        self.parsed.diagnostics.append(
            error(code, message, Span(self.parsed.file, *_mark_pos(node)), hint))

    def convert(self, node: Node, path: PathKey, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Abort("Y104", f"more than {MAX_NODES} values after alias expansion", node,
                         "anchors and aliases may not multiply the document (billion laughs)")
        if depth > MAX_DEPTH:
            raise _Abort("Y105", f"nesting deeper than {MAX_DEPTH} levels", node,
                         "flatten the structure")
        ident = id(node)
        if ident in self.active:
            raise _Abort("Y104", "recursive alias: a node contains itself", node,
                         "an alias may not refer to an enclosing anchor")
        self.parsed.values[path] = _mark_pos(node)
        tag = str(node.ctag)
        if tag not in _CORE_TAGS:
            shown = "a tag" if _secret_path(path) else f"tag {tag}"  # `password: !hunter2`
            self._fail("Y103", f"{shown} is not allowed", node,
                       "remove the tag; manifests use plain YAML only")
            return None
        if isinstance(node, ScalarNode):
            text = str(node.value)
            if "${" in text:
                self.parsed.var_paths.append(path)
            try:
                if tag == _PLAIN:
                    return core_scalar(text)
                return text if tag == _STR else self._explicit_scalar(node, text, tag, path)
            except ValueError:  # an integer over Python's 4300-digit conversion limit
                self._fail("Y101", f"a number of {len(text)} characters is too long", node,
                           "quote it if it is text")
                return None
        self.active.add(ident)
        try:
            if isinstance(node, SequenceNode):
                return [self.convert(item, (*path, i), depth + 1)
                        for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self._mapping(node, path, depth)
        finally:
            self.active.discard(ident)
        return None

    def _explicit_scalar(self, node: ScalarNode, text: str, tag: str, path: PathKey) -> Any:
        suffix = tag.rsplit(":", 1)[-1]
        value = core_scalar(text)
        expected = {"int": int, "float": float, "bool": bool, "null": type(None)}.get(suffix)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if expected is None or type(value) is not expected:
            shown = "this value" if _secret_path(path) else repr(text)
            self._fail("Y103", f"{shown} is not a valid !!{suffix}", node)
            return None
        return value

    def _mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._fail("Y111", "a mapping key must be a plain scalar, not a "
                           f"{'list' if isinstance(key_node, SequenceNode) else 'mapping'}",
                           key_node)
                continue
            key = str(key_node.value)
            if str(key_node.ctag) not in (_PLAIN, _STR):  # `!custom schedules:`, `!!binary x:`
                self._fail("Y103", f"a tag on the key {key!r} is not allowed", key_node,
                           "remove the tag; manifests use plain YAML only")
                continue
            if key == "<<" and str(key_node.ctag) == _PLAIN:
                self._fail("Y103", "merge keys (<<) are not supported", key_node,
                           "write the keys out, or use environment variables for shared values")
                continue
            if key in first:
                line = first[key].start_mark.line + 1
                self._fail("Y102", f"duplicate key {key!r} (first defined on line {line})",
                           key_node, "remove one of the two entries")
                continue
            first[key] = key_node
            self.parsed.keys[(*path, key)] = _mark_pos(key_node)
            out[key] = self.convert(value_node, (*path, key), depth + 1)
        return out


def _secret_path(path: PathKey) -> bool:
    """Whether a value sits under a key that may hold a secret (its text is never shown)."""
    return any(isinstance(p, str) and SECRET_WORDS.search(p) for p in path)


class _Abort(Exception):
    def __init__(self, code: str, message: str, node: Node, hint: str) -> None:
        super().__init__(message)
        self.code, self.message, self.node, self.hint = code, message, node, hint


class _CoreResolver(VersionedResolver):
    """Tags every implicit plain scalar `_PLAIN` so that `core_scalar` alone decides its type.

    This is both the YAML 1.2 core schema and fast: ruamel's versioned resolver dominated the
    profile of large repos."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)


def _yaml() -> YAML:
    """The C-accelerated composer (ruamel.yaml.clib) when installed, else ruamel's pure one."""
    y = YAML(typ="safe")
    y.Resolver = _CoreResolver
    return y


DEPTH_PRECHECK = 5_000
"""libyaml's composer recurses in C and crashes the process somewhere past 25,000 levels,
before our converter could count them. Every level needs its own `[`, `{`, `-`, `?` or `:`, so
a file with fewer of those than this can't be that deep; only others get the event pre-scan."""


def _too_deep(text: str) -> Node | None:
    """A node nested deeper than MAX_DEPTH, found on the event stream (which never recurses),
    for a file whose indicator count allows deep nesting; None when it is shallow enough."""
    if sum(text.count(c) for c in "[{-?:") <= DEPTH_PRECHECK:
        return None
    depth = 0
    for event in _yaml().parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH + 1:
                return Node(None, None, event.start_mark, event.end_mark)
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    return None


def _syntax_error(file: str, text: str, exc: MarkedYAMLError) -> Diagnostic:
    """Y101 where the user can fix it: an unclosed quote at the quote (ruamel's problem is
    at the end of the file, its context mark is where the scalar began), a tab with the rule
    it breaks, else ruamel's problem mark; a hint for the usual causes."""
    problem = (exc.problem or "invalid YAML").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark
    hint: str | None = None
    if "quoted scalar" in context and exc.context_mark is not None:
        mark, hint = exc.context_mark, "a quote opened here is never closed: close it on its line"
    elif "'\\t'" in problem or (mark is not None and _tab_indented(text, mark.line)):
        hint = "YAML forbids tabs for indentation: indent with spaces"
    elif mark is not None:
        hint = _unclosed_quote_above(text, mark.line)
    span = Span.point(file, mark.line + 1, mark.column + 1) if mark else Span.point(file, 1, 1)
    shown = f" ({context})" if context else ""
    return error("Y101", f"YAML syntax error: {problem}{shown}", span, hint)


def _tab_indented(text: str, line: int) -> bool:
    lines = text.split("\n", line + 1)
    if line >= len(lines):
        return False
    row = lines[line]
    return "\t" in row[:len(row) - len(row.lstrip())]


_OPEN_QUOTE = re.compile(r"""(?:^\s*-\s+|:\s+)(["'])""")
"""A value that starts with a quote: `key: "x` or `- 'x`."""


def _unclosed_quote_above(text: str, line: int) -> str | None:
    """A hint naming the first line up to `line` (0-based) whose quoted value is not closed on
    it: a quoted scalar may run over lines, so ruamel reports the error far below."""
    for number, row in enumerate(text.split("\n", line + 1)[:line + 1]):
        found = _OPEN_QUOTE.search(row)
        if found is None:
            continue
        quote, rest = found.group(1), row[found.end():]
        rest = rest.replace("\\\\", "").replace('\\"', "") if quote == '"' else rest.replace(
            "''", "")
        if quote not in rest:
            return (f"the quote opened at line {number + 1}, column {found.end()} is never "
                    "closed on its line")
    return None


def parse_yaml(file: str, raw: bytes) -> ParsedFile:
    """Parse one file's bytes; never raises on bad input, reports located Y1xx diagnostics."""
    parsed = ParsedFile(file)
    text, problems = _decode(file, raw)
    if text is None:
        parsed.diagnostics.extend(problems)
        return parsed
    try:
        deep = _too_deep(text)
        if deep is not None:
            parsed.diagnostics.append(error("Y105", f"nesting deeper than {MAX_DEPTH} levels",
                                            Span(file, *_mark_pos(deep)),
                                            "flatten the structure"))
            return parsed
        docs = list(_yaml().compose_all(text))
    except MarkedYAMLError as exc:
        parsed.diagnostics.append(_syntax_error(file, text, exc))
        return parsed
    except ReaderError as exc:
        # ruamel's C reader reports a byte offset, its Python reader a character offset: find
        # the character ourselves.
        bad = Reader.NON_PRINTABLE.search(text)
        offset = bad.start() if bad else exc.position
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        char = exc.character
        code = ord(char) if isinstance(char, str) and len(char) == 1 else char
        what = f"character U+{code:04X}" if isinstance(code, int) else "a character"
        parsed.diagnostics.append(error(
            "Y107", f"{what} is not allowed in YAML", Span.point(file, line, col),
            "remove control characters from the file"))
        return parsed
    except RecursionError:
        parsed.diagnostics.append(error("Y105", "nesting too deep for the YAML parser",
                                        Span.point(file, 1, 1), "flatten the structure"))
        return parsed
    except YAMLError as exc:
        parsed.diagnostics.append(error("Y101", f"YAML error: {exc}", Span.point(file, 1, 1)))
        return parsed
    docs = [d for d in docs if d is not None]
    if not docs:
        parsed.diagnostics.append(error("Y109", "file is empty (no YAML document)",
                                        Span.point(file, 1, 1),
                                        "add resources, or remove the file from the includes"))
        return parsed
    if len(docs) > 1:
        parsed.diagnostics.append(error(
            "Y112", f"{len(docs)} YAML documents in one file; a manifest file holds one",
            Span(file, *_mark_pos(docs[1])), "move the second document to its own file"))
        return parsed
    converter = _Converter(parsed)
    try:
        parsed.data = converter.convert(docs[0], (), 0)
    except _Abort as exc:
        parsed.diagnostics.append(
            error(exc.code, exc.message, Span(file, *_mark_pos(exc.node)), exc.hint))
        parsed.data = None
    except RecursionError:
        parsed.diagnostics.append(error("Y105", "nesting too deep", Span.point(file, 1, 1),
                                        "flatten the structure"))
        parsed.data = None
    return parsed
