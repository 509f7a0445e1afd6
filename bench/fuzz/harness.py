"""Run one reader's fuzz target: coverage-guided with atheris when it is installed, else a
hypothesis fallback over random bytes (no coverage guidance, same target, same oracle).

    python bench/fuzz/fuzz_yaml.py [-max_total_time=1800] [corpus dir...]   # atheris (libFuzzer)
    python bench/fuzz/fuzz_yaml.py --hypothesis --seconds 1800              # fallback

A target returns normally for every input the reader handles as designed (a value, located
diagnostics, a documented refusal); anything else (another exception, a hang caught by
libFuzzer's -timeout, a crash) is a finding.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "runtime"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

Target = Callable[[bytes], None]


def main(target: Target, name: str) -> None:
    """Fuzz `target` (named `name` in messages) with atheris, or with the fallback."""
    if "--hypothesis" in sys.argv:
        parser = argparse.ArgumentParser(description=f"fuzz the {name} reader (no atheris)")
        parser.add_argument("--hypothesis", action="store_true")
        parser.add_argument("--seconds", type=float, default=60.0)
        parser.add_argument("--max-size", type=int, default=4096)
        args = parser.parse_args()
        _fallback(target, name, args.seconds, args.max_size)
        return
    try:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        sys.exit(f"atheris is not installed (pip install atheris); run with --hypothesis "
                 f"--seconds N for the fallback fuzzer of the {name} reader")
    target(b"")  # imports the reader, so that its code is instrumented for coverage
    atheris.instrument_all()
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


def _fallback(target: Target, name: str, seconds: float, max_size: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    deadline = time.monotonic() + seconds
    runs = 0

    @settings(max_examples=10**9, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=max_size))
    def run(data: bytes) -> None:
        nonlocal runs
        if time.monotonic() > deadline:
            raise _Done
        runs += 1
        target(data)

    try:
        run()
    except* _Done:  # the budget ran out; a real finding in the same group still propagates
        pass
    print(f"{name}: {runs} inputs in {seconds:g} s, no finding")


class _Done(Exception):
    """The time budget is spent."""
