"""`ccc serve`: the live runtime, answering SIP calls with a deployed bundle (docs/runtime.md).

`ccc serve --runtime-dir DIR` serves what `ccc apply` deployed there. `ccc serve PATH` (PATH
defaults to `.`) resolves the environment as `ccc plan`/`ccc apply` do (`--env`, else
`default_env`): when it deploys to this machine, serve what `ccc apply` put in its runtime
directory (never the unreviewed working tree: `ccc apply` changes it); otherwise, or with
`--runtime-dir`, compile the repo (or take the bundle folder PATH) into a scratch runtime
directory, for a quick try. Loopback by default: a public address only with `--listen`.
Startup problems (a bad bundle, the port in use) are one line and exit 1, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from ccc_runtime.digest import MANIFEST_FILE
from ccc_runtime.sip import DEFAULT_RTP_PORTS

from ccc_dsl.commands.common import (
    EXIT_INVALID,
    emit_diagnostics,
    env_option,
    epilog,
    repo_path,
)
from ccc_dsl.deploy.targets.base import SERVE_PID_FILE
from ccc_dsl.util import did_you_mean

if TYPE_CHECKING:  # the runtime (aiohttp, the SIP stack) is imported when serve runs
    from ccc_runtime.clock import Clock
    from ccc_runtime.control import ControlServer
    from ccc_runtime.server import Server

DEFAULT_LISTEN = "127.0.0.1:5060"
EXIT_USAGE = 2


class _JsonLogs(logging.Formatter):
    """One JSON object per log line (time, level, logger, message)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created).astimezone().isoformat(),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False)


def _hostport(text: str, option: str = "--listen") -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, e.g. {DEFAULT_LISTEN}",
                                 param_hint=option)
    if not 0 <= int(port) < 65536:
        raise click.BadParameter(f"port {int(port)} is out of range (0-65535)",
                                 param_hint=option)
    return host.strip("[]") or "127.0.0.1", int(port)


def _port_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    if not (sep and low.isdigit() and high.isdigit() and 1024 <= int(low) < int(high) < 65536):
        raise click.BadParameter("expected LOW-HIGH, e.g. 40000-41000", param_hint="--rtp-ports")
    return int(low), int(high)


def _applied_dir(root: Path, env: str | None) -> Path | None:
    """The runtime directory `ccc apply` deploys the environment to, when it is on this
    machine (the same resolution as plan/apply); None when it deploys elsewhere or nowhere.
    Exits 1 when the manifests are wrong or nothing was applied there yet."""
    from ccc_runtime.rundir import RuntimeDir

    from ccc_dsl.deploy.targets import local_runtime_dir
    from ccc_dsl.manifest.loader import load_repo

    loaded = load_repo(root, env)
    if loaded.model is None:
        emit_diagnostics(loaded.diagnostics, "text")
        raise SystemExit(EXIT_INVALID)
    model = loaded.model
    target = local_runtime_dir(model.environment.target if model.environment else None, root)
    if target is None:
        return None
    name = model.env or "default"
    if RuntimeDir(target).current() is None:
        click.echo(f"ccc serve: nothing is deployed to environment `{name}` ({target}) yet: "
                   f"run `ccc apply {root} --env {name}` first, or pass --runtime-dir DIR to "
                   "serve the working tree from a scratch directory", err=True)
        raise SystemExit(EXIT_INVALID)
    click.echo(f"ccc serve: serving what `ccc apply` deployed to environment `{name}` "
               f"({target}); `ccc apply` changes it", err=True)
    return target


def _deploy_path(path: Path, env: str | None, runtime_dir: Path | None) -> Path:
    """The runtime directory to serve for PATH: the environment's applied local target, or
    (with --runtime-dir, or no local target) a scratch one the repo's (or the bundle
    folder's) bundle is installed into. Exits 1 with diagnostics when it can't be built."""
    from ccc_runtime.bundle import BundleError, load_bundle
    from ccc_runtime.rundir import RuntimeDir

    if (path / MANIFEST_FILE).is_file():
        try:
            load_bundle(path)
        except BundleError as exc:
            click.echo(f"ccc serve: {exc}", err=True)
            raise SystemExit(EXIT_INVALID) from None
        files = {str(p.relative_to(path)): p.read_bytes()
                 for p in sorted(path.rglob("*")) if p.is_file()}
        target = runtime_dir or Path(".ccc") / "runtime" / "bundle"
    else:
        from ccc_dsl.pipeline import build_bundle, find_repo_root  # the compiler: only here

        if find_repo_root(path) is None:
            click.echo(f"ccc serve: {path} is neither a config repo (no ccc.yaml) nor a bundle "
                       "folder (no manifest.json)", err=True)
            raise SystemExit(EXIT_INVALID)
        root = repo_path(path)  # spelt as `ccc validate` does, so diagnostics read the same
        applied = _applied_dir(root, env) if runtime_dir is None else None
        if applied is not None:
            return applied
        built = build_bundle(root, env)
        if not built.ok:
            emit_diagnostics(built.diagnostics, "text")
            click.echo("ccc serve: the config repo has errors; nothing served", err=True)
            raise SystemExit(EXIT_INVALID)
        files = built.files
        analysis = built.build.analysis
        name = analysis.program.model.env if analysis and analysis.program.model else None
        target = runtime_dir or root / ".ccc" / "runtime" / (name or "default")
    rundir = RuntimeDir(target)
    try:
        rundir.activate(rundir.install(files))
    except (OSError, ValueError, BundleError) as exc:
        click.echo(f"ccc serve: can't install the bundle into {target}: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    return target


def _servable(path: Path) -> bool:
    """A bundle folder, or inside a config repo."""
    from ccc_dsl.pipeline import find_repo_root

    return (path / MANIFEST_FILE).is_file() or find_repo_root(path) is not None


def _check_agents(runtime_dir: Path, available: tuple[str, ...]) -> None:
    """Exit 1 on an `--available` user the deployed bundle has no agent for (before anything
    starts: a typo must not leave an agent silently unavailable)."""
    from ccc_runtime.bundle import BundleError, load_bundle
    from ccc_runtime.rundir import RuntimeDir

    folder = RuntimeDir(runtime_dir).current_path()
    if not available or folder is None:
        return  # nothing to check, or nothing deployed: Server says so
    try:
        agents = {agent.user for agent in load_bundle(folder).agents}
    except BundleError:
        return  # Server reports the broken bundle
    for user in available:
        if user not in agents:
            hint = did_you_mean(user, agents)
            click.echo(f"ccc serve: --available {user}: no such agent in the bundle"
                       + (f" ({hint})" if hint else ""), err=True)
            raise SystemExit(EXIT_INVALID)


async def _serve(server: Server, available: tuple[str, ...], pid_file: Path,
                 control: tuple[str, int] | None) -> None:
    from ccc_runtime.control import ControlError, ControlServer, load_token
    from ccc_runtime.server import ServeError

    api: ControlServer | None = None
    if control is not None:  # first: a token or port problem stops us before any call
        try:
            api = ControlServer(server, load_token(server.rundir.path), *control)
            await api.start()
        except (ControlError, OSError) as exc:
            raise ServeError(f"control API on {control[0]}:{control[1]}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        await _run(server, available, pid_file, api)
    finally:
        if api is not None:
            await api.stop()


async def _run(server: Server, available: tuple[str, ...], pid_file: Path,
               api: ControlServer | None) -> None:
    from ccc_runtime.acd import AgentState
    from ccc_runtime.control import TOKEN_FILE

    await server.start()
    acd = server.acd()
    for user in available:  # each is an agent: _check_agents
        if acd is not None and user in acd.agents:
            acd.set_state(user, AgentState.AVAILABLE)
    server.install_signal_handlers()
    pid_file.write_text(f"{os.getpid()}\n")
    digest = server.deployed.digest[:12] if server.deployed else "-"
    click.echo(f"ccc serve: listening on udp {server.host}:{server.port}, bundle {digest}, "
               f"runtime dir {server.rundir.path} (SIGHUP reloads, SIGTERM drains)", err=True)
    if api is not None:
        click.echo(f"ccc serve: control API on http://{api.host}:{api.port} (bearer token in "
                   f"{server.rundir.path / TOKEN_FILE})", err=True)
    try:
        await server.serve()
    finally:
        pid_file.unlink(missing_ok=True)


@click.command("serve", epilog=epilog(
    "ccc serve examples --env staging --listen 127.0.0.1:5060 --control 127.0.0.1:8089",
    "stopped by SIGTERM or SIGINT, calls drained",
    "can't start: no bundle, a bad address or port, a missing secret variable"))
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@env_option
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT",
              help="UDP address for SIP. Loopback by default; give a public address to take "
                   "calls from the network.")
@click.option("--runtime-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Runtime directory to serve (and, with PATH, a scratch one to compile the "
                   "repo into). Default with a repo: the environment's local target, served "
                   "as `ccc apply` deployed it.")
@click.option("--max-calls", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Calls at once; more get 503 with Retry-After.")
@click.option("--rtp-ports", default=f"{DEFAULT_RTP_PORTS[0]}-{DEFAULT_RTP_PORTS[1]}",
              show_default=True, metavar="LOW-HIGH", help="UDP ports for media.")
@click.option("--advertise", metavar="ADDRESS",
              help="The address peers should send to (Contact, SDP), when it differs from the "
                   "listening one (e.g. behind NAT, or listening on 0.0.0.0).")
@click.option("--drain-seconds", type=click.FloatRange(0, 3600), default=30.0,
              show_default=True, help="On SIGTERM, how long calls in progress may go on.")
@click.option("--control", metavar="HOST:PORT",
              help="Serve the control and health API (HTTP) here, e.g. 127.0.0.1:8089; "
                   "requests need the bearer token in RUNTIME_DIR/control.token.")
@click.option("--available", multiple=True, metavar="USER",
              help="Agents to start as available (until the control API sets states).")
@click.option("--clock", "clock_at", metavar="ISO-TIME", hidden=True,
              help="Run the calls' clock from this instant (tests and demos).")
@click.option("--answer-delay-ms", type=click.IntRange(0, 60_000), default=0, hidden=True)
def serve(path: Path | None, env: str | None, listen: str, runtime_dir: Path | None,
          max_calls: int, rtp_ports: str, advertise: str | None, drain_seconds: float,
          control: str | None, available: tuple[str, ...], clock_at: str | None,
          answer_delay_ms: int) -> None:
    """Answer SIP calls with the deployed flows.

    \b
    Examples:
      ccc serve examples                      serve what `ccc apply` deployed (default_env)
      ccc serve examples --runtime-dir /tmp/rt   compile the working tree into a scratch dir
      ccc serve --runtime-dir /srv/ccc        serve what `ccc apply` deployed there
      ccc serve examples --listen 0.0.0.0:5060 --advertise 203.0.113.5
      ccc serve examples --control 127.0.0.1:8089   with the control API
    """
    import asyncio

    from ccc_runtime.clock import StartedClock
    from ccc_runtime.server import ServeError, Server

    host, port = _hostport(listen)
    control_at = _hostport(control, "--control") if control is not None else None
    low_high = _port_range(rtp_ports)
    clock: Clock | None = None
    if clock_at is not None:
        try:
            clock = StartedClock(datetime.fromisoformat(clock_at))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--clock") from None
    if path is None and runtime_dir is None:
        path = Path(".")
        if not _servable(path):
            click.echo("ccc serve: no config repo here (no ccc.yaml in . or above): give "
                       "PATH, or --runtime-dir DIR", err=True)
            raise SystemExit(EXIT_USAGE)
    if path is not None:
        runtime_dir = _deploy_path(path, env, runtime_dir)
    assert runtime_dir is not None
    _check_agents(runtime_dir, available)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLogs())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    try:
        server = Server(runtime_dir, host=host, port=port, clock=clock, max_calls=max_calls,
                        rtp_ports=low_high, drain_s=drain_seconds, advertise=advertise,
                        answer_delay_ms=answer_delay_ms)
        asyncio.run(_serve(server, available, runtime_dir / SERVE_PID_FILE, control_at))
    except ServeError as exc:
        click.echo(f"ccc serve: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    click.echo("ccc serve: stopped", err=True)


COMMANDS: list[click.Command] = [serve]
