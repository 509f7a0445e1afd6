"""Shared helpers for the flow-test tests: a copy of the example repo, and small config repos
written on the fly."""

from __future__ import annotations

import textwrap
from pathlib import Path

from repos import copy_examples

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

def examples_copy(dest: Path) -> Path:
    """A copy of examples/ (with its tests) that a test may edit."""
    copy_examples(dest)
    return dest


def write_repo(dest: Path, flow: str, tests: dict[str, str] | None = None) -> Path:
    """A minimal config repo: one schedule, one skill group with two agents, one function, one
    prompt, the flow text as flows/t.ivr, and test files (name -> YAML) in tests/."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "ccc.yaml").write_text(textwrap.dedent("""\
        ccc: 1
        include: ["*.yaml"]
        flows: ["flows/*.ivr"]
        instance:
          name: Test
          domain: test-cc
          billing: {mode: pay_as_you_go}
          default_language: en
        """), encoding="utf-8")
    (dest / "things.yaml").write_text(textwrap.dedent("""\
        numbers:
          line: {number: "+86 21 6123 0000", type: landline}
        flow_bindings:
          line-t: {number: line, flow: t}
        skill_groups:
          help: {outbound_numbers: [line]}
        agents:
          ann: {display_name: Ann, sip: "sip:ann@127.0.0.1:5070", groups: {help: 5}}
          ben: {display_name: Ben, sip: "sip:ben@127.0.0.1:5071", groups: {help: 3}}
        schedules:
          office:
            timezone: Asia/Shanghai
            weekly: {mon-fri: ["09:00-18:00"]}
        functions:
          lookup: {url: "http://127.0.0.1:9/x", method: POST, timeout_seconds: 1}
        prompts:
          hello:
            default_language: en
            languages: {en: {tts: "Hello"}}
          bye:
            default_language: en
            languages: {en: {tts: "Bye"}}
        """), encoding="utf-8")
    (dest / "flows").mkdir(exist_ok=True)
    (dest / "flows" / "t.ivr").write_text(textwrap.dedent(flow), encoding="utf-8")
    if tests:
        (dest / "tests").mkdir(exist_ok=True)
        for name, text in tests.items():
            (dest / "tests" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return dest
