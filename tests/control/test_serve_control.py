"""`ccc serve --control`: the control API of a real `ccc serve` process on the examples, read
and driven over HTTP with the token from the runtime directory; SIGTERM stops both."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from repos import copy_examples

CCC = Path(sys.executable).with_name("ccc")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_the_control_api(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_examples(repo)
    rundir = tmp_path / "rt"
    low = free_udp_port() // 2 * 2
    proc = subprocess.Popen(
        [str(CCC), "serve", str(repo), "--runtime-dir", str(rundir), "--listen",
         f"127.0.0.1:{free_udp_port()}", "--rtp-ports", f"{low}-{low + 20}",
         "--control", "127.0.0.1:0", "--available", "bob"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        url = None
        seen = []
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(r"control API on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url is not None, "".join(seen)
        token = (rundir / "control.token").read_text().strip()
        assert (rundir / "control.token").stat().st_mode & 0o777 == 0o600
        assert token not in "".join(seen)

        async def drive() -> None:
            auth = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async with http.get(f"{url}/health") as r:
                    assert r.status == 200 and await r.json() == {"status": "serving"}
                async with http.get(f"{url}/agents") as r:
                    assert r.status == 401
                async with http.get(f"{url}/agents", headers=auth) as r:
                    agents = {a["user"]: a for a in (await r.json())["agents"]}
                assert agents["bob"]["state"] == "available" and agents["bob"]["reachable"]
                async with http.put(f"{url}/agents/bob", json={"state": "break"},
                                    headers=auth) as r:
                    assert r.status == 200 and (await r.json())["state"] == "break"
                async with http.get(f"{url}/metrics", headers=auth) as r:
                    text = await r.text()
                assert 'ccc_agents{reachable="true",state="break"} 1.0' in text
                async with http.get(f"{url}/calls", headers=auth) as r:
                    assert await r.json() == {"calls": []}

        asyncio.run(drive())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            raise
    assert rc == 0


def test_a_control_token_others_can_read_stops_serve(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_examples(repo)
    rundir = tmp_path / "rt"
    rundir.mkdir()
    (rundir / "control.token").write_text("visible\n")
    (rundir / "control.token").chmod(0o644)
    done = subprocess.run(
        [str(CCC), "serve", str(repo), "--runtime-dir", str(rundir), "--listen",
         f"127.0.0.1:{free_udp_port()}", "--control", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "chmod 600" in done.stderr and "Traceback" not in done.stderr
    assert "visible" not in done.stderr
