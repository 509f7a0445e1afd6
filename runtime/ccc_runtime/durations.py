"""How long a prompt takes to play: the one place that says so, for the time-to-agent analysis
(compiler/timing.py) and for the simulated caller (flow tests, `ccc simulate`).

A recorded prompt lasts what its WAV file says (frames / rate, read from the header only). Text
to speech is estimated at a documented speaking rate: 0.25 s per CJK character (about four
characters a second, as Mandarin TTS speaks) and 0.065 s per other character (about 160 words a
minute); the compiler, which sees a template before it is rendered, adds one second per
`{{ placeholder }}`, while the simulator measures the rendered text. A missing or unreadable file
counts as 0 s (the manifest checks report it).
"""

from __future__ import annotations

import os
import re
import wave
from functools import lru_cache
from pathlib import Path
from typing import Final

CJK_SECONDS: Final = 0.25
OTHER_SECONDS: Final = 0.065
PLACEHOLDER_SECONDS: Final = 1.0
_PLACEHOLDER: Final = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_CJK: Final = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def speech_seconds(text: str) -> float:
    """Speaking time of plain (rendered) text."""
    cjk = len(_CJK.findall(text))
    return cjk * CJK_SECONDS + (len(text.strip()) - cjk) * OTHER_SECONDS


def tts_seconds(template: str) -> float:
    """Estimated speaking time of a TTS template: its text, plus a second per placeholder."""
    placeholders = len(_PLACEHOLDER.findall(template))
    return speech_seconds(_PLACEHOLDER.sub("", template)) + placeholders * PLACEHOLDER_SECONDS


def wav_seconds(path: Path) -> float:
    """A WAV file's length from its header (0 when missing or not a WAV), cached by the file's
    path, size and modification time."""
    try:
        stat = os.stat(path)
    except OSError:
        return 0.0
    return _wav_seconds(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _wav_seconds(path: str, size: int, mtime_ns: int) -> float:
    try:
        with wave.open(path, "rb") as audio:
            rate = audio.getframerate()
            return audio.getnframes() / rate if rate else 0.0
    except (OSError, EOFError, wave.Error):
        return 0.0


def to_ms(seconds: float) -> int:
    """Seconds as whole milliseconds, at least 1 (a prompt always takes some time)."""
    return max(1, round(seconds * 1000))
