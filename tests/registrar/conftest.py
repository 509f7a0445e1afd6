"""The `kamailio` fixture: a registrar on loopback for one test (kamailio_peer.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kamailio_peer import Kamailio, start_kamailio, stop_kamailio


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    kam = start_kamailio(tmp_path)
    try:
        yield kam
    finally:
        stop_kamailio(kam)
