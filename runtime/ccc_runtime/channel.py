"""The Channel protocol: what the interpreter asks of a phone call.

Two implementations: the simulated channel (`simchannel.py`, for tests and `ccc simulate`) and,
later, SIP. Methods are async because a live call waits on the network; the simulated channel
never really suspends, so a simulated call runs at interpreter speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Utterance:
    """One thing to play: a recorded file, or text to speak (already rendered)."""

    prompt: str | None  # the prompt resource's name; None for inline text-to-speech
    language: str
    text: str | None = None  # text-to-speech text
    file: str | None = None  # audio file, relative to the bundle
    recording: Recorded | None = None
    """A recording made earlier in this call (`play recording msg`), played from where the
    channel stored it."""
    ms: int | None = None
    """How long it plays, when known (ccc_runtime.durations): the simulated caller listens
    this long."""
    kind: str = "prompt"
    """`prompt`; `music` (hold music, in the list of what the caller heard) or `pause`
    (silence of `ms`), which the interpreter lists but never sends to `play`."""

    def describe(self) -> str:
        """A short, readable form for traces: `prompt main-greeting [zh]` or `say "..."`."""
        if self.kind == "pause":
            ms = self.ms or 0
            return f"pause {ms // 1000}s" if ms % 1000 == 0 else f"pause {ms}ms"
        if self.kind == "music":
            return f"music {self.prompt or 'say'} [{self.language}]"
        if self.recording is not None:
            return f"recording {self.recording.name} ({self.recording.length_ms} ms)"
        if self.prompt is not None:
            return f"{self.prompt} [{self.language}]"
        return f'say "{self.text}"'


@dataclass(frozen=True, slots=True)
class RecordRequest:
    """What a `record` statement asks for: the recording ends at `max_ms`, after `silence_ms` of
    silence (0: never on silence), at the `terminator` key, or when the caller hangs up."""

    name: str  # the flow's variable; names the file
    max_ms: int
    silence_ms: int
    beep: bool
    terminator: str | None
    box: str | None  # a voicemail box to keep it in, else the call's recordings


@dataclass(frozen=True, slots=True)
class Recorded:
    """A finished recording. `file` is where the WAV is, relative to the runtime directory
    (None in the simulator, whose recordings are fake); `ended_by` is `maxlength`, `silence`,
    `terminator` or `hangup`."""

    name: str
    length_ms: int
    file: str | None
    ended_by: str


class TransferStatus(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"


@dataclass(frozen=True, slots=True)
class AgentLeg:
    """Where to ring an agent: their SIP address (None: the channel decides, e.g. a registrar)."""

    user: str
    address: str | None


class CallerHangup(Exception):
    """The caller hung up; any channel method may raise it."""


class Channel(Protocol):
    @property
    def caller_on_line(self) -> bool:
        """False once the caller has hung up (the interpreter then plays nothing more and
        sends no hang-up of its own)."""
        ...

    async def play(self, items: Sequence[Utterance], barge_in: bool) -> str | None:
        """Play items in order; with barge-in, stop at the first key and return it."""
        ...

    async def read_digit(self, timeout_ms: int) -> str | None:
        """The next key pressed within `timeout_ms`, or None."""
        ...

    async def hold(self, music: Sequence[Utterance], duration_ms: int,
                   keys: frozenset[str]) -> str | None:
        """Play hold music (looped; silence if empty) for `duration_ms`; a key from `keys`
        pressed meanwhile ends the wait early and is returned."""
        ...

    async def connect_agent(self, agent: AgentLeg, timeout_ms: int) -> TransferStatus:
        """Ring the agent; when answered, bridge and return ANSWERED after the conversation."""
        ...

    async def transfer_number(self, number: str, timeout_ms: int) -> TransferStatus:
        """Call an outside number (E.164) and bridge; ANSWERED after the conversation."""
        ...

    async def transfer_sip(self, uri: str, caller_id: str | None,
                           timeout_ms: int) -> TransferStatus:
        """Call a SIP URI the toll-fraud guard granted (`sip:user@host[:port]`) and bridge;
        ANSWERED after the conversation."""
        ...

    async def record(self, request: RecordRequest) -> Recorded:
        """Record the caller (after a beep when asked) until the request's limits."""
        ...

    async def pause(self, duration_ms: int, barge_in: bool) -> str | None:
        """Silence for `duration_ms`; with barge-in a key ends it early and is returned, else
        keys pressed meanwhile are lost."""
        ...

    async def record_voicemail(self, box: str, max_ms: int) -> int:
        """Record a message into `box`; return its length in ms."""
        ...

    async def hangup(self) -> None:
        """End the call from our side."""
        ...
