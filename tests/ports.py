"""Free ports for real peers on loopback."""

from __future__ import annotations

import contextlib
import random
import socket


def free_media_port(host: str = "127.0.0.1") -> int:
    """An even port P with P..P+3 free, for SIPp's -mp: SIPp binds P (audio) and P+2 (video),
    each with its RTCP port next to it. Taken from 10000-19999, below the system's ephemeral
    ports and the runtime's test RTP ranges, so nothing else is handed the neighbours."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, 19996, 2)
        with contextlib.ExitStack() as stack:
            try:
                for offset in range(4):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    sock.bind((host, port + offset))
            except OSError:
                continue
            return port
    raise RuntimeError("no free media ports in 10000-19999")
