"""The flow-test file format: durations, key scripts, defaults, and located errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from ccc_runtime.simchannel import Press
from hypothesis import given, settings
from hypothesis import strategies as st

from ccc_dsl.flowtest.model import (
    SuiteModel,
    load_test_file,
    merged,
    parse_duration_ms,
    parse_key_script,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def located(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    loaded = load_test_file(write(tmp_path, text))
    assert loaded.model is None
    return sorted((d.span.line, d.span.column, d.code) for d in loaded.diagnostics if d.span)


@pytest.mark.parametrize(("text", "ms"), [
    ("30s", 30_000), ("2m", 120_000), ("1500ms", 1500), ("1.5s", 1500), ("1h", 3_600_000),
    (250, 250), ("250", 250),
])
def test_durations(text: str | int, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["soon", "-3s", "3 days", True, None, -1])
def test_bad_durations_say_what_is_expected(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ms(bad)


def test_key_script_items() -> None:
    assert parse_key_script("1, #,-, 2@12s,*@500") == [
        Press("1"), Press("#"), Press(None), Press("2", 12_000), Press("*", 500)]
    assert parse_key_script("") == []


@pytest.mark.parametrize("bad", ["12", "a", "1@soon", "-@3s"])
def test_bad_key_script_items(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_key_script(bad)


def test_a_valid_file_with_defaults(tmp_path: Path) -> None:
    loaded = load_test_file(write(tmp_path, """\
        defaults:
          flow: main
          caller: "+8613700000001"
          at: 2026-12-25T10:00+08:00
          agents: {dave: available, erin: busy}
          keys: "1"
        tests:
          - name: one
            agents: {erin: available}
            keys: ["2", 3, {key: "#", at: 5s}, "-"]
            expect: {outcome: hung up, variables: {menu.key: "3"}}
          - name: two
            expect: {}
        """))
    assert loaded.diagnostics == []
    assert isinstance(loaded.model, SuiteModel)
    first, second = loaded.model.tests
    one = merged(loaded.model.defaults, first)
    assert one.flow == "main"
    assert one.at is not None and one.at.utcoffset() is not None
    assert one.at.isoformat() == "2026-12-25T10:00:00+08:00"
    assert one.agents == {"dave": "available", "erin": "available"}  # merged key by key
    assert one.keys == [Press("2"), Press("3"), Press("#", 5000), Press(None)]  # replaced
    two = merged(loaded.model.defaults, second)
    assert two.keys == [Press("1")]
    assert two.agents == {"dave": "available", "erin": "busy"}


def test_unknown_and_missing_keys_are_located_with_hints(tmp_path: Path) -> None:
    loaded = load_test_file(write(tmp_path, """\
        tests:
          - name: one
            at: 2026-12-25T10:00+08:00
            expct: {}
        """))
    codes = {d.code: d for d in loaded.diagnostics}
    assert set(codes) == {"T701", "T702"}
    assert codes["T701"].span is not None and codes["T701"].span.line == 4
    assert codes["T701"].span.column == 5
    assert codes["T701"].hint == "did you mean `expect`?"
    assert codes["T702"].message == "test `one`: missing required key `expect`"
    assert codes["T702"].span is not None and codes["T702"].span.line == 2


def test_every_t70x_names_a_test_the_same_way(tmp_path: Path) -> None:
    loaded = load_test_file(write(tmp_path, """\
        tests:
          - name: one
            kyes: "1"
            expect: {}
          - name: two
            keys: 5
            expect: {}
          - keys: "1"
        """))
    messages = sorted(d.message for d in loaded.diagnostics)
    assert "test `one`: unknown key `kyes`" in messages
    assert any(m.startswith("test `two` `keys`: ") for m in messages)  # T703, not tests.1.keys
    assert "test #3: missing required key `name`" in messages
    assert not any("tests." in m for m in messages)


def test_bad_values_are_located_at_the_value(tmp_path: Path) -> None:
    assert located(tmp_path, """\
        tests:
          - name: one
            at: 2026-12-25T10:00
            keys: "1,x"
            agents: {dave: sleeping}
            functions:
              f: {reply: 1, error: timeout}
            hangup_at: soon
            expect: {outcome: 3, faults: -1}
        """) == [(3, 9, "T703"), (4, 11, "T703"), (5, 20, "T703"), (7, 10, "T703"),
                 (8, 16, "T703"), (9, 23, "T703"), (9, 34, "T703")]


def test_yaml_errors_keep_the_safe_readers_codes(tmp_path: Path) -> None:
    assert located(tmp_path, "tests: [\n") [0][2] == "Y101"
    assert located(tmp_path, "# nothing\n") == [(1, 1, "Y109")]
    assert located(tmp_path, "tests: []\n") == [(1, 8, "T703")]


def test_an_unreadable_file_is_a_diagnostic(tmp_path: Path) -> None:
    loaded = load_test_file(tmp_path / "missing.yaml")
    assert [d.code for d in loaded.diagnostics] == ["T700"]


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="tes:-[]{}\n #0123456789abkyxz\"'", max_size=120))
def test_random_input_never_raises(tmp_path_factory: pytest.TempPathFactory,
                                   text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "t.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_test_file(path)
    assert (loaded.model is None) == bool(loaded.diagnostics)
    assert all(d.span is not None for d in loaded.diagnostics)


@pytest.mark.parametrize("bad", [float("inf"), "99999999999999999999s", 10**30, "25h"])
def test_huge_durations_are_bad_values_not_crashes(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ms(bad)


def test_times_out_of_the_calendar_are_located_errors(tmp_path: Path) -> None:
    assert located(tmp_path, """\
        tests:
          - name: far
            flow: main
            caller: "+8613700000001"
            at: 9999-12-31T23:59+00:00
            keys: [{key: 1, at: .inf}]
            expect: {outcome: hung up}
        """) == [(5, 9, "T703"), (6, 11, "T703")]
