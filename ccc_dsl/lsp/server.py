"""The language server (`ccc lsp`, over stdio): diagnostics as you type, formatting, go to
definition, find references, completion and hover for .ivr files and the manifests.

Diagnostics come from `ccc_dsl.pipeline.check_repo`, the function `ccc validate` runs, with the
open editor buffers as overlays: the same codes, messages and spans. While only flows are
edited the manifests loaded by the previous check are reused (a 10,000-resource repo takes far
longer to load than a flow to check); editing, saving or closing a manifest, or a flow file the
last load didn't find, loads them again.
"""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccc_runtime.expressions import FUNCTIONS
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import TextDocument

from ccc_dsl import __version__
from ccc_dsl.diagnostics import Diagnostic, Severity, Span
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.errors import STATEMENT_KEYWORDS
from ccc_dsl.grammar.formatter import format_source
from ccc_dsl.grammar.parser import parse_text
from ccc_dsl.lsp import index
from ccc_dsl.manifest import ROOT_FILE
from ccc_dsl.pipeline import RepoCheck, check_repo, find_repo_root

MANIFEST_DELAY_S = 0.25
"""A manifest edit is checked once typing pauses this long: it loads every manifest again
(a third of a second in a 10,000-resource repo), which a check per keystroke would queue up."""

MAX_DOCUMENT_CHARS = 2_000_000
"""An open buffer larger than this is not checked (the loader and parser cap files too)."""

KEYWORDS = (*STATEMENT_KEYWORDS, "then", "else", "flow", "queue", "agent", "number",
            "function", "prompt", "timeout", "retries", "forever", "reset_on_entry", "capacity",
            "when_empty", "waiting", "sip", "caller_id", "recording", "maxlength", "silence",
            "beep", "terminator", "bargein")

_SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error,
             Severity.WARNING: types.DiagnosticSeverity.Warning,
             Severity.INFO: types.DiagnosticSeverity.Information}

_STRING_KINDS = {"play": "prompt", "prompt": "prompt", "music": "prompt", "thanks": "prompt",
                 "queue": "group", "voicemail": "group", "staffing": "group", "agent": "agent",
                 "function": "function", "hours": "schedule", "blacklist": "blacklist"}
"""The word before an opened string -> the kind of name the string holds."""

_OPEN_STRING = re.compile(r'(\w+)\s+(?:"[^"]*"\s*,\s*)*"([^"]*)$')
_FLOW_HEAD = re.compile(r"\s*flow\s+\w+")
_LABEL = re.compile(r"\s*(\w+):\s*(?://.*)?$")
_AFTER_WORD = re.compile(r"(?:^|\s)(call\s+flow|goto|->|then)\s+(\w*)$")


@dataclass
class Repo:
    """One config repo the editor has files of: its last check and what was published."""

    root: Path
    check: RepoCheck | None = None
    published: set[str] = field(default_factory=set)
    """URIs that got diagnostics last time (cleared when they have none now)."""
    pending: asyncio.TimerHandle | None = None
    """A manifest edit's check, waiting for typing to pause."""


class CccLanguageServer(LanguageServer):
    """The pygls server with the repos it has seen."""

    def __init__(self) -> None:
        super().__init__("ccc", __version__)
        self.repos: dict[Path, Repo] = {}
        self.env: str | None = None
        self.loose: dict[str, ast.Module] = {}
        """.ivr files outside any config repo: parsed alone (syntax and one-file checks)."""


server = CccLanguageServer()


def _path(uri: str) -> Path | None:
    fs = to_fs_path(uri)
    return Path(fs).resolve() if fs else None


def _is_manifest(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml")


def _repo_for(ls: CccLanguageServer, path: Path) -> Repo | None:
    root = find_repo_root(path)
    if root is None:
        return None
    return ls.repos.setdefault(root, Repo(root))


def _overlays(ls: CccLanguageServer, root: Path) -> dict[Path, str]:
    """The open buffers inside `root`, as the pipeline's overlays."""
    out: dict[Path, str] = {}
    for uri, doc in ls.workspace.text_documents.items():
        path = _path(uri)
        if path is not None and path.is_relative_to(root) and len(doc.source) <= MAX_DOCUMENT_CHARS:
            out[path] = doc.source
    return out


def _client_range(ls: CccLanguageServer, span: Span,
                  lines: Sequence[str] | None = None) -> types.Range:
    """A span (1-based, in characters) as an LSP range (0-based, in the client's units);
    `lines`, the file's text, when the caller has it already."""
    lines = _lines(ls, span.file) if lines is None else lines
    codec = ls.workspace.position_codec
    start = types.Position(max(span.line - 1, 0), max(span.column - 1, 0))
    end = types.Position(max(span.end_line - 1, 0), max(span.end_column - 1, 0))
    if lines:
        start = codec.position_to_client_units(lines, start)
        end = codec.position_to_client_units(lines, end)
    return types.Range(start, end)


def _uri_of(ls: CccLanguageServer, file: str) -> str | None:
    """The URI to report a file under: the open document's own URI (as the editor spelt it)
    when it is open, else the file's."""
    path = Path(file).resolve()
    for uri in ls.workspace.text_documents:
        if _path(uri) == path:
            return str(uri)
    found: str | None = from_fs_path(str(path))
    return found


def _lines(ls: CccLanguageServer, file: str) -> Sequence[str]:
    uri = _uri_of(ls, file)
    doc = ls.workspace.text_documents.get(uri) if uri else None
    if doc is not None:
        lines: Sequence[str] = doc.lines
        return lines
    try:
        return Path(file).read_text(encoding="utf-8", errors="replace").splitlines(True)
    except OSError:
        return []


def to_lsp(ls: CccLanguageServer, d: Diagnostic, span: Span,
           lines: Sequence[str]) -> types.Diagnostic:
    """A diagnostic as LSP has it, at `span` (its own, or where one without a span is shown)."""
    return types.Diagnostic(
        range=_client_range(ls, span, lines),
        message=d.message + (f"\nhint: {d.hint}" if d.hint else ""),
        severity=_SEVERITY[d.severity], code=d.code, source="ccc")


def _publish(ls: CccLanguageServer, by_uri: dict[str, list[types.Diagnostic]],
             previous: set[str]) -> set[str]:
    for uri in previous - set(by_uri):
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))
    for uri, items in by_uri.items():
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, items))
    return set(by_uri)


def check(ls: CccLanguageServer, uri: str, reload: bool = False) -> None:
    """Check the repo of a document and publish its diagnostics (every file of the repo that
    has some, and empty lists for those that had some before)."""
    path = _path(uri)
    if path is None:
        return
    repo = _repo_for(ls, path)
    if repo is None:
        _check_loose(ls, uri, path)
        return
    if repo.pending is not None:  # this check covers a waiting manifest edit too
        repo.pending.cancel()
        repo.pending, reload = None, True
    previous = repo.check
    manifests = previous.manifests if previous is not None and not reload else None
    if manifests is not None and path.suffix == ".ivr" and not any(
            f.resolve() == path for f in manifests.flow_files):
        manifests = None  # a flow file the last load didn't find
    if manifests is None:
        gc.unfreeze()  # the previous load's objects may be garbage now
    repo.check = check_repo(repo.root, ls.env, _overlays(ls, repo.root), manifests=manifests)
    if manifests is None:
        # The loaded manifests live until the next load: keep the collector from rescanning
        # them (a 10,000-resource model made full collections pause edits by ~100 ms).
        gc.freeze()
    by_uri: dict[str, list[types.Diagnostic]] = {uri: []}  # the edited file's, even if none
    files: dict[str, tuple[str, Sequence[str]]] = {}  # span file -> URI, text (once per file)
    root_file = str(repo.root / ROOT_FILE)
    for d in repo.check.diagnostics:
        span = d.span if d.span is not None and d.span.file else Span.point(root_file, 1, 1)
        if span.file not in files:
            files[span.file] = (_uri_of(ls, span.file) or "", _lines(ls, span.file))
        target, lines = files[span.file]
        if target:
            by_uri.setdefault(target, []).append(to_lsp(ls, d, span, lines))
    repo.published = _publish(ls, by_uri, repo.published)


def _check_loose(ls: CccLanguageServer, uri: str, path: Path) -> None:
    """A .ivr file outside any repo: the parser's diagnostics alone."""
    if path.suffix != ".ivr":
        return
    doc = ls.workspace.get_text_document(uri)
    if len(doc.source) > MAX_DOCUMENT_CHARS:
        return
    parsed = parse_text(doc.source, str(path))
    if parsed.module is not None:
        ls.loose[uri] = parsed.module
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
        uri, [to_lsp(ls, d, d.span or Span.point(str(path), 1, 1), doc.lines)
              for d in parsed.diagnostics]))


@server.feature(types.INITIALIZE)
def initialize(ls: CccLanguageServer, params: types.InitializeParams) -> None:
    """`initializationOptions: {"env": NAME}` selects the environment (default: default_env)."""
    options: Any = params.initialization_options
    if isinstance(options, dict) and isinstance(options.get("env"), str):
        ls.env = options["env"]


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: CccLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    path = _path(params.text_document.uri)
    check(ls, params.text_document.uri, reload=path is not None and _is_manifest(path))


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: CccLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    """A flow is checked at once; a manifest when typing pauses (MANIFEST_DELAY_S)."""
    uri = params.text_document.uri
    path = _path(uri)
    repo = _repo_for(ls, path) if path is not None else None
    if path is None or repo is None or not _is_manifest(path):
        check(ls, uri)
        return
    if repo.pending is not None:
        repo.pending.cancel()
    repo.pending = asyncio.get_running_loop().call_later(MANIFEST_DELAY_S, check, ls, uri, True)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: CccLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    check(ls, params.text_document.uri, reload=True)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CccLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    """The buffer is gone: check again with the file as it is on disk."""
    ls.loose.pop(params.text_document.uri, None)
    path = _path(params.text_document.uri)
    if path is not None and find_repo_root(path) is not None:
        check(ls, params.text_document.uri, reload=True)


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def watched_files(ls: CccLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        check(ls, change.uri, reload=True)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: CccLanguageServer,
               params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    """The whole file in `ccc fmt` layout; nothing when it has syntax errors."""
    doc = ls.workspace.get_text_document(params.text_document.uri)
    if not doc.uri.endswith(".ivr") or len(doc.source) > MAX_DOCUMENT_CHARS:
        return None
    result = format_source(doc.source, doc.path)
    if not result.ok or result.text == doc.source:
        return []
    lines = doc.lines
    end = types.Position(len(lines), 0)
    return [types.TextEdit(types.Range(types.Position(0, 0), end), result.text)]


def _where(ls: CccLanguageServer, doc: TextDocument,
           position: types.Position) -> tuple[int, int]:
    """A client position as the pipeline's 1-based line and character column."""
    server_pos = ls.workspace.position_codec.position_from_client_units(doc.lines, position)
    return server_pos.line + 1, server_pos.character + 1


def _modules(ls: CccLanguageServer, repo: Repo | None, uri: str) -> list[ast.Module]:
    if repo is not None and repo.check is not None:
        return repo.check.modules
    loose = ls.loose.get(uri)
    return [loose] if loose is not None else []


def _context(ls: CccLanguageServer, uri: str) -> tuple[Repo | None, TextDocument]:
    doc = ls.workspace.get_text_document(uri)
    path = _path(uri)
    repo = _repo_for(ls, path) if path is not None else None
    if repo is not None and repo.check is None:
        check(ls, uri)
    return repo, doc


def symbol_at(ls: CccLanguageServer, uri: str,
              position: types.Position) -> tuple[index.Symbol | None, Repo | None]:
    repo, doc = _context(ls, uri)
    line, column = _where(ls, doc, position)
    modules = _modules(ls, repo, uri)
    if doc.path.endswith(".ivr"):
        module = index.module_for(modules, doc.path)
        return (index.symbol_in_flow(module, line, column) if module else None), repo
    model = repo.check.model if repo is not None and repo.check is not None else None
    if model is None:
        return None, repo
    return index.symbol_in_manifest(model, doc.path, line, column), repo


def _location(ls: CccLanguageServer, span: Span) -> types.Location | None:
    uri = _uri_of(ls, span.file)
    return types.Location(uri, _client_range(ls, span)) if uri else None


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: CccLanguageServer,
               params: types.DefinitionParams) -> types.Location | None:
    symbol, repo = symbol_at(ls, params.text_document.uri, params.position)
    if symbol is None:
        return None
    model = repo.check.model if repo is not None and repo.check is not None else None
    span = index.definition(symbol, _modules(ls, repo, params.text_document.uri), model)
    return _location(ls, span) if span is not None else None


@server.feature(types.TEXT_DOCUMENT_REFERENCES)
def references(ls: CccLanguageServer,
               params: types.ReferenceParams) -> list[types.Location] | None:
    symbol, repo = symbol_at(ls, params.text_document.uri, params.position)
    if symbol is None:
        return None
    model = repo.check.model if repo is not None and repo.check is not None else None
    modules = _modules(ls, repo, params.text_document.uri)
    spans = list(index.references(symbol, modules, model))
    if params.context.include_declaration:
        declared = index.definition(symbol, modules, model)
        if declared is not None:
            spans.insert(0, declared)
    return [loc for span in spans if (loc := _location(ls, span)) is not None]


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: CccLanguageServer, params: types.HoverParams) -> types.Hover | None:
    """A name: what it is (a prompt's text per language, a group's agents, ...); a statement:
    what the construct does."""
    uri = params.text_document.uri
    symbol, repo = symbol_at(ls, uri, params.position)
    model = repo.check.model if repo is not None and repo.check is not None else None
    modules = _modules(ls, repo, uri)
    text = index.describe(symbol, modules, model) if symbol is not None else None
    if text is None and uri.endswith(".ivr"):
        doc = ls.workspace.get_text_document(uri)
        module = index.module_for(modules, doc.path)
        found = index.node_in_flow_at(module, *_where(ls, doc, params.position)) \
            if module is not None else None
        text = index.construct_doc(found[1]) if found is not None else None
    if text is None:
        return None
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))


def _labels_typed(lines: Sequence[str], line_no: int) -> list[str]:
    """The labels of the flow around a line of a file that doesn't parse yet (as it is being
    typed): `name:` lines between the flow's head and the next."""
    start = next((i for i in range(min(line_no, len(lines) - 1), -1, -1)
                  if _FLOW_HEAD.match(lines[i])), 0)
    end = next((i for i in range(line_no + 1, len(lines)) if _FLOW_HEAD.match(lines[i])),
               len(lines))
    return sorted({m.group(1) for text in lines[start:end] if (m := _LABEL.match(text))})


def _names(kind: str, repo: Repo | None, modules: list[ast.Module],
           flow: str | None) -> list[str]:
    model = repo.check.model if repo is not None and repo.check is not None else None
    if kind == ast.RefKind.FLOW:
        return sorted({f.name for m in modules for f in m.flows})
    if kind == ast.RefKind.LABEL:
        return sorted({s.label for m in modules for f in m.flows if f.name == flow
                       for s in f.steps})
    manifest_kind = index.MANIFEST_KINDS.get(kind)
    if model is None or manifest_kind is None:
        return []
    return sorted(model.resources(manifest_kind))


@server.feature(types.TEXT_DOCUMENT_COMPLETION,
                types.CompletionOptions(trigger_characters=['"', " "]))
def completion(ls: CccLanguageServer,
               params: types.CompletionParams) -> types.CompletionList | None:
    """Names where the text before the cursor asks for one (`play "`, `transfer queue "`,
    `call flow `, `-> `, `goto `), else keywords and the flow's labels."""
    uri = params.text_document.uri
    if not uri.endswith(".ivr"):
        return None
    repo, doc = _context(ls, uri)
    modules = _modules(ls, repo, uri)
    line_no = params.position.line
    line = doc.lines[line_no] if line_no < len(doc.lines) else ""
    before = line[:_where(ls, doc, params.position)[1] - 1]
    module = index.module_for(modules, doc.path)
    flow = next((f.name for f in module.flows if f.span.line <= line_no + 1 <= f.span.end_line),
                None) if module is not None else None

    def labels() -> list[str]:
        if module is None:
            return _labels_typed(doc.lines, line_no)
        return _names(str(ast.RefKind.LABEL), repo, modules, flow)
    items: list[types.CompletionItem] = []
    opened = _OPEN_STRING.search(before)
    if before.count('"') % 2 == 1:
        kind = _STRING_KINDS.get(opened.group(1)) if opened else None
        if kind is not None:
            items = [types.CompletionItem(n, kind=types.CompletionItemKind.Reference)
                     for n in _names(kind, repo, modules, flow)]
        return types.CompletionList(is_incomplete=False, items=items)
    after = _AFTER_WORD.search(before)
    if after is not None:
        names = (_names(str(ast.RefKind.FLOW), repo, modules, flow)
                 if after.group(1).startswith("call") else labels())
        items = [types.CompletionItem(n, kind=types.CompletionItemKind.Reference)
                 for n in names]
        if after.group(1) == "then":
            items += [types.CompletionItem(k, kind=types.CompletionItemKind.Keyword)
                      for k in STATEMENT_KEYWORDS]
        return types.CompletionList(is_incomplete=False, items=items)
    items = [types.CompletionItem(k, kind=types.CompletionItemKind.Keyword) for k in KEYWORDS]
    items += [types.CompletionItem(n, kind=types.CompletionItemKind.Reference)
              for n in labels()]
    items += [types.CompletionItem(f.name, kind=types.CompletionItemKind.Function,
                                   detail=f.signature, documentation=f.summary)
              for f in FUNCTIONS.values()]  # the expression functions, from their one table
    return types.CompletionList(is_incomplete=False, items=items)


def main() -> None:
    """Serve over stdio until the client says exit."""
    server.start_io()
