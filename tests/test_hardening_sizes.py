"""Bound size by construction: an .ivr file over MAX_FLOW_BYTES is read no further than that
and is a located P100 for validate and fmt alike."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from click.testing import CliRunner

from ccc_dsl.cli import cli
from ccc_dsl.grammar.parser import MAX_FLOW_BYTES

sys.path.insert(0, str(Path(__file__).parent / "flowtest"))
from ft_helpers import write_repo


def test_a_flow_file_over_the_limit_is_p100(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "r", 'flow t "T" {\n  s: hangup\n}\n')
    flow = repo / "flows" / "t.ivr"
    body = b'flow t "T" {\n' + b"  // padding\n" * (MAX_FLOW_BYTES // 13 + 1) + b"  s: hangup\n}\n"
    flow.write_bytes(body)
    start = time.perf_counter()
    for args in (["validate", str(repo)], ["fmt", str(flow)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert "t.ivr:1:1: error[P100]: the file is over 4 MiB" in result.output
    assert time.perf_counter() - start < 10
    assert flow.read_bytes() == body
