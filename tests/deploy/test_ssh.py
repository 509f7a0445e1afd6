"""The ssh target against real OpenSSH servers on 127.0.0.1 (two "hosts": two sshd ports and two
runtime directories): deploys, content-addressed uploads, host-key checking, refresh, destroy,
reload, and a host's failure that leaves the other one right."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from ccc_runtime.bundle import load_bundle
from ccc_runtime.digest import BUNDLE_FILE, MANIFEST_FILE, manifest_bytes
from ccc_runtime.rundir import RuntimeDir
from sshd import LoopbackHosts, keygen

from ccc_dsl.deploy.targets.base import HostResult
from ccc_dsl.deploy.targets.ssh import SshHost, SshTarget
from ccc_dsl.pipeline import build_bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def bundle() -> dict[str, bytes]:
    built = build_bundle(EXAMPLES, "staging")
    assert built.ok, built.diagnostics
    return built.files


def variant(files: Mapping[str, bytes], rel: str, data: bytes) -> dict[str, bytes]:
    """The bundle with one file changed, its manifest.json made again."""
    changed = {k: v for k, v in files.items() if k != MANIFEST_FILE}
    changed[rel] = data
    changed[MANIFEST_FILE] = manifest_bytes(changed)
    return changed


def digest_of(files: Mapping[str, bytes]) -> str:
    digest: str = json.loads(files[MANIFEST_FILE])["digest"]
    return digest


def make_target(hosts: LoopbackHosts, extra: list[SshHost] | None = None) -> SshTarget:
    listed = [SshHost("127.0.0.1", str(d), port=s.port)
              for s, d in zip(hosts.servers, hosts.dirs, strict=True)]
    return SshTarget("production", [*listed, *(extra or [])], known_hosts=hosts.known_hosts,
                     identity_file=hosts.client_key, connect_timeout=10, host_timeout=60)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[LoopbackHosts]:
    pair = LoopbackHosts(tmp_path)
    pair.start()
    try:
        yield pair
    finally:
        pair.stop()


def deploy(target: SshTarget, files: Mapping[str, bytes],
           log: list[tuple[str, str]] | None = None) -> list[HostResult]:
    progress = (lambda host, message: log.append((host, message))) if log is not None else None
    return asyncio.run(target.deploy(files, digest_of(files), progress))


def test_deploys_to_two_hosts_and_each_runs_the_whole_bundle(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    log: list[tuple[str, str]] = []
    target = make_target(hosts)
    results = deploy(target, bundle, log)
    digest = digest_of(bundle)
    assert [(r.host, r.digest, r.error, r.uploaded) for r in results] == [
        (label, digest, None, len(bundle)) for label in target.hosts]
    for folder in hosts.dirs:
        rundir = RuntimeDir(folder)
        assert rundir.current() == digest
        assert rundir.has(digest)
        assert load_bundle(folder / "current").flows.keys() == {
            n.removesuffix(".ccb") for n in bundle if n.endswith(".ccb")}
        assert not [p for p in rundir.bundles.iterdir() if p.name.startswith(".")]
    for label in target.hosts:
        steps = [m for h, m in log if h == label]
        assert steps[0] == "connecting"
        assert f"switched current to {digest[:12]}" in steps
        assert steps[-1] == f"done: runs {digest[:12]}"


def test_a_second_deploy_of_the_same_bundle_sends_nothing(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    target = make_target(hosts)
    deploy(target, bundle)
    before = [os.readlink(d / "current") for d in hosts.dirs]
    log: list[tuple[str, str]] = []
    again = deploy(target, bundle, log)
    assert [(r.digest, r.error, r.uploaded) for r in again] == [(digest_of(bundle), None, 0)] * 2
    assert [os.readlink(d / "current") for d in hosts.dirs] == before
    assert not any(m.startswith("switched") for _, m in log)


def test_only_what_the_host_lacks_is_uploaded_the_rest_is_linked(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    target = make_target(hosts)
    deploy(target, bundle)
    config = json.loads(bundle[BUNDLE_FILE])
    config["after_call_work_ms"] = 5000
    second = variant(bundle, BUNDLE_FILE, json.dumps(config, indent=2).encode())
    results = deploy(target, second)
    assert [(r.digest, r.error, r.uploaded) for r in results] == [
        (digest_of(second), None, 2)] * 2  # bundle.json and manifest.json
    for folder in hosts.dirs:
        new = folder / "bundles" / digest_of(second)
        old = folder / "bundles" / digest_of(bundle)
        assert (new / "main.ccb").stat().st_ino == (old / "main.ccb").stat().st_ino
        assert load_bundle(folder / "current").config.after_call_work_ms == 5000
        assert RuntimeDir(folder).has(digest_of(bundle))  # the old bundle is untouched


def test_a_changed_host_key_aborts_that_host_and_the_other_stays_right(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    target = make_target(hosts)
    deploy(target, bundle)
    hosts.servers[1].rekey()
    second = variant(bundle, "build.json", bundle["build.json"] + b"\n")
    first, changed = deploy(target, second)
    assert (first.digest, first.error, first.uploaded) == (digest_of(second), None, 2)
    assert changed.error is not None
    assert changed.error.startswith(f"HOST KEY CHANGED for 127.0.0.1:{hosts.servers[1].port}")
    assert "nothing was done on this host" in changed.error
    assert "\n" not in changed.error and changed.uploaded == 0
    assert RuntimeDir(hosts.dirs[0]).current() == digest_of(second)
    assert RuntimeDir(hosts.dirs[1]).current() == digest_of(bundle)  # untouched
    assert not (hosts.dirs[1] / "bundles" / digest_of(second)).exists()
    # refresh is refused the same way: a changed key is never read through
    statuses = asyncio.run(target.refresh())
    assert statuses[0].digest == digest_of(second) and statuses[0].error is None
    assert statuses[1].error is not None and "HOST KEY CHANGED" in statuses[1].error


def test_an_unknown_host_key_is_never_accepted(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    hosts.write_known_hosts(hosts.servers[:1])
    known_hosts_before = hosts.known_hosts.read_text()
    first, unknown = deploy(make_target(hosts), bundle)
    assert first.error is None
    assert unknown.error is not None and unknown.error.startswith("UNKNOWN HOST KEY")
    assert "SHA256:" in unknown.error  # the fingerprint to check before adding it
    assert not (hosts.dirs[1] / "current").exists()
    assert hosts.known_hosts.read_text() == known_hosts_before


def test_an_unreachable_host_fails_alone_in_one_line(
        hosts: LoopbackHosts, bundle: dict[str, bytes], tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    dead = SshHost("127.0.0.1", str(tmp_path / "dead"), port=closed_port)
    results = deploy(make_target(hosts, [dead]), bundle)
    assert [r.error for r in results[:2]] == [None, None]
    assert results[2].error == f"can't reach 127.0.0.1 port {closed_port}: Connection refused"
    assert results[2].digest is None and not results[2].known  # never read: unknown
    assert results[0].known and results[1].known


def test_old_bundles_are_pruned_on_each_host(hosts: LoopbackHosts,
                                             bundle: dict[str, bytes]) -> None:
    target = make_target(hosts)
    target.keep_bundles = 1
    versions = [variant(bundle, "bundle.json", bundle["bundle.json"] + b" " * i)
                for i in range(4)]
    for i, files in enumerate(versions):
        results = deploy(target, files)
        assert [r.error for r in results] == [None, None]
        for folder in hosts.dirs:  # SFTP sees whole seconds: one deploy per second, as it were
            os.utime(RuntimeDir(folder).bundle_path(digest_of(files)), (1000 + i, 1000 + i))
    digests = [digest_of(files) for files in versions]
    # current, the one it replaced, and keep_bundles (1) more; the oldest is gone
    assert results[0].pruned == (digests[0],)
    for folder in hosts.dirs:
        assert {p.name for p in RuntimeDir(folder).bundles.iterdir()} == set(digests[1:])
        assert RuntimeDir(folder).current() == digests[-1]


def test_a_missing_known_hosts_file_is_an_error_not_a_pass(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    hosts.known_hosts.unlink()
    results = deploy(make_target(hosts), bundle)
    assert all(r.error is not None and "known_hosts file" in r.error for r in results)
    assert not any((d / "current").exists() for d in hosts.dirs)


def test_refresh_reads_what_each_host_runs_and_sees_a_hand_edit(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    target = make_target(hosts)
    nothing = asyncio.run(target.refresh())
    assert [(s.digest, dict(s.files), s.error) for s in nothing] == [(None, {}, None)] * 2
    deploy(target, bundle)
    edited = hosts.dirs[1] / "bundles" / digest_of(bundle) / BUNDLE_FILE
    edited.write_bytes(edited.read_bytes().replace(b'"Asia/Shanghai"', b'"Asia/Tokyo"'))
    clean, hand_edited = asyncio.run(target.refresh())
    assert clean.digest == hand_edited.digest == digest_of(bundle)
    assert set(clean.files) == {"bundle.json", "build.json", "manifest.json"}
    assert clean.files[BUNDLE_FILE] == bundle[BUNDLE_FILE]
    assert hand_edited.files[BUNDLE_FILE] != bundle[BUNDLE_FILE]
    assert json.loads(hand_edited.files[BUNDLE_FILE])["timezone"] == "Asia/Tokyo"


def test_a_damaged_copy_on_the_host_is_replaced_whole(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    target = make_target(hosts)
    deploy(target, bundle)
    folder = hosts.dirs[0] / "bundles" / digest_of(bundle)
    (folder / "main.ccb").unlink()
    leftover = hosts.dirs[0] / "bundles" / f".ccc-staging.{digest_of(bundle)}.dead"
    leftover.mkdir()
    first, second = deploy(target, bundle)
    assert (first.error, first.uploaded) == (None, len(bundle))
    assert (second.error, second.uploaded) == (None, 0)
    assert RuntimeDir(hosts.dirs[0]).has(digest_of(bundle))
    assert not leftover.exists()


def test_destroy_removes_current_and_keeps_the_bundles(
        hosts: LoopbackHosts, bundle: dict[str, bytes]) -> None:
    target = make_target(hosts)
    deploy(target, bundle)
    results = asyncio.run(target.destroy())
    assert [(r.digest, r.error) for r in results] == [(None, None)] * 2
    for folder in hosts.dirs:
        assert RuntimeDir(folder).current() is None
        assert RuntimeDir(folder).has(digest_of(bundle))
    again = deploy(target, bundle)
    assert [(r.uploaded, r.error) for r in again] == [(0, None)] * 2


HUP_CATCHER = """
import signal, sys, time
from pathlib import Path
def hup(*_):
    Path(sys.argv[1]).write_text("reloaded")
signal.signal(signal.SIGHUP, hup)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_running_serve_is_asked_to_reload(hosts: LoopbackHosts, bundle: dict[str, bytes],
                                            tmp_path: Path) -> None:
    flag = tmp_path / "reloaded"
    serve = subprocess.Popen([sys.executable, "-c", HUP_CATCHER, str(flag), "ccc-serve"],
                             stdout=subprocess.PIPE)
    other = subprocess.Popen(["sleep", "60"])  # a stale serve.pid: its pid is someone else's
    try:
        assert serve.stdout is not None and serve.stdout.readline() == b"ready\n"
        for folder, pid in zip(hosts.dirs, (serve.pid, other.pid), strict=True):
            folder.mkdir(parents=True)
            (folder / "serve.pid").write_text(f"{pid}\n")
        log: list[tuple[str, str]] = []
        results = deploy(make_target(hosts), bundle, log)
        assert [r.error for r in results] == [None, None]
        deadline = time.monotonic() + 10
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.read_text() == "reloaded"
        first, second = make_target(hosts).hosts
        assert (first, f"asked ccc serve (pid {serve.pid}) to reload") in log
        assert (second, f"pid {other.pid} in serve.pid is not a running ccc serve: not "
                "signalled") in log
        assert other.poll() is None  # not hung up on
    finally:
        for process in (serve, other):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)


def test_a_key_the_host_refuses_and_a_missing_key_file_are_said_plainly(
        hosts: LoopbackHosts, bundle: dict[str, bytes], tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    listed = [SshHost("127.0.0.1", str(d), port=s.port)
              for s, d in zip(hosts.servers, hosts.dirs, strict=True)]
    refused = asyncio.run(SshTarget("p", listed, known_hosts=hosts.known_hosts,
                                    identity_file=stranger).deploy(bundle, digest_of(bundle)))
    assert [r.error for r in refused] == [
        f"login refused for user {getpass.getuser()} with {stranger} (is the public key in "
        "the host's authorized_keys?)"] * 2
    missing = tmp_path / "no-such-key"
    gone = asyncio.run(SshTarget("p", listed[:1], known_hosts=hosts.known_hosts,
                                 identity_file=missing).deploy(bundle, digest_of(bundle)))
    assert gone[0].error == f"can't use identity file {missing}: No such file or directory"
    assert not any((d / "current").exists() for d in hosts.dirs)


def test_hosts_beyond_the_parallel_limit_wait_their_turn(
        hosts: LoopbackHosts, bundle: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ccc_dsl.deploy.targets.ssh.HOSTS_AT_ONCE", 1)
    log: list[tuple[str, str]] = []
    target = make_target(hosts)
    results = deploy(target, bundle, log)
    assert [r.error for r in results] == [None, None]
    first, second = target.hosts
    done_first = log.index((first, f"done: runs {digest_of(bundle)[:12]}"))
    assert log.index((second, "connecting")) > done_first
