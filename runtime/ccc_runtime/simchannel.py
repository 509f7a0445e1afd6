"""The simulated channel: a scripted caller on a fake clock (flow tests, `ccc simulate`, bench).

The caller's script is a list of `Press`es. A press with `at_ms` happens at that time after the
call started (so "press 1 at 12 s" while a 5 s timeout runs out first gives a no-input); a press
without `at_ms` happens as soon as the caller is asked (a prompt with barge-in, or an input
wait); `Press(None)` is silence: the next input wait runs to its timeout. A prompt takes as
long as it lasts (`Utterance.ms`: its WAV length, or its text at the speaking rate of
ccc_runtime.durations), `prompt_ms` when that is unknown; agents answer (or not) per
`agent_answers`; everything moves the fake clock, so a 90 s queue wait costs microseconds.

With `ask`, the caller is a person (`ccc simulate --interactive`): when the script has run out
and the caller is asked for a key, `ask(question)` returns the key pressed, or None for silence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .channel import AgentLeg, CallerHangup, Recorded, RecordRequest, TransferStatus, Utterance
from .clock import FakeClock


@dataclass(frozen=True, slots=True)
class Press:
    """One key press (or, with key None, one silent input wait)."""

    key: str | None
    at_ms: int | None = None


def parse_keys(text: str) -> list[Press]:
    """'1,#,-,2@12000' -> presses; '-' is silence, '@N' a press at N ms after the call started.

    Raises ValueError naming the bad item.
    """
    presses = []
    for raw in (item.strip() for item in text.split(",")):
        if not raw:
            continue
        key, _, at = raw.partition("@")
        if key == "-":
            presses.append(Press(None))
            continue
        if len(key) != 1 or key not in "0123456789*#":
            raise ValueError(f"bad key {raw!r}: expected one of 0-9 * # or - (silence)")
        if at and not at.isdigit():
            raise ValueError(f"bad time in {raw!r}: expected milliseconds, e.g. 1@12000")
        presses.append(Press(key, int(at) if at else None))
    return presses


class SimChannel:
    """A Channel driven by a script of presses on a FakeClock."""

    def __init__(self, clock: FakeClock, presses: Sequence[Press] = (), *,
                 prompt_ms: int = 1000, talk_ms: int = 60_000, voicemail_ms: int = 10_000,
                 agent_answers: Mapping[str, bool] | None = None,
                 numbers: Mapping[str, TransferStatus] | None = None,
                 hangup_at_ms: int | None = None,
                 ask: Callable[[str], str | None] | None = None) -> None:
        self.clock = clock
        self.start = clock.now()
        self._presses = list(presses)
        self._next = 0
        self.prompt_ms = prompt_ms
        self.talk_ms = talk_ms
        self.voicemail_ms = voicemail_ms
        self.agent_answers = dict(agent_answers or {})
        self.numbers = dict(numbers or {})
        self.hangup_at = (None if hangup_at_ms is None
                          else self.start + timedelta(milliseconds=hangup_at_ms))
        self.log: list[str] = []
        self.hung_up = False
        self._ask = ask
        self._last_prompt = ""
        self._gone = False  # the caller has hung up (noted in the log once)
        self._holding = False  # the last line of the log says the caller is on hold

    # ---- timeline
    def _at(self, press: Press) -> datetime | None:
        return None if press.at_ms is None else self.start + timedelta(milliseconds=press.at_ms)

    def _advance_to(self, when: datetime) -> None:
        if self.hangup_at is not None and when >= self.hangup_at:
            self.clock.advance(max(0, _ms(self.hangup_at - self.clock.now())))
            if not self._gone:
                self._note("caller hangs up")
                self._gone = True
            raise CallerHangup
        self.clock.advance(max(0, _ms(when - self.clock.now())))

    def _wait(self, ms: int) -> None:
        self._advance_to(self.clock.now() + timedelta(milliseconds=ms))

    def _key_within(self, ms: int, silence_counts: bool) -> str | None:
        """The key pressed within `ms` from now (moving the clock to it), or None after `ms`."""
        if self._next == len(self._presses) and self._ask is not None and silence_counts:
            key = self._ask(f"{self._last_prompt} - key within {ms / 1000:g} s? ")
            if key is not None and (len(key) != 1 or key not in "0123456789*#"):
                key = None
            self._presses.append(Press(key))
        if self._next < len(self._presses):
            press = self._presses[self._next]
            if press.key is None:
                if silence_counts:
                    self._next += 1
                self._wait(ms)
                return None
            at = self._at(press)
            deadline = self.clock.now() + timedelta(milliseconds=ms)
            if at is None or at <= deadline:
                if at is not None:
                    self._advance_to(max(at, self.clock.now()))
                self._next += 1
                self._note(f"caller presses {press.key}")
                return press.key
        self._wait(ms)
        return None

    def _drop_timed_until(self, end: datetime) -> None:
        """Timed presses that fall inside a prompt without barge-in are lost."""
        while self._next < len(self._presses):
            at = self._at(self._presses[self._next])
            if at is None or at > end:
                return
            self._note(f"caller presses {self._presses[self._next].key} (ignored)")
            self._next += 1

    def _note(self, text: str) -> None:
        self.log.append(f"{_ms(self.clock.now() - self.start) / 1000:8.1f}s  {text}")
        self._holding = False

    # ---- Channel
    @property
    def caller_on_line(self) -> bool:
        return not self._gone and (self.hangup_at is None or self.clock.now() < self.hangup_at)

    async def play(self, items: Sequence[Utterance], barge_in: bool) -> str | None:
        for item in items:
            self._last_prompt = item.describe()
            self._note(f"play {item.describe()}" + (" (barge-in)" if barge_in else ""))
            length = (max(1, item.recording.length_ms) if item.recording is not None
                      else item.ms or self.prompt_ms)
            if barge_in:
                key = self._key_within(length, silence_counts=False)
                if key is not None:
                    return key
            else:
                end = self.clock.now() + timedelta(milliseconds=length)
                self._drop_timed_until(end)
                self._advance_to(end)
        return None

    async def read_digit(self, timeout_ms: int) -> str | None:
        key = self._key_within(timeout_ms, silence_counts=True)
        if key is None:
            self._note(f"no key within {timeout_ms} ms")
        return key

    async def hold(self, music: Sequence[Utterance], duration_ms: int,
                   keys: frozenset[str]) -> str | None:
        """Untimed presses wait for a moment when their key means something (e.g. after the
        offer that introduces it); timed presses happen when they happen. The log says when
        the caller goes on hold (and to what), once per stretch of waiting."""
        if not self._holding:
            heard = ", ".join(u.describe() for u in music) or "silence"
            self._note(f"on hold: {heard}")
            self._holding = True
        if self._next < len(self._presses):
            press = self._presses[self._next]
            if press.key is not None and (press.at_ms is not None or press.key in keys):
                return self._key_within(duration_ms, silence_counts=False)
        end = self.clock.now() + timedelta(milliseconds=duration_ms)
        self._drop_timed_until(end)
        self._advance_to(end)
        return None

    async def connect_agent(self, agent: AgentLeg, timeout_ms: int) -> TransferStatus:
        if self.agent_answers.get(agent.user, True):
            self._note(f"agent {agent.user} answers")
            self._talk()
            return TransferStatus.ANSWERED
        self._note(f"agent {agent.user} does not answer")
        self._wait(timeout_ms)
        return TransferStatus.NO_ANSWER

    async def transfer_number(self, number: str, timeout_ms: int) -> TransferStatus:
        status = self.numbers.get(number, TransferStatus.ANSWERED)
        self._note(f"call {number}: {status.value}")
        if status is TransferStatus.ANSWERED:
            self._talk()
        else:
            self._wait(timeout_ms if status is TransferStatus.NO_ANSWER else 0)
        return status

    async def transfer_sip(self, uri: str, caller_id: str | None,
                           timeout_ms: int) -> TransferStatus:
        """Scripted like numbers: `numbers` may map the URI to how the other side answers."""
        status = self.numbers.get(uri, TransferStatus.ANSWERED)
        self._note(f"call {uri}: {status.value}")
        if status is TransferStatus.ANSWERED:
            self._talk()
        else:
            self._wait(timeout_ms if status is TransferStatus.NO_ANSWER else 0)
        return status

    async def record(self, request: RecordRequest) -> Recorded:
        """A fake recording: the caller speaks for `voicemail_ms`, then is silent; it ends at
        the terminator if the caller's next press is that key within the limit, else after
        the silence (when the request ends on silence), else at `max_ms`; a hang-up ends it
        and is met by what the call does next."""
        if request.beep:
            self._note("beep")
        start = self.clock.now()
        end_ms, ended_by = request.max_ms, "maxlength"
        if request.silence_ms and self.voicemail_ms + request.silence_ms < request.max_ms:
            end_ms, ended_by = self.voicemail_ms + request.silence_ms, "silence"
        if self._next < len(self._presses) and request.terminator is not None:
            press = self._presses[self._next]
            at = self._at(press)
            at_ms = _ms(at - start) if at is not None else self.voicemail_ms
            if press.key == request.terminator and at_ms <= end_ms:
                self._next += 1
                end_ms, ended_by = max(0, at_ms), "terminator"
        if self.hangup_at is not None and _ms(self.hangup_at - start) <= end_ms:
            end_ms, ended_by = max(0, _ms(self.hangup_at - start)), "hangup"
        self.clock.advance(end_ms)
        if ended_by == "hangup" and not self._gone:
            self._note("caller hangs up")
            self._gone = True
        else:
            self._drop_timed_until(self.clock.now())
        self._note(f"record {request.name} ({end_ms} ms, ended by {ended_by})")
        return Recorded(request.name, end_ms, None, ended_by)

    async def pause(self, duration_ms: int, barge_in: bool) -> str | None:
        self._note(f"pause {duration_ms} ms" + (" (barge-in)" if barge_in else ""))
        if barge_in:
            return self._key_within(duration_ms, silence_counts=False)
        end = self.clock.now() + timedelta(milliseconds=duration_ms)
        self._drop_timed_until(end)
        self._advance_to(end)
        return None

    def _talk(self) -> None:
        """The conversation after an answer; a caller who hangs up during it ends it (the
        leg was still answered: the next thing the call does meets the hangup)."""
        end = self.clock.now() + timedelta(milliseconds=self.talk_ms)
        if self.hangup_at is not None and end >= self.hangup_at:
            self.clock.advance(max(0, _ms(self.hangup_at - self.clock.now())))
            self._note("caller hangs up")
            self._gone = True
            return
        self._advance_to(end)

    async def record_voicemail(self, box: str, max_ms: int) -> int:
        length = min(self.voicemail_ms, max_ms)
        self._note(f"record voicemail in {box} ({length} ms)")
        self._wait(length)
        return length

    async def hangup(self) -> None:
        self._note("hang up")
        self.hung_up = True


_ONE_MS = timedelta(milliseconds=1)


def _ms(delta: timedelta) -> int:
    return delta // _ONE_MS  # exact: float seconds * 1000 loses a millisecond now and then
