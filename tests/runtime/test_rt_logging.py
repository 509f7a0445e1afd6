"""The runtime logs as a library does: nothing on the terminal unless the program (ccc serve)
configures logging, so `ccc test` and `ccc simulate` don't print warnings a test expects."""

from __future__ import annotations

import subprocess
import sys

WARN = ("import logging, ccc_runtime.outbound\n"
        "{setup}\n"
        "logging.getLogger('ccc_runtime.outbound').warning('outbound call to +1 refused')\n")


def _stderr(setup: str) -> str:
    done = subprocess.run([sys.executable, "-c", WARN.format(setup=setup)], capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stderr


def test_a_runtime_warning_prints_nothing_when_logging_is_not_configured() -> None:
    assert _stderr("") == ""


def test_a_program_that_configures_logging_still_gets_the_warning() -> None:
    assert "outbound call to +1 refused" in _stderr("logging.basicConfig()")
