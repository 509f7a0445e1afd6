"""The Channel protocol over a live SIP call (the caller's leg, and the legs we place).

The interpreter asks; this answers with the network: prompts are played as RTP from the bundle's
audio, digits come from RFC 4733 events or SIP INFO, hold music loops until a key that means
something, a transfer places a real second call leg (UAC) and bridges the media until one side
hangs up, then returns so the flow goes on (to the survey, say). Outbound legs to numbers go
through the trunk only for a number that holds the toll-fraud guard's grant of this call.

A caller who hangs up (BYE, or no ACK for our 200) wakes whatever the call is waiting for with
`CallerHangup`; `close()` frees every port, leg and dialog of the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import secrets
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .bundle import TrunkModel
from .channel import AgentLeg, CallerHangup, Recorded, RecordRequest, TransferStatus, Utterance
from .outbound import OutboundGuard
from .sip import g711
from .sip.endpoint import Dialog, OutgoingInvite, ServerTransaction, SipEndpoint
from .sip.message import NameAddr, SipMessage, SipParseError, parse_uri
from .sip.prompts import Audio, PromptError, PromptStore, read_wav_8k, write_wav
from .sip.rtp import FRAME_MS, MediaTicker, PortPool, PortsExhausted, RtpLeg, silence
from .sip.sdp import DEFAULT_EVENT_PT, PCMA, PCMU, build_sdp, parse_sdp

log = logging.getLogger("ccc_runtime.sipchannel")

MAX_BUFFERED_DIGITS = 32
MAX_TALK_S = 4 * 3600.0
"""A bridged conversation is ended after this long (a stuck leg must not hold a call forever)."""
BYE_WAIT_S = 2.0
_SIGNAL = re.compile(r"(?im)^\s*signal\s*=\s*([0-9*#A-D])\s*$")
_BOX = re.compile(r"[^A-Za-z0-9_-]")
SILENCE_RMS = 500
"""A 20 ms frame whose RMS level (of 16-bit samples) is below this counts as silence for
`record ... silence D`; no packets at all count as silence too."""
BEEP_HZ, BEEP_MS = 1000, 250
MAX_RECORDING_BYTES = 600_000 * 16
"""Ten minutes of 8 kHz 16-bit audio: no recording is read back larger than this."""


def _tone(hz: int, ms: int) -> bytes:
    """A sine tone as 8 kHz 16-bit PCM (the beep before `record`)."""
    samples = array("h", (int(8000 * math.sin(2 * math.pi * hz * i / 8000))
                          for i in range(8 * ms)))
    return samples.tobytes()


def _loud(pcm: bytes) -> bool:
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return False
    return math.sqrt(sum(s * s for s in samples) / len(samples)) >= SILENCE_RMS


@dataclass(frozen=True, slots=True)
class Media:
    """What a call needs to open media legs: the port pool, the ticker, our address."""

    pool: PortPool
    ticker: MediaTicker
    host: str  # the address RTP sockets bind to
    advertise: str  # the address we put in SDP


class SipChannel:
    """One inbound call as a Channel."""

    def __init__(self, *, endpoint: SipEndpoint, dialog: Dialog, leg: RtpLeg, media: Media,
                 prompts: PromptStore, call_id: str, caller: str, guard: OutboundGuard,
                 trunks: dict[str, TrunkModel], voicemail_dir: Path,
                 contact_of: Callable[[str], str | None] | None = None) -> None:
        self.endpoint = endpoint
        self.dialog = dialog
        self.leg = leg
        self.media = media
        self.prompts = prompts
        self.call_id = call_id
        self.caller = caller
        self.guard = guard
        self.trunks = trunks
        self.voicemail_dir = voicemail_dir
        self.contact_of = contact_of
        """Where a registered agent without a configured address is now (the ACD's Presence)."""
        self.loop = asyncio.get_running_loop()
        self.gone: asyncio.Future[None] = self.loop.create_future()
        """Done when the caller has hung up."""
        self.state = "answered"
        self._digits: deque[str] = deque(maxlen=MAX_BUFFERED_DIGITS)
        self._waiter: asyncio.Future[str | None] | None = None
        self._want_key = False
        self._music: Sequence[Utterance] | None = None
        self._other_legs: set[RtpLeg] = set()
        self._outgoing: set[OutgoingInvite] = set()
        self._settling: set[OutgoingInvite] = set()
        """Legs CANCELled after the caller left: kept until their INVITE has ended (bounded)."""
        self._tasks: set[asyncio.Task[None]] = set()
        leg.on_digit = self._digit
        dialog.on_request = self._in_dialog

    # ---- events from the network
    def _digit(self, digit: str) -> None:
        waiter = self._waiter
        if waiter is not None and self._want_key and not waiter.done():
            waiter.set_result(digit)
        else:
            self._digits.append(digit)

    def caller_gone(self) -> None:
        """The caller hung up (BYE), or never ACKed our answer."""
        if not self.gone.done():
            self.gone.set_result(None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(CallerHangup())

    def _in_dialog(self, request: SipMessage, txn: ServerTransaction) -> None:
        method = request.method
        if method == "BYE":
            txn.respond(200)
            self.dialog.terminate()
            self.caller_gone()
        elif method == "INFO":
            kind = (request.get("content-type") or "").split(";")[0].strip().lower()
            body = request.body.decode("utf-8", "replace")
            match = _SIGNAL.search(body) if kind == "application/dtmf-relay" else None
            if kind == "application/dtmf" and body.strip()[:1] in "0123456789*#":
                self._digit(body.strip()[:1])
            elif match is not None:
                self._digit(match.group(1).upper())
            txn.respond(200)
        elif method == "INVITE":  # a re-INVITE (hold, a new address): same media, our SDP
            with contextlib.suppress(SipParseError):
                if request.body:
                    offer = parse_sdp(request.body)
                    self.leg.connect(offer.host, offer.port, self.leg.codec, self.leg.event_pt)
            txn.respond(200, headers=[("contact", self.endpoint.contact_for(txn.source[0])),
                                      ("content-type", "application/sdp")],
                        body=self._sdp(self.leg, self.leg.codec))
        elif method == "OPTIONS":
            txn.respond(200)
        else:
            txn.respond(405, headers=[("allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO")])

    def _sdp(self, leg: RtpLeg, codec: int | None) -> bytes:
        return build_sdp(self.media.advertise, leg.port, codec,
                         leg.event_pt if leg.event_pt is not None else DEFAULT_EVENT_PT,
                         secrets.randbits(31))

    # ---- waiting
    async def _wait(self, timeout_s: float | None, done: asyncio.Future[None] | None = None,
                    want_key: bool = True) -> str | None:
        """A key (when wanted), or None when `done` completes or the timeout passes;
        CallerHangup when the caller is gone."""
        if self.gone.done():
            raise CallerHangup
        if want_key and self._digits:
            return self._digits.popleft()
        if done is not None and done.done():
            return None
        waiter: asyncio.Future[str | None] = self.loop.create_future()
        self._waiter, self._want_key = waiter, want_key

        def finish(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        handle = self.loop.call_later(timeout_s, finish) if timeout_s is not None else None
        if done is not None:
            done.add_done_callback(finish)
        try:
            return await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()
            if done is not None:
                done.remove_done_callback(finish)

    async def _frames(self, items: Sequence[Utterance], codec: int) -> list[bytes]:
        frames: list[bytes] = []
        for item in items:
            if item.recording is not None:
                frames += self._recording_frames(item.recording, codec)
                continue
            try:
                frames += (await self.prompts.audio(item)).frames(codec)
            except PromptError as exc:  # a missing prompt is silence, not a dropped call
                log.warning("call %s: %s", self.call_id, exc)
                frames += silence(codec, 500)
        return frames

    # ---- Channel
    @property
    def caller_on_line(self) -> bool:
        return not self.gone.done()

    async def play(self, items: Sequence[Utterance], barge_in: bool) -> str | None:
        self.state = "prompt"
        self._music = None
        for item in items:
            frames = await self._frames([item], self.leg.codec)
            done = self.leg.play(frames)
            key = await self._wait(None, done, want_key=barge_in)
            if key is not None:
                self.leg.stop()
                return key
        if not barge_in:
            self._digits.clear()  # keys pressed during a prompt without barge-in are lost
        return None

    async def read_digit(self, timeout_ms: int) -> str | None:
        self.state = "input"
        return await self._wait(timeout_ms / 1000)

    async def hold(self, music: Sequence[Utterance], duration_ms: int,
                   keys: frozenset[str]) -> str | None:
        """Music goes on across calls of hold with the same music (the queue asks every
        second), so the caller hears it without restarting."""
        self.state = "queue"
        if self._music is None or list(self._music) != list(music):
            frames = await self._frames(music, self.leg.codec) if music else silence(
                self.leg.codec, 1000)
            self.leg.play(frames, loop=True)
            self._music = music
        end = self.loop.time() + duration_ms / 1000
        while True:
            key = await self._wait(max(0.0, end - self.loop.time()))
            if key is None or key in keys:
                return key

    async def connect_agent(self, agent: AgentLeg, timeout_ms: int) -> TransferStatus:
        address = agent.address or (self.contact_of(agent.user) if self.contact_of else None)
        if address is None:
            log.info("call %s: agent %s has no address to ring", self.call_id, agent.user)
            return TransferStatus.NO_ANSWER
        self.state = f"agent {agent.user}"
        return await self._bridge(address, None, self.caller, None, timeout_ms)

    async def transfer_number(self, number: str, timeout_ms: int) -> TransferStatus:
        grant = self.guard.active(self.call_id, number)
        if grant is None:  # never dial a number the guard has not granted to this call
            log.warning("call %s: no outbound grant for %s; not dialled", self.call_id, number)
            return TransferStatus.BUSY
        trunk = self.trunks.get(grant.trunk or "")
        if trunk is None:
            log.warning("call %s: no trunk to reach %s", self.call_id, number)
            return TransferStatus.NO_ANSWER
        self.state = f"number {number}"
        uri = f"sip:{grant.number}@{trunk.gateway}:{trunk.port}"
        codec = PCMA if trunk.codec == "PCMA" else PCMU
        return await self._bridge(uri, (trunk.gateway, trunk.port), grant.caller_id, codec,
                                  timeout_ms)

    async def transfer_sip(self, uri: str, caller_id: str | None,
                           timeout_ms: int) -> TransferStatus:
        """A leg to a SIP URI, only with the toll-fraud guard's grant for this call; the caller
        id shown is the granted one, else the caller's number."""
        grant = self.guard.active_sip(self.call_id, uri)
        if grant is None:
            log.warning("call %s: no outbound grant for %s; not dialled", self.call_id, uri[:80])
            return TransferStatus.BUSY
        self.state = f"sip {grant.uri}"
        return await self._bridge(grant.uri, None, grant.caller_id or self.caller, None,
                                  timeout_ms)

    async def _bridge(self, uri: str, dest: tuple[str, int] | None, from_user: str,
                      codec: int | None, timeout_ms: int) -> TransferStatus:
        """Place a leg to `uri`, ring it up to `timeout_ms`, bridge the media while both talk."""
        if self.gone.done():
            raise CallerHangup
        try:
            host, port = dest or (parse_uri(uri).host, parse_uri(uri).port or 5060)
            target = await self.endpoint.resolve(host, port)
            leg = await self.media.pool.open(self.media.host, self.loop, self.media.ticker)
        except (SipParseError, PortsExhausted, OSError) as exc:
            log.warning("call %s: can't place a leg to %s: %s", self.call_id, uri, exc)
            return TransferStatus.NO_ANSWER
        self._other_legs.add(leg)
        self._music = None
        self.leg.play(silence(self.leg.codec, 20))
        local = self.endpoint.local_host(target[0])
        caller_uri = f"sip:{from_user}@{local}" if from_user else f"sip:anonymous@{local}"
        out = self.endpoint.invite(uri, NameAddr("", caller_uri, {}), NameAddr("", uri, {}),
                                   self._sdp(leg, codec), dest=target)
        self._outgoing.add(out)
        try:
            status = await self._ring(out, leg, timeout_ms / 1000)
            if status is not TransferStatus.ANSWERED:
                return status
            await self._talk(out, leg)
            return TransferStatus.ANSWERED
        finally:
            self.leg.relay_to(None)
            leg.close()
            self._other_legs.discard(leg)
            if out not in self._settling:
                out.close()
            self._outgoing.discard(out)

    async def _ring(self, out: OutgoingInvite, leg: RtpLeg, timeout_s: float) -> TransferStatus:
        deadline = self.loop.time() + timeout_s
        while True:
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                out.cancel()
                await self._settle(out)
                return TransferStatus.NO_ANSWER
            answer = asyncio.ensure_future(out.next_response(remaining))
            waits: set[asyncio.Future[object]] = {answer, self.gone}  # type: ignore[arg-type]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if not answer.done():  # the caller hung up while the other side rang
                answer.cancel()
                out.cancel()
                self._settling.add(out)  # its transaction must live on for the 487's ACK
                task = self.loop.create_task(self._settle_then_close(out))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                raise CallerHangup
            response = answer.result()
            if response is None or response.status < 200:
                continue
            if response.status >= 300:
                busy = response.status in (486, 600, 603)
                return TransferStatus.BUSY if busy else TransferStatus.NO_ANSWER
            try:
                offer = parse_sdp(response.body)
            except SipParseError:
                if out.dialog is not None:
                    await out.dialog.bye(BYE_WAIT_S)
                return TransferStatus.NO_ANSWER
            chosen = offer.choose(self.leg.codec) or PCMA  # the caller's: no transcoding
            leg.connect(offer.host, offer.port, chosen, offer.event_pt)
            return TransferStatus.ANSWERED

    async def _settle_then_close(self, out: OutgoingInvite) -> None:
        try:
            await self._settle(out)
        finally:
            self._settling.discard(out)
            out.close()

    async def _settle(self, out: OutgoingInvite) -> None:
        """After a CANCEL: take the INVITE's final response (487, or a 2xx that crossed the
        CANCEL, which is then hung up), within a bounded time."""
        end = self.loop.time() + BYE_WAIT_S * 2
        while self.loop.time() < end:
            response = await out.next_response(end - self.loop.time())
            if response is None or response.status >= 300:
                return
            if response.status >= 200 and out.dialog is not None:
                await out.dialog.bye(BYE_WAIT_S)
                return

    async def _talk(self, out: OutgoingInvite, leg: RtpLeg) -> None:
        dialog = out.dialog
        assert dialog is not None
        other_gone: asyncio.Future[None] = self.loop.create_future()

        def on_request(request: SipMessage, txn: ServerTransaction) -> None:
            txn.respond(200)
            if request.method == "BYE":
                dialog.terminate()
                if not other_gone.done():
                    other_gone.set_result(None)

        dialog.on_request = on_request
        self.leg.stop()
        self.leg.relay_to(leg)
        leg.relay_to(self.leg)
        await asyncio.wait({other_gone, self.gone}, timeout=MAX_TALK_S,
                           return_when=asyncio.FIRST_COMPLETED)
        self.leg.relay_to(None)
        leg.relay_to(None)
        self._digits.clear()  # keys pressed in the conversation were for the other side
        if not other_gone.done():
            await dialog.bye(BYE_WAIT_S)

    async def record_voicemail(self, box: str, max_ms: int) -> int:
        """Record the caller into `RUNTIME_DIR/voicemail/BOX/CALL.wav` until `#`, `max_ms`
        or the caller hangs up; the length in ms."""
        self.state = f"voicemail {box}"
        pcm, _ = await self._capture(max_ms, 0, "#")
        self._save(self._box_folder(box) / f"{_BOX.sub('_', self.call_id)[:64]}.wav", pcm)
        return len(pcm) // 16

    async def record(self, request: RecordRequest) -> Recorded:
        """Record into `RUNTIME_DIR/recordings/CALL/NAME.wav` (or, kept as voicemail,
        `voicemail/BOX/CALL-NAME.wav`), after a beep when asked."""
        self.state = f"record {request.name}"
        if request.beep:
            self._music = None
            done = self.leg.play(Audio(_tone(BEEP_HZ, BEEP_MS)).frames(self.leg.codec))
            await self._wait(None, done, want_key=False)
        self._digits.clear()  # a key pressed before the recording is no terminator
        pcm, ended_by = await self._capture(request.max_ms, request.silence_ms,
                                            request.terminator)
        call, name = _BOX.sub("_", self.call_id)[:64], _BOX.sub("_", request.name)[:64]
        path = (self._box_folder(request.box) / f"{call}-{name}.wav" if request.box
                else self.voicemail_dir.parent / "recordings" / call / f"{name}.wav")
        saved = self._save(path, pcm)
        file = path.relative_to(self.voicemail_dir.parent).as_posix() if saved else None
        return Recorded(request.name, len(pcm) // 16, file, ended_by)

    async def pause(self, duration_ms: int, barge_in: bool) -> str | None:
        self.state = "pause"
        self._music = None
        self.leg.stop()
        end = self.loop.time() + duration_ms / 1000
        while True:
            key = await self._wait(max(0.0, end - self.loop.time()))
            if key is None or barge_in:
                return key  # without barge-in a key pressed during the pause is lost

    async def _capture(self, max_ms: int, silence_ms: int,
                       terminator: str | None) -> tuple[bytes, str]:
        """The caller's audio as 8 kHz PCM until `max_ms`, `silence_ms` without a loud frame
        (0: never), the terminator key, or a hang-up (which ends it, not the call's code);
        and what ended it."""
        self._music = None
        self.leg.stop()
        chunks: list[bytes] = []
        size = [0]
        limit = max_ms * 16  # bytes of 8 kHz 16-bit audio
        last_voice = [self.loop.time()]

        def keep(payload: bytes, payload_type: int) -> None:
            if size[0] < limit:
                pcm = g711.decode(payload, payload_type == PCMA)
                chunks.append(pcm)
                size[0] += len(pcm)
                if silence_ms and _loud(pcm):
                    last_voice[0] = self.loop.time()

        self.leg.on_audio = keep
        ended_by = "maxlength"
        try:
            end = self.loop.time() + max_ms / 1000
            while True:
                now = self.loop.time()
                wait = end - now
                if silence_ms:
                    quiet_end = last_voice[0] + silence_ms / 1000
                    if now >= quiet_end:
                        ended_by = "silence"
                        break
                    wait = min(wait, quiet_end - now, FRAME_MS * 5 / 1000)
                if wait <= 0 or size[0] >= limit:
                    break
                key = await self._wait(wait)
                if key is not None and key == terminator:
                    ended_by = "terminator"
                    break
        except CallerHangup:
            ended_by = "hangup"  # a recording ends when the caller hangs up: keep it
        finally:
            self.leg.on_audio = None
        return b"".join(chunks)[:limit], ended_by

    def _box_folder(self, box: str) -> Path:
        return self.voicemail_dir / (_BOX.sub("_", box)[:64] or "box")

    def _save(self, path: Path, pcm: bytes) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_wav(path, pcm)
        except OSError as exc:
            log.error("call %s: can't save the recording %s: %s", self.call_id, path.name, exc)
            return False
        return True

    def _recording_frames(self, recording: Recorded, codec: int) -> list[bytes]:
        """A recording this call made (the VM hands only those over), read back from the
        runtime dir; silence if it is gone."""
        pcm: bytes | None = None
        if recording.file is not None:
            path = self.voicemail_dir.parent / recording.file
            with contextlib.suppress(OSError):
                if path.stat().st_size <= MAX_RECORDING_BYTES + 1024:
                    pcm = read_wav_8k(path.read_bytes())
        if not pcm:
            return silence(codec, 500)
        return Audio(pcm).frames(codec)

    async def hangup(self) -> None:
        self.state = "hangup"
        if not self.gone.done():
            self.leg.stop()
            self.caller_gone()  # whatever the call waits for ends now, not after the BYE's 200
            await self.dialog.bye(BYE_WAIT_S)

    def close(self) -> None:
        """Free everything of the call: media legs, placed legs, dialogs (idempotent)."""
        self.leg.close()
        for leg in list(self._other_legs):
            leg.close()
        self._other_legs.clear()
        for out in list(self._outgoing):
            out.close()
        self._outgoing.clear()
        self.dialog.terminate()
        if not self.gone.done():
            self.gone.set_result(None)
