"""A `ccc serve` running on the local target keeps a call up across an apply: the call in
progress finishes on its bundle, the server takes the new one (apply signals it through
serve.pid), and the state records the new bundle."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

SIP_TESTS = Path(__file__).resolve().parents[1] / "sip"
sys.path.insert(0, str(SIP_TESTS))  # the SIP tests' helpers: a caller (SIPp) and its keys

from deploy_helpers import RUNTIME, edit  # noqa: E402
from sip_helpers import (  # noqa: E402
    OPEN,
    SippRun,
    call_records,
    caller_keys,
    free_udp_port,
    make_repo,
    rtp_range,
    sipp,
)

from ccc_dsl.deploy.state import LocalBackend  # noqa: E402

CCC = [sys.executable, "-m", "ccc_dsl"]


def _ccc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CCC, *args], cwd=repo, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)


def test_a_call_stays_up_across_an_apply(tmp_path: Path) -> None:
    repo = make_repo(tmp_path).path
    # make_repo copies examples/ whole: a deploy made there (scripts/main-job.sh applies the
    # examples) would come along, its `current` link copied as a folder.
    shutil.rmtree(repo / ".ccc", ignore_errors=True)
    first = _ccc(repo, "apply", "--auto-approve")
    assert first.returncode == 0, first.stderr
    runtime_dir = repo / RUNTIME
    old = LocalBackend(repo / ".ccc/state/staging.json").load()
    assert old is not None and old.bundle_digest is not None
    port = free_udp_port()

    async def main() -> tuple[SippRun, subprocess.CompletedProcess[str], bytes]:
        proc = await asyncio.create_subprocess_exec(
            *CCC, "serve", "--runtime-dir", str(runtime_dir), "--listen", f"127.0.0.1:{port}",
            "--clock", OPEN.isoformat(), "--drain-seconds", "15",
            "--rtp-ports", "{}-{}".format(*rtp_range()), stderr=asyncio.subprocess.PIPE)
        assert proc.stderr is not None
        seen = b""
        try:
            while b"listening on" not in seen:
                line = await asyncio.wait_for(proc.stderr.readline(), 30)
                assert line, "ccc serve exited before listening"
                seen += line
            call = asyncio.ensure_future(sipp("caller_voicemail.xml", tmp_path,
                                              remote_port=port, keys=caller_keys(9, codec=8),
                                              extra=("-d", "2500")))
            await asyncio.sleep(1.5)  # the call is in its flow now
            edit(repo / "prompts.yaml", "Sorry, that key is not valid",
                 "Sorry, that key is not one we know")
            applied = await asyncio.to_thread(_ccc, repo, "apply", "--auto-approve")
            done = await call
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 20)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            rest = await proc.stderr.read()
        return done, applied, seen + rest

    done, applied, log = asyncio.run(main())
    assert applied.returncode == 0, applied.stderr
    assert "asked ccc serve to reload" in applied.stderr
    assert done.rc == 0, done.stderr[-2000:]
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "voicemail sales"
    new = LocalBackend(repo / ".ccc/state/staging.json").load()
    assert new is not None and new.bundle_digest not in (None, old.bundle_digest)
    assert new.bundle_digest is not None
    assert f"serving bundle {new.bundle_digest[:12]}".encode() in log
