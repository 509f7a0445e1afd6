"""A real Kamailio on loopback as the registrar: a minimal config written per test (registrar
and usrloc in memory, digest auth against one fixed credential with `pv_auth_check`, calls to
a registered AOR relayed to its contact), run in the foreground and stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
USER = "ivr"
PASSWORD = "reg-secret"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = """#!KAMAILIO
debug=1
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", {min_expires})
modparam("registrar", "max_expires", 3600)
modparam("auth", "secret", "ccc-test-nonce-secret")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_auth_check("$td", "{password}", "0", "1")) {{
            auth_challenge("$td", "1");
            exit;
        }}
        consume_credentials();
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("CANCEL|ACK") && t_check_trans()) {{ t_relay(); exit; }}
    if (!lookup("location")) {{
        if (is_method("ACK")) {{ exit; }}
        sl_send_reply("404", "Not Found");
        exit;
    }}
    t_relay();
}}
"""


@dataclass
class Kamailio:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def _answers(port: int) -> bool:
    """Whether something on the port answers a SIP OPTIONS (any response)."""
    request = (f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKprobe{0}\r\n"
               "From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:probe@127.0.0.1>\r\n"
               "Call-ID: probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n").encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.3)
        probe = request.replace(b"127.0.0.1:9", f"127.0.0.1:{s.getsockname()[1]}".encode())
        s.sendto(probe, ("127.0.0.1", port))
        try:
            return s.recv(4096).startswith(b"SIP/2.0")
        except OSError:
            return False


def start_kamailio(tmp: Path, min_expires: int = 10) -> Kamailio:
    port = free_udp_port()
    cfg = tmp / "kamailio.cfg"
    cfg.write_text(CONFIG.format(port=port, modules=MODULES, min_expires=min_expires,
                                 password=PASSWORD), encoding="ascii")
    log = tmp / "kamailio.log"
    rundir = tmp / "kamailio-run"
    rundir.mkdir(exist_ok=True)
    proc = subprocess.Popen(["kamailio", "-DD", "-E", "-f", str(cfg), "-Y", str(rundir),
                             "-m", "32", "-M", "4"],
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"),
                            start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kamailio exited: {log.read_text()[-2000:]}")
        if _answers(port):
            return Kamailio(port, proc, log)
        time.sleep(0.1)
    stop_kamailio(Kamailio(port, proc, log))
    raise RuntimeError(f"kamailio didn't answer: {log.read_text()[-2000:]}")


def stop_kamailio(kam: Kamailio) -> None:
    """SIGTERM to the process group kamailio leads (it forks its workers), SIGKILL if slow."""
    if kam.proc.poll() is None:
        os.killpg(kam.proc.pid, signal.SIGTERM)
        try:
            kam.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(kam.proc.pid, signal.SIGKILL)
            kam.proc.wait(timeout=5)
