"""TTS templates in a sandbox; the simulated caller's script; JSON-lines call records."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from ccc_runtime.channel import Utterance
from ccc_runtime.clock import FakeClock
from ccc_runtime.records import CallRecord, JsonLinesSink, TraceEvent
from ccc_runtime.simchannel import Press, SimChannel, parse_keys
from ccc_runtime.templates import TemplateFault, TemplateRenderer
from rt_helpers import WORKDAY


def test_templates_render_call_data() -> None:
    r = TemplateRenderer()
    assert r.render("余额 {{ result.balance }} 元", {"result": {"balance": 12.5}}) == "余额 12.5 元"
    assert r.render("no placeholders", {}) == "no placeholders"


@pytest.mark.parametrize(("source", "message"), [
    ("{{ missing + 1 }}", "'missing' is undefined"),  # missing renders empty; + 1 fails
    ("{{ x.__class__ }}", "attributes starting with '_'"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{ 'a' * 100000000 }}", "too large"),
    ("{{ 9 ** 99999999 }}", r"can't use `\*\*`"),
    ("{% for i in range(10**9) %}{% endfor %}", "can't use calls"),
    ("{{ unclosed", "template '{{ unclosed'"),
])
def test_template_faults(source: str, message: str) -> None:
    with pytest.raises(TemplateFault, match=message):
        TemplateRenderer().render(source, {"x": 1})


def test_parse_keys() -> None:
    assert parse_keys("1, #,-,2@12000") == [Press("1"), Press("#"), Press(None),
                                            Press("2", 12000)]
    assert parse_keys("") == []
    with pytest.raises(ValueError, match="bad key '12'"):
        parse_keys("12")
    with pytest.raises(ValueError, match="bad time"):
        parse_keys("1@soon")


def test_an_interactive_caller_is_asked_when_the_script_runs_out() -> None:
    questions: list[str] = []
    answers = iter(["7", "", "x"])

    def ask(question: str) -> str | None:
        questions.append(question)
        return next(answers) or None

    clock = FakeClock(WORKDAY)
    channel = SimChannel(clock, [Press("1")], ask=ask)
    items = [Utterance("main-greeting", "zh")]
    assert asyncio.run(channel.play(items, barge_in=True)) == "1"  # scripted
    assert asyncio.run(channel.read_digit(5000)) == "7"
    assert asyncio.run(channel.read_digit(5000)) is None  # silence
    assert asyncio.run(channel.read_digit(3000)) is None  # not a key: silence
    assert questions[0] == "main-greeting [zh] - key within 5 s? "
    assert clock.now() == WORKDAY + timedelta(seconds=8)


def test_json_lines_sink(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "t.jsonl", tmp_path / "calls" / "c.jsonl")
    sink.trace(TraceEvent("c1", 1, 0, "main", 0, "MENU", "main.ivr:3:3", {"digits": "1"},
                          "key 1"))
    sink.call(CallRecord("c1", "+861", "+862", "main", "2026-11-18T10:00:00+08:00", 5,
                         "hung up", ["main@0"]))
    sink.close()
    event = json.loads((tmp_path / "t.jsonl").read_text())
    assert event["loc"] == "main.ivr:3:3" and event["outcome"] == "key 1"
    record = json.loads((tmp_path / "calls" / "c.jsonl").read_text())
    assert record["outcome"] == "hung up" and record["path"] == ["main@0"]
