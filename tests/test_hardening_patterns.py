"""Issue 11 item 1: collect patterns run on RE2, so a caller's digits can't make matching
backtrack; the compiler refuses what RE2 can't run, located, with a hint."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from ccc_runtime.bytecode import BytecodeError, FlowBuilder, Op
from ccc_runtime.limits import MAX_PATTERN_CHARS
from ccc_runtime.patterns import PatternError, compile_pattern, pattern_error
from click.testing import CliRunner

from ccc_dsl.cli import cli

sys.path.insert(0, str(Path(__file__).parent / "flowtest"))
from ft_helpers import write_repo

FLOW = '''\
flow t "T" {
  start:
    collect acct digits 1..40 terminator # pattern "PATTERN" prompt "hello" timeout 5s retries 1 {
      ok -> done
      nomatch -> play "bye" then hangup
      noinput -> hangup
      exhausted -> hangup
    }
  done: hangup
}
'''


def test_nested_quantifier_is_linear_in_the_digits() -> None:
    """(0+)+1 against many zeros backtracks exponentially in Python's re; RE2 doesn't."""
    start = time.perf_counter()
    assert compile_pattern("(0+)+1").fullmatch("0" * 100_000) is None
    assert compile_pattern("(0+)+1").fullmatch("0" * 30 + "1") is not None
    assert time.perf_counter() - start < 1.0


def test_simulate_with_a_catastrophic_pattern_ends_at_once(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "r", FLOW.replace("PATTERN", "(0+)+1"))
    keys = ",".join(["0"] * 34 + ["#"])
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["simulate", "t", str(repo), "--caller", "+8613700000001",
                                      "--keys", keys, "--at", "2026-11-18T10:00+08:00"])
    assert time.perf_counter() - start < 10
    assert result.exit_code == 0, result.output
    assert "bye [en]" in result.output  # nomatch: 34 zeros and no 1


@pytest.mark.parametrize(("pattern", "lacks"), [
    (r"(\\d)\\1", "backreferences"),
    ("(?=1)[0-9]+", "lookahead"),
    ("(?<!0)1", "lookbehind"),
    ("(?P<a>1)(?P=a)", "backreferences"),
])
def test_compiler_refuses_what_re2_lacks_with_a_hint(tmp_path: Path, pattern: str,
                                                     lacks: str) -> None:
    repo = write_repo(tmp_path / "r", FLOW.replace("PATTERN", pattern))
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"])
    assert result.exit_code == 1, result.output
    assert '"P211"' in result.output
    assert "RE2" in result.output and lacks in result.output
    assert '"line": 3' in result.output  # located at the pattern, on the collect line


def test_pattern_limits() -> None:
    assert pattern_error("[0-9]" * 60) is not None  # 300 characters
    assert pattern_error("1" * MAX_PATTERN_CHARS) is None
    assert pattern_error("[0-9]{1001}") is not None  # RE2's repetition limit
    problem = pattern_error("((((((((((([0-9]{1000}){1000}){1000}))))))))))")
    assert problem is not None
    with pytest.raises(PatternError):
        compile_pattern("a\x00")


def test_bytecode_refuses_a_pattern_re2_cant_run() -> None:
    """Builder and decoder share one check: a hand-made image can't carry a pattern the VM's
    matcher would refuse (Python's re accepts this backreference)."""
    with pytest.raises(BytecodeError, match="bad pattern"):
        FlowBuilder("f", "h", "v").add_node(
            Op.COLLECT, ["acct", [False, ["prompt", "p"]], 1, 2, "#", 5000, 0, r"(\d)\1", 1, 1])
