"""Bundles: validated configuration, verified flows, every unknown name reported at once."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from ccc_runtime.bundle import BundleError, bundle_from_parts, load_bundle
from ccc_runtime.bytecode import Op
from rt_helpers import BASE_CONFIG, Flow, const, make_bundle, prompt, write_bundle_files


def hangup_flow(name: str = "main") -> bytes:
    f = Flow(name)
    f.node(Op.HANGUP)
    return f.build()


def problems(config: dict[str, Any], flows: dict[str, bytes] | None = None) -> list[str]:
    with pytest.raises(BundleError) as info:
        bundle_from_parts(config, flows if flows is not None else {"main": hangup_flow()})
    found: list[str] = info.value.problems
    return found


def with_changes(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE_CONFIG)
    config.update(changes)
    return config


def test_a_good_bundle_loads() -> None:
    bundle = make_bundle({"main": hangup_flow()})
    assert bundle.flow_for_number("+864001234567") == "main"
    assert [a.user for a in bundle.agents] == ["alice", "bob", "carol", "dave"]
    assert "2026-10-03" in {d.isoformat() for d in bundle.schedules["support-hours"].holidays}


def test_schema_errors_are_located() -> None:
    found = problems(with_changes(format=2, agents={"x": {"skills": {"sales": "high"}}},
                                  colour="red"))
    assert any(p.startswith("format:") for p in found)
    assert any(p.startswith("agents.x.skills.sales:") for p in found)
    assert any(p.startswith("colour: Extra inputs are not permitted") for p in found)
    assert problems(with_changes(timezone="Mars/Base"))[0].startswith(
        "timezone: Value error, unknown IANA time zone 'Mars/Base'")
    assert any("exactly one of 'file' or 'tts'" in p
               for p in problems(with_changes(prompts={"p": {"zh": {}}})))
    assert any("functions.f.url" in p for p in problems(with_changes(
        functions={"f": {"url": "file:///etc/passwd"}})))
    # a day at most: a bigger wrap-up would overflow the clock in every routing decision
    assert problems(with_changes(after_call_work_ms=10**20))[0].startswith(
        "after_call_work_ms:")


def test_every_unknown_name_is_reported() -> None:
    f = Flow()
    hours = f.node(Op.HOURS, "nope-hours")
    queue = f.node(Op.QUEUE, "nope-group", const(0), 0, "familiar", prompt("nope-music"),
                   [["position", 1000, prompt("nope-announce")]], [], [])
    agent = f.node(Op.TRANSFER_AGENT, const("nope-agent"), 1000)
    sub = f.node(Op.CALL_FLOW, "nope-flow")
    end = f.node(Op.HANGUP)
    f.exit(hours, "open", queue)
    f.exit(hours, "closed", queue)
    f.exit(queue, "timeout", agent)
    f.exit(sub, "next", end)
    found = problems(with_changes(numbers={"+861": "ghost"}, default_language="fr"),
                     {"main": f.build()})
    text = "\n".join(found)
    for expected in ("unknown schedule 'nope-hours'", "unknown skill group 'nope-group'",
                     "unknown prompt 'nope-music'", "unknown prompt 'nope-announce'",
                     "unknown agent 'nope-agent'", "unknown flow 'nope-flow'",
                     "number +861 is bound to unknown flow 'ghost'",
                     "default_language 'fr' is not in languages"):
        assert expected in text
    assert "flow 'main' node 0 (HOURS, main.ivr:1:3)" in text


def test_bad_flow_bytes_and_misnamed_flows() -> None:
    found = problems(BASE_CONFIG, {"main": b"garbage", "other": hangup_flow("main")})
    assert found[0].startswith("flow 'main': not a .ccb image")
    assert found[1] == "flow 'other': the image is of flow 'main'"


def test_load_from_a_directory(tmp_path: Path) -> None:
    config = {**BASE_CONFIG, "flows": {"main": "flows/main.ccb"}}
    write_bundle_files(tmp_path, {"flows/main.ccb": hangup_flow(),
                                  "bundle.json": json.dumps(config).encode()})
    bundle = load_bundle(tmp_path)
    assert bundle.root == tmp_path
    assert bundle.flow_bytes["main"] == hangup_flow()


@pytest.mark.parametrize(("flows", "message"), [
    ({"main": "../outside.ccb"}, "is not inside the bundle"),
    ({"main": "flows/missing.ccb"}, "can't read flows/missing.ccb"),
    ({"main": "flows/a\0.ccb"}, "is not inside the bundle"), ({"main": 7}, "is not inside"),
])
def test_directory_problems(tmp_path: Path, flows: dict[str, str], message: str) -> None:
    write_bundle_files(tmp_path, {"bundle.json": json.dumps({**BASE_CONFIG, "flows": flows}
                                                            ).encode()})
    with pytest.raises(BundleError, match=message):
        load_bundle(tmp_path)


def test_unreadable_bundle_json(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="can't read the bundle"):
        load_bundle(tmp_path)
    write_bundle_files(tmp_path, {"bundle.json": b"[]"})
    with pytest.raises(BundleError, match="'flows' object"):
        load_bundle(tmp_path)
