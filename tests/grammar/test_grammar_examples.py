"""The bundled example flows: they parse cleanly, are already formatted, and use only the
names of the example call center, which its manifests (examples/*.yaml) define."""

from __future__ import annotations

from pathlib import Path

import pytest
from gr_helpers import EXAMPLES

from ccc_dsl.grammar import ast
from ccc_dsl.grammar.formatter import format_text
from ccc_dsl.grammar.parser import parse_file, parse_text

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.ivr"))

NAMES: dict[ast.RefKind, set[str]] = {
    ast.RefKind.FLOW: {"main", "account_lookup", "vip_routing", "after_hours", "survey",
                       "screening", "attendant", "studio_ivr", "connect_queue"},
    ast.RefKind.GROUP: {"sales", "support", "billing", "vip"},
    ast.RefKind.VOICEMAIL: {"sales", "support", "billing", "vip"},
    ast.RefKind.AGENT: {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
                        "ivan", "judy", "ken", "lucy"},
    ast.RefKind.SCHEDULE: {"support-hours"},
    ast.RefKind.PROMPT: {
        "main-greeting", "language-menu", "invalid-key", "no-input", "all-busy", "closed",
        "holiday", "bye", "enter-account", "account-not-found", "vip-welcome",
        "survey-question", "survey-thanks", "voicemail-intro", "blocked", "hold-music",
        "queue-position", "callback-offer",
    },
    ast.RefKind.FUNCTION: {"account-lookup", "vip-check", "directory", "route-lookup"},
    ast.RefKind.BLACKLIST: {"inbound-block"},
}


def test_the_six_named_flows_exist() -> None:
    declared = set()
    for path in EXAMPLE_FILES:
        module = parse_file(path).module
        assert module is not None
        declared |= {flow.name for flow in module.flows}
    assert declared == NAMES[ast.RefKind.FLOW]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_parses_cleanly_and_is_formatted(path: Path) -> None:
    result = parse_file(path)
    assert result.diagnostics == []
    assert result.module is not None
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_uses_only_shared_names(path: Path) -> None:
    module = parse_file(path).module
    assert module is not None
    for flow in module.flows:
        labels = {step.label for step in flow.steps}
        for node in flow.find_all(ast.Ref):
            if node.kind is ast.RefKind.LABEL:
                assert node.name in labels, f"{node.span}: no step `{node.name}`"
            else:
                assert node.name in NAMES[node.kind], f"{node.span}: unknown {node.kind}"


def test_examples_exercise_most_constructs() -> None:
    used: set[type] = set()
    for path in EXAMPLE_FILES:
        module = parse_file(path).module
        assert module is not None
        used |= {type(n) for n in module.walk()}
    statements = {
        ast.Play, ast.Set, ast.If, ast.Goto, ast.Hangup, ast.Return, ast.Reprompt, ast.Language,
        ast.Menu, ast.Collect, ast.Hours, ast.Blacklist, ast.CallFunction, ast.CallFlow,
        ast.Staffing, ast.TransferQueue, ast.TransferAgent, ast.TransferNumber, ast.Voicemail,
        ast.Survey, ast.Announce, ast.Offer, ast.Tts, ast.Pause, ast.Record, ast.TransferSip,
        ast.Recording,
    }
    assert statements <= used


DOC = Path(__file__).parents[2] / "docs" / "dsl.md"


def test_every_example_in_the_language_docs_parses() -> None:
    """Untagged code blocks of docs/dsl.md are flows, or statements of one step."""
    blocks: list[str] = []
    current: list[str] | None = None
    tagged = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if current is None:
                current, tagged = [], line != "```"
            else:
                if not tagged:
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    assert len(blocks) >= 15
    for block in blocks:
        text = block
        if not block.lstrip().startswith(("flow", "//")):
            body = "\n".join("    " + line for line in block.splitlines())
            text = f"flow f {{\n  s:\n{body}\n  lookup:\n    hangup\n}}\n"
        result = parse_text(text, "dsl.md")
        assert result.module is not None, (block, result.diagnostics)
        assert not [d for d in result.diagnostics if d.code == "P207"], block
