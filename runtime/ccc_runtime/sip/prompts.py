"""Prompt audio for live calls: the bundle's WAV files and text-to-speech, as G.711 frames.

A prompt is converted once to 8 kHz mono 16-bit (the stdlib `wave` reads it; sox converts
anything else) and encoded once per law, then kept in memory for the bundle. Text-to-speech runs
`espeak-ng` as a subprocess (bounded text, a timeout, never blocking the event loop) into a cache
folder keyed by sha256(language, text), so a sentence is synthesised once per host.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import subprocess
import threading
import wave
from dataclasses import dataclass, field
from pathlib import Path

from ..channel import Utterance
from . import g711
from .rtp import FRAME_SAMPLES
from .sdp import PCMA

log = logging.getLogger("ccc_runtime.sip.prompts")

RATE = 8000
MAX_TTS_CHARS = 1000
TTS_TIMEOUT_S = 10.0
CONVERT_TIMEOUT_S = 10.0
MAX_PROMPT_BYTES = 5 * 1024 * 1024  # the product's own limit for uploaded prompts
ESPEAK_VOICES = {"zh": "cmn", "en": "en"}


class PromptError(Exception):
    """A prompt that can't be turned into audio (a missing file, a failed synthesis)."""


@dataclass(slots=True)
class Audio:
    """8 kHz mono 16-bit PCM, with its G.711 frames made on first use per law."""

    pcm: bytes
    _frames: dict[int, list[bytes]] = field(default_factory=dict)

    @property
    def ms(self) -> int:
        return len(self.pcm) // 16

    def frames(self, codec: int) -> list[bytes]:
        found = self._frames.get(codec)
        if found is None:
            codes = g711.encode(self.pcm, alaw=codec == PCMA)
            pad = (-len(codes)) % FRAME_SAMPLES
            codes += bytes([g711.ALAW_SILENCE if codec == PCMA else g711.ULAW_SILENCE]) * pad
            found = self._frames[codec] = [codes[i:i + FRAME_SAMPLES]
                                           for i in range(0, len(codes), FRAME_SAMPLES)]
        return found


def read_wav_8k(data: bytes) -> bytes | None:
    """The PCM of a WAV that is already 8 kHz mono 16-bit, else None (needs converting)."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (RATE, 1, 2):
                return None
            return bytes(wav.readframes(wav.getnframes()))
    except (wave.Error, EOFError, ValueError):
        return None


def write_wav(path: Path, pcm: bytes) -> None:
    """An 8 kHz mono 16-bit WAV file (voicemail), written atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)
    os.replace(tmp, path)


async def _run(argv: list[str], timeout: float, stdin: bytes | None = None) -> bytes:
    """Run a converter without blocking the loop; its stdout, or PromptError.

    The child runs under `subprocess.run` in the loop's default executor, not through asyncio's
    subprocess transports: on Python 3.11 a task cancelled while `create_subprocess_exec` is
    still starting its child leaves a transport that makes closing the loop wait forever (a
    `ccc serve` failing at start-up during the prompt warm-up never exited). A thread ends when
    its child does, and `timeout` bounds that, so shutting down waits at most `timeout`.
    Converters are rare (one per distinct prompt, then cached), so a thread each is cheap."""

    started: list[subprocess.Popen[bytes]] = []
    cancelled = threading.Event()

    def run() -> tuple[int, bytes, bytes]:
        with subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None
                              else subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as proc:
            started.append(proc)
            if cancelled.is_set():  # the caller gave up while the child was starting
                proc.kill()
            try:
                out, err = proc.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            return proc.returncode, out, err

    try:
        code, out, err = await asyncio.get_running_loop().run_in_executor(None, run)
    except OSError as exc:
        raise PromptError(f"can't run {argv[0]}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise PromptError(f"{argv[0]} took longer than {timeout:g} s") from None
    except asyncio.CancelledError:
        cancelled.set()
        for proc in started:  # the thread then ends at once
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        raise
    if code != 0:
        raise PromptError(f"{argv[0]} failed: {err.decode('utf-8', 'replace')[:200]}")
    return out


async def convert_to_8k(data: bytes) -> bytes:
    """Any WAV sox reads -> 8 kHz mono 16-bit PCM."""
    pcm = read_wav_8k(data)
    if pcm is not None:
        return pcm
    out = await _run(["sox", "-V1", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-c", "1", "-b",
                      "16", "-e", "signed-integer", "-L", "-"], CONVERT_TIMEOUT_S, data)
    return out


class PromptStore:
    """Audio for one bundle's prompts (files under `root`) and for spoken text."""

    def __init__(self, root: Path | None, cache_dir: Path) -> None:
        self.root = root
        self.cache_dir = cache_dir
        self._audio: dict[tuple[str, str], Audio] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[Audio]] = {}

    async def audio(self, item: Utterance) -> Audio:
        """The audio of one thing to play; PromptError when there is none."""
        if item.file is not None:
            key = ("file", item.file)
        elif item.text is not None:
            key = (item.language, item.text[:MAX_TTS_CHARS])
        else:
            raise PromptError(f"{item.describe()} has neither a file nor text")
        found = self._audio.get(key)
        if found is not None:
            return found
        pending = self._pending.get(key)
        if pending is None:  # one conversion per prompt, however many calls want it
            pending = self._pending[key] = asyncio.ensure_future(self._make(key))
        try:
            audio = await asyncio.shield(pending)
        finally:
            if pending.done():
                self._pending.pop(key, None)
        self._audio[key] = audio
        return audio

    async def _make(self, key: tuple[str, str]) -> Audio:
        kind, value = key
        if kind == "file":
            if self.root is None:
                raise PromptError(f"prompt file {value}: the bundle has no folder")
            path = (self.root / value).resolve()
            if not path.is_relative_to(self.root.resolve()):
                raise PromptError(f"prompt file {value} is outside the bundle")
            try:
                if path.stat().st_size > MAX_PROMPT_BYTES:
                    raise PromptError(f"prompt file {value} is over 5 MB")
                data = path.read_bytes()
            except OSError as exc:
                raise PromptError(f"can't read prompt file {value}: {exc.strerror}") from None
            return Audio(await convert_to_8k(data))
        return Audio(await self._speak(kind, value))

    async def _speak(self, language: str, text: str) -> bytes:
        digest = hashlib.sha256(f"{language}\0{text}".encode()).hexdigest()
        cached = self.cache_dir / f"{digest}.wav"
        with contextlib.suppress(OSError):
            pcm = read_wav_8k(cached.read_bytes())
            if pcm is not None:
                return pcm
        voice = ESPEAK_VOICES.get(language, language)
        # the text goes in on stdin: never an argument a leading '-' could turn into an option
        wav = await _run(["espeak-ng", "-v", voice, "--stdin", "--stdout"], TTS_TIMEOUT_S,
                         text.encode("utf-8"))
        pcm = await convert_to_8k(wav)
        with contextlib.suppress(OSError):
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            write_wav(cached, pcm)
        return pcm
