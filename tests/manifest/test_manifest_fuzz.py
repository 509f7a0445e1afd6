"""Fuzzing the loader with hypothesis: random YAML-ish bytes and random mutations of the
example manifests go through `load_repo`; only located diagnostics may come out."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mf_helpers import EXAMPLES, copy_example_manifests

from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.manifest.yamlsafe import parse_yaml

YAMLISH = st.lists(st.sampled_from([
    b"a", b"agents", b"numbers", b"instance", b":", b" ", b"  ", b"\n", b"- ", b"[", b"]",
    b"{", b"}", b",", b"&x ", b"*x", b"!!str ", b"!tag ", b"'", b'"', b"#", b"---\n",
    b"${var.x}", b"+8613800138000", b"\x00", b"\xff", b"\t", b"? ", b"|\n", b">-\n", b"<<: ",
    b"09:00-18:00", b"NO", b"~", b"1e3", b"\xe4\xb8\xad",
]), max_size=60).map(b"".join)

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _assert_located(diagnostics: list[object]) -> None:
    for d in diagnostics:
        span = getattr(d, "span", None)
        assert span is not None and span.line >= 1 and span.column >= 1, d


@SETTINGS
@given(st.one_of(YAMLISH, st.binary(max_size=200)))
def test_random_bytes_give_only_diagnostics(raw: bytes) -> None:
    parsed = parse_yaml("fuzz.yaml", raw)
    _assert_located(list(parsed.diagnostics))


@SETTINGS
@given(data=st.data())
def test_mutated_examples_give_only_diagnostics(data: st.DataObject) -> None:
    files = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    name = data.draw(st.sampled_from(files))
    original = (EXAMPLES / name).read_bytes()
    ops = data.draw(st.lists(st.tuples(
        st.sampled_from(["delete", "insert", "flip", "dup_line", "cut"]),
        st.integers(0, len(original)), YAMLISH), min_size=1, max_size=4))
    raw = bytearray(original)
    for op, at, chunk in ops:
        at = min(at, len(raw))
        if op == "delete":
            del raw[at : at + 5]
        elif op == "insert":
            raw[at:at] = chunk
        elif op == "flip" and at < len(raw):
            raw[at] ^= 0x20
        elif op == "dup_line":
            start = raw.rfind(b"\n", 0, at) + 1
            end = raw.find(b"\n", at)
            raw[start:start] = raw[start : end + 1 if end >= 0 else len(raw)]
        elif op == "cut":
            del raw[at:]
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_example_manifests(Path(tmp) / "repo")
        (repo / name).write_bytes(bytes(raw))
        result = load_repo(repo, data.draw(st.sampled_from([None, "staging", "production"])))
        _assert_located(list(result.diagnostics))
        shutil.rmtree(repo)


KEYS = st.sampled_from([
    "number", "type", "groups", "sip", "display_name", "mobile_forwarding", "via", "mobile",
    "weekly", "mon-fri", "timezone", "holidays", "exceptions", "date", "hours", "languages",
    "zh", "file", "tts", "url", "token", "env", "caller_id", "mode", "calling_hours",
    "outbound_numbers", "limits", "billing", "seats", "password", "flow", "x", "name",
])
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-5, 30), st.sampled_from([
    "400", "landline", "+8613800138000", "09:00-18:00", "sip:a@h", "Asia/Shanghai", "a",
    "prompts/zh/closed.wav", "${var.domain}", "${var.nope}", "2026-10-01", "fixed", "sales",
]))
TREES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)


@SETTINGS
@given(kind=st.sampled_from(["instance", "numbers", "agents", "schedules", "prompts",
                             "functions", "flow_bindings", "outbound_policies", "trunks",
                             "skill_groups", "blacklists", "bogus"]),
       body=TREES)
def test_random_resource_trees_give_only_diagnostics(kind: str, body: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_example_manifests(Path(tmp) / "repo")
        doc = {kind: body if kind == "instance" else {"fuzzed": body}}
        (repo / "fuzz.yaml").write_text(json.dumps(doc), encoding="utf-8")
        result = load_repo(repo, None)
        _assert_located(list(result.diagnostics))
