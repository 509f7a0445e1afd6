"""`ccc serve` as a process: a real call through it, SIGTERM drain, clean startup errors."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from pathlib import Path

import pytest
from sip_helpers import (
    OPEN,
    Repo,
    SippRun,
    call_records,
    caller_keys,
    free_udp_port,
    make_repo,
    rtp_range,
    sipp,
)

CCC = [sys.executable, "-m", "ccc_dsl"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return make_repo(tmp_path_factory.mktemp("sip-repo"))


async def _start(repo: Repo, runtime_dir: Path, port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        *CCC, "serve", str(repo.path), "--runtime-dir", str(runtime_dir), "--listen",
        f"127.0.0.1:{port}", "--clock", OPEN.isoformat(), "--drain-seconds", "15",
        "--rtp-ports", "{}-{}".format(*rtp_range()),
        stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    while True:  # the server says when it listens
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, "ccc serve exited before listening"
        if b"listening on" in line:
            return proc


def test_sigterm_drains_the_call_in_progress_refuses_new_ones_and_exits_0(
        repo: Repo, tmp_path: Path) -> None:
    runtime_dir = tmp_path / "runtime"
    port = free_udp_port()

    async def main() -> tuple[SippRun, SippRun, int]:
        proc = await _start(repo, runtime_dir, port)
        try:
            keys = caller_keys(9, codec=8)  # a PCMA caller
            call = asyncio.ensure_future(sipp("caller_voicemail.xml", tmp_path,
                                              remote_port=port, keys=keys,
                                              extra=("-d", "2500")))
            await asyncio.sleep(3.0)  # the keys are pressed; the caller will leave a message
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            refused = await sipp("caller_rejected.xml", tmp_path, remote_port=port, keys=keys)
            first = await call
            code = await asyncio.wait_for(proc.wait(), 20)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        return first, refused, code

    first, refused, code = asyncio.run(main())
    assert first.rc == 0, first.stderr[-2000:]
    assert "STATUS=503" in refused.log
    assert code == 0
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "voicemail sales"
    assert record["caller"] == "+8613700000001"
    messages = list((runtime_dir / "voicemail" / "sales").glob("*.wav"))
    assert len(messages) == 1 and messages[0].stat().st_size > 44
    assert not (runtime_dir / "serve.pid").exists()


def test_a_port_in_use_is_one_line_and_exit_1(repo: Repo, tmp_path: Path) -> None:
    import subprocess

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        done = subprocess.run([*CCC, "serve", str(repo.path), "--runtime-dir",
                               str(tmp_path / "rt"), "--listen", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "can't listen on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_tampered_bundle_folder_is_refused_with_exit_1(repo: Repo, tmp_path: Path) -> None:
    import subprocess

    folder = tmp_path / "bundle"
    for rel, data in repo.files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    (folder / "main.ccb").write_bytes(b"CCB?")
    done = subprocess.run([*CCC, "serve", str(folder), "--runtime-dir", str(tmp_path / "rt")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "content differs from the manifest" in done.stderr
    assert "Traceback" not in done.stderr
