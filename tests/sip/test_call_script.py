"""scripts/call.py, the documented way to call your own flow: a real SIPp call with the keys
a user chose reaches the path those keys lead to, and bad keys are a usage error."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from repos import copy_examples
from sip_helpers import HOTLINE, ROOT, call_records, install, make_repo, start_server

from ccc_dsl.pipeline import build_bundle

SCRIPT = ROOT / "scripts" / "call.py"


def _call(runtime_dir: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SCRIPT), HOTLINE, "--to", f"127.0.0.1:{port}",
            "--runtime-dir", str(runtime_dir), "--gap", "1", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_the_keys_pressed_choose_the_path_and_the_record_is_printed(tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, make_repo(tmp_path).files)

    async def main() -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
        server = await start_server(runtime_dir)
        loop = asyncio.get_running_loop()
        sales = await loop.run_in_executor(None, _call, runtime_dir, server.port, "--keys", "1,1",
                                           "--hold", "5")
        silent = await loop.run_in_executor(None, _call, runtime_dir, server.port,
                                            "--hold", "1")
        await server.drain()
        return sales, silent

    sales, silent = asyncio.run(main())
    assert sales.returncode == 0, sales.stderr
    assert "pressed 1, 1, hung up" in sales.stdout
    assert "call record: voicemail sales" in sales.stdout
    assert silent.returncode == 0, silent.stderr
    assert "pressed no keys" in silent.stdout
    outcomes = [r["outcome"] for r in call_records(runtime_dir)]
    assert outcomes[0] == "voicemail sales" and outcomes[1] != "voicemail sales"


def test_keys_that_are_not_dtmf_are_a_usage_error() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), HOTLINE, "--keys", "1,x"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "keys are 0-9, * and #" in done.stderr


def test_a_flow_that_hangs_up_first_is_a_call_that_went_through(tmp_path: Path) -> None:
    """The flow's own BYE, while the script still holds the line, is answered: exit 0 with the
    record (SIPp used to abort on the "unexpected BYE" and the script said the call failed)."""
    repo = copy_examples(tmp_path / "repo")
    (repo / "flows" / "main.ivr").write_text(
        'flow main "Main" {\n  start:\n    say "Goodbye."\n    hangup\n}\n', encoding="utf-8")
    built = build_bundle(repo, "staging")
    assert built.ok, built.diagnostics
    runtime_dir = install(tmp_path, built.files)

    async def main() -> subprocess.CompletedProcess[str]:
        server = await start_server(runtime_dir)
        loop = asyncio.get_running_loop()
        done = await loop.run_in_executor(None, _call, runtime_dir, server.port, "--keys", "1",
                                          "--hold", "8")
        await server.drain()
        return done

    done = asyncio.run(main())
    assert done.returncode == 0, done.stderr
    assert "call record: hung up; path main@0 main@1" in done.stdout
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "hung up" and record["duration_ms"] < 8000
