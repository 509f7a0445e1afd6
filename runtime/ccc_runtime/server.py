"""The live service: answers SIP calls with the bundle deployed to a runtime directory.

One event loop runs everything: the SIP endpoint, the media ticker, one interpreter task per
call. An INVITE is checked in this order: draining (503), the source address against the
trunks' `allowed_sources` (403; with no trunk configured only loopback may call), the called
number (Request-URI user part, normalised to E.164) bound to a flow (404), the call limit (503
with Retry-After), an SDP offer with G.711 (488), a free RTP port (503). Then 100, (180 while
an answer delay runs), 200 with our SDP, and `Runtime.run_call` on a `SipChannel`.

Reload: `current` is re-read on SIGHUP and every RELOAD_CHECK_S; new calls take the new bundle,
calls in progress finish on the one they started with. SIGTERM (or SIGINT) drains: new calls get
503, the ones in progress have up to `drain_s` to finish, then they are hung up; exit 0.

What the control API (control.py) needs is here as the `Service` protocol: `metrics`,
`health()`, `acd()`, `calls_in_progress()`, `reload()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .acd import Acd, JsonCallHistory, MemoryStore, Presence
from .bundle import Bundle, BundleError, load_bundle
from .calldata import CallData
from .clock import Clock, SystemClock
from .control import CallView, Health, ReloadError
from .functions import FunctionInvoker
from .metrics import Metrics
from .numbers import normalise
from .records import JsonLinesSink
from .rundir import RuntimeDir
from .sip import DEFAULT_RTP_PORTS
from .sip.endpoint import ServerTransaction, SipEndpoint
from .sip.message import SipParseError, parse_uri, user_of
from .sip.prompts import PromptError, PromptStore
from .sip.register import Registrations
from .sip.rtp import MediaTicker, PortPool, PortsExhausted
from .sip.sdp import PCMA, PCMU, build_sdp, parse_sdp
from .sipchannel import Media, SipChannel
from .vm import Runtime

log = logging.getLogger("ccc_runtime.server")

RELOAD_CHECK_S = 2.0
RETRY_AFTER_S = 5


class ServeError(Exception):
    """The service can't start (no bundle deployed, a bad bundle, the port in use)."""


@dataclass
class Deployed:
    """One bundle in service: its runtime (VM, ACD view, guard) and its prompt audio."""

    digest: str
    bundle: Bundle
    runtime: Runtime
    prompts: PromptStore


@dataclass
class LiveCall:
    call_id: str
    caller: str
    called: str
    flow: str
    deployed: Deployed
    channel: SipChannel
    started_at: datetime
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Server:
    """The live runtime on one runtime directory (layout: docs/runtime.md)."""

    def __init__(self, runtime_dir: Path, *, host: str = "127.0.0.1", port: int = 5060,
                 clock: Clock | None = None, max_calls: int = 100,
                 rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS, drain_s: float = 30.0,
                 advertise: str | None = None, answer_delay_ms: int = 0,
                 functions: FunctionInvoker | None = None,
                 metrics: Metrics | None = None) -> None:
        self.rundir = RuntimeDir(runtime_dir)
        self.host = host
        self.port = port
        self.clock = clock or SystemClock()
        self.max_calls = max_calls
        self.rtp_ports = rtp_ports
        self.drain_s = drain_s
        self.advertise = advertise
        self.answer_delay_ms = answer_delay_ms
        self.functions = functions
        self.store = MemoryStore()
        self.presence = Presence(self.clock)
        try:
            self.history = JsonCallHistory(runtime_dir / "history.json")
        except ValueError as exc:
            raise ServeError(str(exc)) from None
        self.sink = JsonLinesSink(runtime_dir / "records" / "trace.jsonl",
                                  runtime_dir / "records" / "calls.jsonl")
        self.deployed: Deployed | None = None
        self.calls: dict[str, LiveCall] = {}
        self.counters: dict[str, int] = {"answered": 0, "rejected": 0, "finished": 0}
        self.draining = False
        self.started_at = datetime.now().astimezone()
        self.endpoint: SipEndpoint | None = None
        self.ticker: MediaTicker | None = None
        self.pool = PortPool(*rtp_ports)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped: asyncio.Event | None = None
        self._watch: asyncio.Task[None] | None = None
        self.registrations: Registrations | None = None
        self.metrics = metrics or Metrics(acd=self.acd)
        self.metrics.rtp_ports_in_use.set_function(lambda: self.pool.in_use)

    # ---- the Service protocol (control.py)
    def health(self) -> Health:
        status = "draining" if self.draining else (
            "serving" if self.deployed is not None else "starting")
        return Health(status, self.deployed.digest if self.deployed else None,
                      len(self.calls), self.started_at)

    def acd(self) -> Acd | None:
        return self.deployed.runtime.acd if self.deployed is not None else None

    def calls_in_progress(self) -> list[CallView]:
        return [CallView(c.call_id, c.caller, c.called, c.flow, c.deployed.digest,
                         c.started_at, c.channel.state) for c in self.calls.values()]

    async def reload(self) -> str:
        """Take the bundle `current` points at for new calls (its digest); ReloadError when
        there is none or it can't be loaded: the running one goes on serving."""
        digest = self.rundir.current()
        path = self.rundir.current_path()
        if digest is None or path is None:
            raise ReloadError(f"nothing is deployed in {self.rundir.path} (no `current`)")
        if self.deployed is not None and self.deployed.digest == digest:
            return digest
        try:
            bundle = load_bundle(path)
        except BundleError as exc:
            self.metrics.reloads.labels(result="failed").inc()
            raise ReloadError(str(exc)) from None
        self.metrics.reloads.labels(result="ok").inc()
        acd = Acd(bundle.agents, self.store, self.history, self.clock,
                  bundle.config.after_call_work_ms,
                  {g: m.average_handle_seconds for g, m in bundle.config.skill_groups.items()},
                  self.presence)
        runtime = Runtime(bundle, clock=self.clock, acd=acd, functions=self.functions,
                          sink=self.sink)
        prompts = PromptStore(bundle.root, self.rundir.path / "cache" / "tts")
        self.deployed = Deployed(digest, bundle, runtime, prompts)
        log.info("serving bundle %s", digest[:12])
        if self.registrations is not None:  # started: follow the new bundle's trunks
            sync = asyncio.get_running_loop().create_task(self._register(bundle))
            self._tasks.add(sync)
            sync.add_done_callback(self._tasks.discard)
        task = asyncio.get_running_loop().create_task(self._warm(prompts, bundle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return digest

    async def _warm(self, prompts: PromptStore, bundle: Bundle) -> None:
        """Convert the bundle's files and speak its fixed texts before the first caller."""
        from .channel import Utterance

        for name, variants in bundle.config.prompts.items():
            for language, variant in variants.items():
                if variant.tts is not None and "{" in variant.tts:
                    continue  # a template: rendered per call
                with contextlib.suppress(PromptError):
                    await prompts.audio(Utterance(name, language, variant.tts, variant.file))

    # ---- life cycle
    async def start(self) -> None:
        """Load the bundle and bind the SIP port; ServeError if either can't be done."""
        try:
            await self.reload()
        except ReloadError as exc:
            raise ServeError(str(exc)) from None
        loop = asyncio.get_running_loop()
        try:
            self.endpoint = await SipEndpoint.bind(self.host, self.port, self._on_invite,
                                                   self.advertise)
        except OSError as exc:
            raise ServeError(f"can't listen on {self.host}:{self.port}: "
                             f"{exc.strerror or exc}") from None
        self.port = self.endpoint.port
        self.endpoint.on_error = self.metrics.sip_error
        self.registrations = Registrations(self.endpoint, self.clock, self.metrics)
        assert self.deployed is not None
        problems = await self.registrations.sync(self.deployed.bundle.config.trunks, os.environ)
        if problems:
            await self.registrations.stop()
            self.endpoint.close()
            if self._tasks:  # let the prompt warm-up end: on 3.11 a subprocess cancelled
                await asyncio.wait(set(self._tasks), timeout=10)  # while starting hangs exit
            raise ServeError("; ".join(problems))
        self.ticker = MediaTicker(loop)
        self._stopped = asyncio.Event()
        self._watch = loop.create_task(self._watch_current())

    async def _register(self, bundle: Bundle) -> None:
        """Registration mode: register as the bundle's trunks say (sip/register.py)."""
        assert self.registrations is not None
        for problem in await self.registrations.sync(bundle.config.trunks, os.environ):
            log.error("registration: %s", problem)

    async def _watch_current(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_CHECK_S)
            if self.deployed is not None and self.rundir.current() not in (
                    None, self.deployed.digest):
                try:
                    await self.reload()
                except ReloadError as exc:
                    log.error("reload failed, still serving %s: %s",
                              self.deployed.digest[:12], exc)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._sighup)
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)

    def _sighup(self) -> None:
        async def again() -> None:
            try:
                await self.reload()
            except ReloadError as exc:
                log.error("reload failed: %s", exc)

        task = asyncio.get_running_loop().create_task(again())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        """Begin draining (what SIGTERM does)."""
        if not self.draining:
            log.info("draining: %d call(s) in progress", len(self.calls))
        self.draining = True
        if self._stopped is not None:
            self._stopped.set()

    async def serve(self) -> None:
        """Run until stop(), then drain and close."""
        assert self._stopped is not None
        await self._stopped.wait()
        await self.drain()

    async def drain(self) -> None:
        self.draining = True
        end = time.monotonic() + self.drain_s
        while self.calls and time.monotonic() < end:
            await asyncio.sleep(0.05)
        for call in list(self.calls.values()):  # over the limit: hang up what is left
            with contextlib.suppress(Exception):
                await call.channel.hangup()
        pending = [c.task for c in self.calls.values() if c.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=5)
        await self.close()

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for call in list(self.calls.values()):
            if call.task is not None:
                call.task.cancel()
            call.channel.close()
        if self.ticker is not None:
            self.ticker.close()
        if self.registrations is not None:
            await self.registrations.stop()
        if self.endpoint is not None:
            self.endpoint.close()
        self.sink.close()

    # ---- calls
    def _on_invite(self, txn: ServerTransaction) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(txn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reject(self, txn: ServerTransaction, status: int, why: str,
                retry: bool = False) -> None:
        log.info("INVITE from %s: %d (%s)", txn.source[0], status, why)
        self.counters["rejected"] += 1
        self.metrics.call_rejected(status)
        txn.respond(status, headers=[("retry-after", str(RETRY_AFTER_S))] if retry else [])

    def _source_allowed(self, deployed: Deployed, source: str) -> bool:
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return False
        if self.registrations is not None and source in self.registrations.sources:
            return True  # a registrar we registered at routes calls to us
        trunks = deployed.bundle.config.trunks
        if not trunks:
            return address.is_loopback
        for trunk in trunks.values():
            for entry in trunk.allowed_sources:
                with contextlib.suppress(ValueError):
                    if address in ipaddress.ip_network(entry, strict=False):
                        return True
        return False

    async def _answer(self, txn: ServerTransaction) -> None:
        deployed = self.deployed
        req = txn.request
        assert self.endpoint is not None and self.ticker is not None
        if self.draining or deployed is None:
            return self._reject(txn, 503, "draining", retry=True)
        if not self._source_allowed(deployed, txn.source[0]):
            return self._reject(txn, 403, "source not allowed")
        region = deployed.bundle.config.region
        try:
            user = parse_uri(req.uri).user
        except SipParseError:
            return self._reject(txn, 400, "bad Request-URI")
        called = normalise(user, region) or user
        dialled = user
        flow = deployed.bundle.flow_for_number(called)
        if flow is None and self.registrations is not None and (
                txn.source[0] in self.registrations.sources):
            # through a registrar the Request-URI is our Contact; To keeps what was dialled
            dialled = user_of(req.get("to") or "")
            called = normalise(dialled, region) or dialled or called
            flow = deployed.bundle.flow_for_number(called)
        if flow is None:
            return self._reject(txn, 404, f"no flow for {called[:32]}")
        if len(self.calls) >= self.max_calls:
            return self._reject(txn, 503, "at the call limit", retry=True)
        try:
            offer = parse_sdp(req.body)
        except SipParseError:
            self.metrics.sip_error("bad-sdp")
            return self._reject(txn, 488, "no usable SDP offer")
        codec = offer.choose(PCMA if self._prefers_pcma(deployed) else PCMU)
        if codec is None:
            return self._reject(txn, 488, "no G.711 in the offer")
        try:
            leg = await self.pool.open(self.host, asyncio.get_running_loop(), self.ticker)
        except PortsExhausted:
            return self._reject(txn, 503, "no RTP port free", retry=True)
        if self.answer_delay_ms > 0 and not txn.final_status:
            txn.respond(180)
            try:
                await asyncio.sleep(self.answer_delay_ms / 1000)
            except asyncio.CancelledError:
                leg.close()
                raise
        if txn.final_status or self.draining:  # CANCELled (the endpoint sent 487) or stopping
            leg.close()
            return self._reject(txn, 503, "draining", retry=True) if self.draining else None
        leg.connect(offer.host, offer.port, codec, offer.event_pt)
        advertise = self.endpoint.local_host(txn.source[0])
        dialog = self.endpoint.server_dialog(txn)
        caller_text = user_of(req.get("p-asserted-identity") or "") or user_of(
            req.get("from") or "") or "anonymous"
        caller = normalise(caller_text, region) or caller_text[:64]
        call_id = uuid.uuid4().hex
        channel = SipChannel(
            endpoint=self.endpoint, dialog=dialog, leg=leg,
            media=Media(self.pool, self.ticker, self.host, advertise),
            prompts=deployed.prompts, call_id=call_id, caller=caller,
            guard=deployed.runtime.outbound, trunks=dict(deployed.bundle.config.trunks),
            voicemail_dir=self.rundir.path / "voicemail", contact_of=self._contact)
        answer = build_sdp(advertise, leg.port, codec, offer.event_pt, int(time.time()))
        txn.respond(200, headers=[("contact", self.endpoint.contact_for(txn.source[0])),
                                  ("content-type", "application/sdp")], body=answer)
        txn.acked.add_done_callback(
            lambda acked: None if acked.result() else self._never_acked(channel))
        call = LiveCall(call_id, caller, called, flow, deployed, channel,
                        self.clock.now())
        call.task = asyncio.current_task()
        self.calls[call_id] = call
        self.counters["answered"] += 1
        self.metrics.call_started()
        outcome, queue, wait = "error", None, 0
        try:
            data = CallData(dialled[:64], txn.source[0], tuple(req.headers))
            result = await deployed.runtime.run_call(channel, caller, called,
                                                     call_id=call_id, data=data)
            outcome, queue, wait = result.outcome.kind, result.queue, result.queue_wait_ms
        except Exception:  # a bug must end this call, never the service
            log.exception("call %s failed", call_id)
            with contextlib.suppress(Exception):
                await channel.hangup()
        finally:
            self.metrics.media_seconds.inc(leg.sent * 0.02)  # 20 ms per packet sent
            channel.close()
            self.calls.pop(call_id, None)
            self.counters["finished"] += 1
            self.metrics.call_ended(outcome, queue, wait)
        return None

    def _contact(self, user: str) -> str | None:
        """A registered agent's current contact (Presence, fed by a registrar)."""
        acd = self.acd()
        agent = acd.agents.get(user) if acd is not None else None
        return self.presence.contact(agent) if agent is not None else None

    def _never_acked(self, channel: SipChannel) -> None:
        """No ACK for our 200 within 64*T1: the call is over; say so with a BYE (RFC 3261
        13.3.1.4) and wake the interpreter."""
        log.info("call %s: no ACK for the 200; hanging up", channel.call_id)
        task = asyncio.get_running_loop().create_task(channel.hangup())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _prefers_pcma(deployed: Deployed) -> bool:
        trunks = deployed.bundle.config.trunks
        return not trunks or any(t.codec == "PCMA" for t in trunks.values())
