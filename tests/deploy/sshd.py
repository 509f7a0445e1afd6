"""A real OpenSSH server on 127.0.0.1 for the ssh target's tests (Debian `openssh-server`).

Each server has its own folder with its own host key, an sshd_config that lets in only the
current user with one client key (no passwords, PAM or DNS), and runs as `sshd -D -e` on a free
port, stopped by its pid. `rekey()` restarts it on the same port with a new host key: what a
re-installed host, or a man in the middle, looks like to a client.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 10.0


def keygen(path: Path) -> Path:
    """A new ed25519 key pair at `path` (and `path`.pub), without a passphrase."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ccc-test",
                    "-f", str(path)], check=True, timeout=30, stdin=subprocess.DEVNULL)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SshServer:
    """One sshd on 127.0.0.1; `start()` it, `stop()` it (by pid), `rekey()` to change its key."""

    folder: Path
    client_public_key: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> Path:
        return self.folder / "ssh_host_ed25519_key"

    @property
    def log(self) -> Path:
        return self.folder / "sshd.log"

    def known_hosts_line(self) -> str:
        kind, blob = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def _config(self) -> Path:
        authorized = self.folder / "authorized_keys"
        authorized.write_text(self.client_public_key.read_text())
        config = self.folder / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "UseDNS no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {getpass.getuser()}",
            "Subsystem sftp internal-sftp",
            "MaxStartups 50",
            "LogLevel INFO",
            "",
        ]))
        return config

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            keygen(self.host_key)
        if os.geteuid() == 0:  # sshd's privilege separation needs its empty folder
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = self.port or _free_port()
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(self._config())],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            if self._wait_listening():
                return
            self.stop()
            self.port = 0
        raise RuntimeError(f"sshd did not start; its log:\n{self.log.read_text()[-2000:]}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1) as probe:
                if probe.recv(4).startswith(b"SSH-"):
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def rekey(self) -> None:
        """Restart on the same port with a new host key."""
        self.stop()
        keygen(self.host_key)
        self.start()


class LoopbackHosts:
    """Two sshd servers ("hosts"), a client key they both accept, a runtime directory for
    each, and a known_hosts file with both host keys. `start()`, then `stop()` (by pid)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.client_key = keygen(folder / "client_key")
        self.servers = [SshServer(folder / f"sshd{i}", self.client_key.with_suffix(".pub"))
                        for i in (1, 2)]
        self.dirs = [folder / f"runtime{i}" for i in (1, 2)]
        self.known_hosts = folder / "known_hosts"

    def start(self) -> None:
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        self.write_known_hosts()

    def write_known_hosts(self, servers: list[SshServer] | None = None) -> None:
        chosen = self.servers if servers is None else servers
        self.known_hosts.write_text("".join(s.known_hosts_line() for s in chosen))

    def labels(self) -> list[str]:
        return [f"127.0.0.1:{s.port}" for s in self.servers]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def deploy_env_to(root: Path, env: str, hosts: LoopbackHosts) -> None:
    """Point environment `env` of the config repo at `root` to the loopback hosts (its
    `target:` in ccc.yaml, rewritten with comments kept)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    config = yaml.load(root / "ccc.yaml")
    config["environments"][env]["target"] = {
        "type": "ssh",
        "hosts": [{"host": "127.0.0.1", "port": s.port, "path": str(d)}
                  for s, d in zip(hosts.servers, hosts.dirs, strict=True)],
        "identity_file": str(hosts.client_key),
        "known_hosts": str(hosts.known_hosts),
    }
    yaml.dump(config, root / "ccc.yaml")
