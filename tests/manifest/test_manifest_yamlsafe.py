"""The safe YAML reader: YAML 1.2 scalars, positions, and every Y1xx rule, located."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mf_helpers import EXAMPLES
from ruamel.yaml import YAML

from ccc_dsl.diagnostics import Span
from ccc_dsl.manifest import yamlsafe
from ccc_dsl.manifest.yamlsafe import MAX_DEPTH, MAX_FILE_BYTES, core_scalar, parse_yaml


def codes(raw: bytes) -> list[tuple[str, int, int]]:
    parsed = parse_yaml("f.yaml", raw)
    return [(d.code, d.span.line, d.span.column) for d in parsed.diagnostics if d.span]


def test_yaml_12_core_schema_keeps_yaml_11_booleans_and_times_as_strings() -> None:
    parsed = parse_yaml("f.yaml", b"a: NO\nb: yes\nc: 09:00\nd: 2026-10-01\ne: 0o17\n"
                                  b"f: 1.5\ng: true\nh: ~\ni: '1'\nj: !!str 12\nk: 0x1F\n")
    assert parsed.diagnostics == []
    assert parsed.data == {"a": "NO", "b": "yes", "c": "09:00", "d": "2026-10-01", "e": 15,
                           "f": 1.5, "g": True, "h": None, "i": "1", "j": "12", "k": 31}


def test_core_scalar_edge_cases() -> None:
    assert core_scalar("-.inf") == float("-inf")
    assert core_scalar("+12") == 12
    assert core_scalar("1_000") == "1_000"
    assert core_scalar("On") == "On"


def test_positions_of_keys_and_values_are_one_based() -> None:
    parsed = parse_yaml("f.yaml", b"agents:\n  alice:\n    sip: sip:a@h\n    groups: [x, y]\n")
    assert parsed.span(("agents", "alice", "sip")) == Span("f.yaml", 3, 10, 3, 17)
    assert parsed.span(("agents", "alice", "sip"), key=True) == Span("f.yaml", 3, 5, 3, 8)
    assert parsed.span(("agents", "alice", "groups", 1)).column == 17
    # an unknown path falls back to its nearest located ancestor
    assert parsed.span(("agents", "alice", "nope")).line == 3  # the mapping under alice


def test_duplicate_keys_are_errors_at_the_second_key() -> None:
    assert codes(b"a: 1\nb: 2\na: 3\n") == [("Y102", 3, 1)]


def test_custom_and_python_tags_are_rejected() -> None:
    assert codes(b"a: !!python/object:os.system x\nb: !env HOME\n") == [
        ("Y103", 1, 4), ("Y103", 2, 4)]


def test_merge_keys_are_rejected() -> None:
    assert codes(b"base: &b {x: 1}\nother:\n  <<: *b\n") == [("Y103", 3, 3)]


def test_alias_expansion_is_capped() -> None:
    lines = ["a0: &a0 [1,2,3,4,5,6,7,8,9,10]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    result = codes("\n".join(lines).encode())
    assert [c for c, _, _ in result] == ["Y104"]


def test_small_aliases_are_fine() -> None:
    parsed = parse_yaml("f.yaml", b"a: &x [1, 2]\nb: *x\n")
    assert parsed.diagnostics == [] and parsed.data == {"a": [1, 2], "b": [1, 2]}


def test_nesting_depth_is_capped() -> None:
    deep = b"a: " + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5)
    assert [c for c, _, _ in codes(deep)] == ["Y105"]


def test_file_size_is_capped() -> None:
    assert codes(b"#" * (MAX_FILE_BYTES + 1)) == [("Y106", 1, 1)]


def test_encodings_and_binary_files() -> None:
    assert codes("a: 1\n".encode("utf-16")) == [("Y107", 1, 1)]
    assert codes(b"a: 1\nb: caf\xe9\n") == [("Y107", 2, 7)]
    assert codes(b"a: 1\n\x00\x01") == [("Y108", 2, 1)]
    assert codes("\ufeffa: 1\n".encode()) == []  # a UTF-8 byte order mark is fine


def test_empty_and_comment_only_files() -> None:
    assert codes(b"") == [("Y109", 1, 1)]
    assert codes(b"# just a comment\n\n") == [("Y109", 1, 1)]


def test_several_documents_are_rejected() -> None:
    assert codes(b"a: 1\n---\nb: 2\n") == [("Y112", 3, 1)]


def test_syntax_errors_are_located() -> None:
    assert codes(b"a:\n  b: 1\n c: 2\n") == [("Y101", 3, 2)]
    assert codes(b"a: [1, 2\n")[0][0] == "Y101"
    assert codes(b"a: *nope\n")[0][0] == "Y101"


def test_non_scalar_keys_are_rejected() -> None:
    assert codes(b"? [a, b]\n: 1\n") == [("Y111", 1, 3)]


def test_var_paths_are_recorded() -> None:
    parsed = parse_yaml("f.yaml", b"a:\n  b: x-${var.y}\n  c: [plain, '${var.z}']\n")
    assert parsed.var_paths == [("a", "b"), ("a", "c", 1)]


def test_recursive_aliases_are_rejected() -> None:
    assert codes(b"a: &x [1, *x]\n") == [("Y104", 1, 4)]
    assert codes(b"a: &x {b: *x}\n") == [("Y104", 1, 4)]


def test_pure_python_composer_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ruamel.yaml.clib, ruamel's pure composer must behave the same (only slower)."""
    raw = (EXAMPLES / "numbers.yaml").read_bytes() + b"x: !!str 12\nz: NO\nw: &a [1]\nv: *a\n"
    bad = [b"a: !foo x\n", b"a: [1\n", b"a: 1\na: 2\n", b"k: \x07\n", b"<<: {}\n"]
    fast = parse_yaml("f.yaml", raw)
    fast_bad = [codes(b) for b in bad]

    def pure() -> YAML:
        y = YAML(typ="safe", pure=True)
        y.Resolver = yamlsafe._CoreResolver
        return y

    monkeypatch.setattr(yamlsafe, "_yaml", pure)
    slow = parse_yaml("f.yaml", raw)
    assert (slow.data, slow.values, slow.keys) == (fast.data, fast.values, fast.keys)
    assert [codes(b) for b in bad] == fast_bad


@pytest.mark.parametrize("nested", ["[" * 40_000 + "]" * 40_000, "\n" + "- " * 40_000 + "1",
                                    "{a: " * 40_000 + "1" + "}" * 40_000])
def test_nesting_that_would_overflow_the_c_composer_is_y105(nested: str) -> None:
    """libyaml's composer recurses in C: 30,000 levels (60 KB) crashed the process."""
    script = ("import sys; from ccc_dsl.manifest.yamlsafe import parse_yaml; "
              "p = parse_yaml('f.yaml', sys.stdin.buffer.read()); "
              "print(sorted({d.code for d in p.diagnostics}))")
    done = subprocess.run([sys.executable, "-c", script], input=("x: " + nested).encode(),
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "['Y105']"
