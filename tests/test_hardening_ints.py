"""Issue 11 item 5: an integer literal too long for Python's int() (over 4,300 digits) is the
same located diagnostic as any number out of range, wherever the flow language takes one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ccc_dsl.cli import cli

sys.path.insert(0, str(Path(__file__).parent / "flowtest"))
from ft_helpers import write_repo

BIG = "9" * 4301


def flow(set_value: str = "1", digits: str = "1..12", timeout: str = "5s",
         retries: str = "2") -> str:
    return f'''\
flow t "T" {{
  start:
    set v = {set_value}
    collect acct digits {digits} terminator # prompt "hello" timeout {timeout} retries {retries} {{
      ok -> done
      nomatch -> hangup
      noinput -> hangup
      exhausted -> hangup
    }}
  done: hangup
}}
'''


@pytest.mark.parametrize(("where", "code"), [
    ({"set_value": BIG}, "P214"),
    ({"set_value": "-" + BIG}, "P214"),
    ({"timeout": BIG + "s"}, "P204"),
    ({"timeout": BIG + "ms"}, "P204"),
    ({"retries": BIG}, "P206"),
    ({"digits": "1.." + BIG}, "P206"),
    ({"digits": BIG}, "P206"),
])
def test_a_4301_digit_integer_is_a_located_diagnostic(tmp_path: Path, where: dict[str, str],
                                                      code: str) -> None:
    repo = write_repo(tmp_path / "r", flow(**where))
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"])
    assert result.exit_code == 1, result.output
    found = [d for d in json.loads(result.output)["diagnostics"] if d["code"] == code]
    assert found, result.output
    assert found[0]["span"]["file"].endswith("t.ivr")
    assert found[0]["span"]["line"] in (3, 4)
    assert " characters) " in found[0]["message"]
    assert BIG not in result.output  # the message shows the number by its ends


def test_leading_zeros_still_count_as_their_value(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "r", flow(retries="0" * 5000 + "2", timeout="0" * 5000 + "5s"))
    result = CliRunner().invoke(cli, ["validate", str(repo)])
    assert result.exit_code == 0, result.output
