"""`ccc lsp` end to end: a real LSP client (pytest-lsp) starts the server over stdio in a repo
made by `ccc init --example` and asks for each feature."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from click.testing import CliRunner
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from ccc_dsl.cli import cli
from ccc_dsl.commands.init import template_files
from ccc_dsl.grammar.formatter import format_source

pytestmark = pytest.mark.asyncio


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel, data in template_files(example=True).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path.resolve()


@pytest_lsp.fixture(config=ClientServerConfig(  # type: ignore[untyped-decorator]
    server_command=[sys.executable, "-m", "ccc_dsl", "lsp"]))
async def client(lsp_client: LanguageClient, repo: Path) -> AsyncIterator[None]:
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=repo.as_uri(), workspace_folders=[types.WorkspaceFolder(repo.as_uri(), "repo")]))
    yield
    await lsp_client.shutdown_session()


def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    language = "ivr" if path.suffix == ".ivr" else "yaml"
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
        uri, language, 1, path.read_text(encoding="utf-8") if text is None else text)))
    return uri


def _change(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(version, uri),
        [types.TextDocumentContentChangeWholeDocument(text)]))


def _position(text: str, needle: str, offset: int = 0) -> types.Position:
    """Where `needle` (plus `offset` characters) first occurs in `text`, 0-based."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return types.Position(line, index - (text.rfind("\n", 0, index) + 1))


BROKEN = '''flow extra {
  start:
    plya "bye"
    transfer queue "support"
    hangup
}
'''


async def test_diagnostics_match_ccc_validate_and_clear_when_fixed(
        client: LanguageClient, repo: Path) -> None:
    flow = repo / "flows" / "extra.ivr"
    flow.write_text("flow extra {\n  start:\n    hangup\n}\n", encoding="utf-8")
    uri = _open(client, flow, BROKEN)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    got = sorted((d.code, d.range.start.line + 1, d.range.start.character + 1,
                  d.range.end.line + 1, d.range.end.character + 1)
                 for d in client.diagnostics[uri])
    flow.write_text(BROKEN, encoding="utf-8")  # what `ccc validate` sees on disk
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"])
    expected = sorted((d["code"], d["span"]["line"], d["span"]["column"], d["span"]["end_line"],
                       d["span"]["end_column"]) for d in json.loads(result.output)["diagnostics"]
                      if Path(d["span"]["file"]).resolve() == flow)
    assert got == expected and [c for c, *_ in got] == ["P104"]
    assert client.diagnostics[uri][0].severity == types.DiagnosticSeverity.Error
    # as you type: the keyword fixed, the analysis now sees the queue without exits
    _change(client, uri, BROKEN.replace("plya", "play"), 2)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert [d.code for d in client.diagnostics[uri]] == ["A608"]
    fixed = BROKEN.replace("plya", "play").replace(
        '"support"\n    hangup\n',
        '"support" {\n      busy -> hangup\n      timeout -> hangup\n    }\n')
    _change(client, uri, fixed, 3)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []


async def test_manifest_edit_reports_in_the_manifest(client: LanguageClient, repo: Path) -> None:
    people = repo / "people.yaml"
    text = people.read_text(encoding="utf-8")
    uri = _open(client, people, text.replace("display_name: Alice Wang", "display_nam: Alice"))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    codes = {d.code for d in client.diagnostics[uri]}
    assert {"M201", "M203"} <= codes


async def test_formatting_returns_the_ccc_fmt_layout(client: LanguageClient, repo: Path) -> None:
    flow = repo / "flows" / "after_hours.ivr"
    messy = flow.read_text(encoding="utf-8").replace("  closed:\n    play", "  closed:\n  play")
    uri = _open(client, flow, messy)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        types.TextDocumentIdentifier(uri), types.FormattingOptions(2, True)))
    assert edits is not None and len(edits) == 1
    assert edits[0].new_text == format_source(messy, str(flow)).text
    assert edits[0].new_text == flow.read_text(encoding="utf-8")


async def _definition(client: LanguageClient, uri: str,
                      position: types.Position) -> types.Location:
    found = await client.text_document_definition_async(types.DefinitionParams(
        types.TextDocumentIdentifier(uri), position))
    assert isinstance(found, types.Location), found
    return found


async def test_go_to_definition(client: LanguageClient, repo: Path) -> None:
    main = repo / "flows" / "main.ivr"
    text = main.read_text(encoding="utf-8")
    uri = _open(client, main)
    people = (repo / "people.yaml").read_text(encoding="utf-8")
    queue = await _definition(client, uri, _position(text, 'transfer queue "sales"', 16))
    assert queue.uri == (repo / "people.yaml").as_uri()
    assert queue.range.start == _position(people, "\n  sales:", 3)
    label = await _definition(client, uri, _position(text, "busy -> sales_queue", 9))
    assert label.uri == uri and label.range.start == _position(text, "  sales_queue:", 2)
    sub = await _definition(client, uri, _position(text, "call flow survey", 11))
    assert sub.uri == (repo / "flows" / "survey.ivr").as_uri()
    prompt = await _definition(client, uri, _position(text, 'play "bye"', 6))
    prompts = (repo / "prompts.yaml").read_text(encoding="utf-8")
    assert prompt.uri == (repo / "prompts.yaml").as_uri()
    assert prompt.range.start == _position(prompts, "\n  bye:", 3)
    agents_text = (repo / "flows" / "vip_routing.ivr").read_text(encoding="utf-8")
    vip = _open(client, repo / "flows" / "vip_routing.ivr")
    fn = await _definition(client, vip, _position(agents_text, 'call function "', 15))
    assert fn.uri == (repo / "functions.yaml").as_uri()


async def test_find_references(client: LanguageClient, repo: Path) -> None:
    main = repo / "flows" / "main.ivr"
    text = main.read_text(encoding="utf-8")
    uri = _open(client, main)
    prompts_uri = _open(client, repo / "prompts.yaml")
    prompts = (repo / "prompts.yaml").read_text(encoding="utf-8")
    refs = await client.text_document_references_async(types.ReferenceParams(
        context=types.ReferenceContext(include_declaration=False),
        text_document=types.TextDocumentIdentifier(prompts_uri),
        position=_position(prompts, "\n  bye:", 3)))
    assert refs is not None
    files = {r.uri.rsplit("/", 1)[-1] for r in refs}
    assert "main.ivr" in files and "after_hours.ivr" in files
    in_main = [r for r in refs if r.uri == uri]
    assert len(in_main) == text.count('"bye"')
    group = await client.text_document_references_async(types.ReferenceParams(
        context=types.ReferenceContext(include_declaration=True),
        text_document=types.TextDocumentIdentifier(uri),
        position=_position(text, 'transfer queue "sales"', 16)))
    assert group is not None
    assert any(r.uri.endswith("people.yaml") for r in group)  # declaration and agents' groups
    assert sum(r.uri == uri for r in group) == text.count('"sales"')


async def _complete(client: LanguageClient, uri: str, position: types.Position) -> set[str]:
    result = await client.text_document_completion_async(types.CompletionParams(
        types.TextDocumentIdentifier(uri), position))
    assert isinstance(result, types.CompletionList)
    return {item.label for item in result.items}


async def test_completion(client: LanguageClient, repo: Path) -> None:
    flow = repo / "flows" / "extra.ivr"
    text = 'flow extra {\n  start:\n    play "\n    transfer queue "\n    goto \n    \n}\n'
    flow.write_text(text, encoding="utf-8")
    uri = _open(client, flow, text)
    prompts = await _complete(client, uri, _position(text, 'play "', 6))
    assert {"bye", "closed", "main-greeting"} <= prompts and "sales" not in prompts
    groups = await _complete(client, uri, _position(text, 'queue "', 7))
    assert groups == {"sales", "support", "billing", "vip"}
    labels = await _complete(client, uri, _position(text, "goto ", 5))
    assert "start" in labels
    keywords = await _complete(client, uri, _position(text, "    \n}", 4))
    assert {"play", "menu", "transfer", "hangup"} <= keywords
    assert {"upper", "pad", "number", "now"} <= keywords  # the expression functions


async def test_hover(client: LanguageClient, repo: Path) -> None:
    main = repo / "flows" / "main.ivr"
    text = main.read_text(encoding="utf-8")
    uri = _open(client, main)
    over_prompt = await client.text_document_hover_async(types.HoverParams(
        types.TextDocumentIdentifier(uri), _position(text, 'play "bye"', 7)))
    assert over_prompt is not None and isinstance(over_prompt.contents, types.MarkupContent)
    assert "Thank you for calling. Goodbye." in over_prompt.contents.value
    assert "感谢您的来电" in over_prompt.contents.value
    over_menu = await client.text_document_hover_async(types.HoverParams(
        types.TextDocumentIdentifier(uri), _position(text, '    menu prompt "language-menu"', 5)))
    assert over_menu is not None and isinstance(over_menu.contents, types.MarkupContent)
    assert "key" in over_menu.contents.value.lower()


async def test_a_flow_outside_any_repo_gets_the_parsers_diagnostics(
        client: LanguageClient, repo: Path) -> None:
    loose = repo.parent / "loose"
    loose.mkdir(exist_ok=True)
    flow = loose / "draft.ivr"
    flow.write_text(BROKEN, encoding="utf-8")
    uri = _open(client, flow)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert [d.code for d in client.diagnostics[uri]] == ["P104"]


async def test_hover_on_a_manifest_key(client: LanguageClient, repo: Path) -> None:
    people = repo / "people.yaml"
    text = people.read_text(encoding="utf-8")
    uri = _open(client, people)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    found = await client.text_document_hover_async(types.HoverParams(
        types.TextDocumentIdentifier(uri), _position(text, "\n  sales:", 3)))
    assert found is not None and isinstance(found.contents, types.MarkupContent)
    assert "skill group `sales`" in found.contents.value and "agent(s)" in found.contents.value


async def test_columns_are_in_the_clients_utf16_units(client: LanguageClient,
                                                      repo: Path) -> None:
    flow = repo / "flows" / "extra.ivr"
    text = 'flow extra {\n  start:\n    say "\U0001f600 hi" then plya "bye"\n}\n'
    flow.write_text(text, encoding="utf-8")
    uri = _open(client, flow, text)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    (found,) = client.diagnostics[uri]
    line = text.splitlines()[2]
    before = line[:line.index('"bye"')]
    assert found.range.start == types.Position(2, len(before.encode("utf-16-le")) // 2)
    assert found.range.start.character == len(before) + 1  # the emoji is two UTF-16 units


async def test_manifest_edits_are_checked_when_typing_pauses(client: LanguageClient,
                                                             repo: Path) -> None:
    people = repo / "people.yaml"
    text = people.read_text(encoding="utf-8")
    uri = _open(client, people)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []
    _change(client, uri, text.replace("display_name: Alice Wang", "display_nam: Alice"), 2)
    _change(client, uri, text, 3)
    _change(client, uri, text.replace("routing: familiar_agent", "routing: familiar", 1), 4)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert [d.code for d in client.diagnostics[uri]] == ["M202"]  # the last edit's, alone
