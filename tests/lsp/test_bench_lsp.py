"""bench/bench_lsp.py still runs (a tiny repo, no timing asserted): it drives `ccc lsp` over
stdio and checks every edit's diagnostics, so it is also an end-to-end test of edits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_lsp.py"


def test_lsp_benchmark_runs_on_a_small_repo(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--repo", str(tmp_path / "repo"),
                           "--resources", "300", "--edits", "4"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "edit -> diagnostics, warm: median" in done.stdout
    assert "flow: 212 lines; 4 edits" in done.stdout
