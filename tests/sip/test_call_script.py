"""scripts/call.py, the documented way to call your own flow: a real SIPp call with the keys
a user chose reaches the path those keys lead to, and bad keys are a usage error."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from sip_helpers import HOTLINE, ROOT, call_records, install, make_repo, start_server

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
