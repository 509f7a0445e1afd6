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

    def describe(self) -> str:
        """A short, readable form for traces: `prompt main-greeting [zh]` or `say "..."`."""
        if self.prompt is not None:
            return f"{self.prompt} [{self.language}]"
        return f'say "{self.text}"'


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

    async def record_voicemail(self, box: str, max_ms: int) -> int:
        """Record a message into `box`; return its length in ms."""
        ...

    async def hangup(self) -> None:
        """End the call from our side."""
        ...
