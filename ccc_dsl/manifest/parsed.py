"""The parsed form of a YAML file: plain data, the positions of its values and keys, and its
diagnostics. What the YAML cache (manifest/cache.py) holds and every later stage reads; kept
apart from the reader (yamlsafe.py, ruamel.yaml), which only a file the cache lacks needs:
importing ruamel takes some 12 ms of a compile whose manifests are all cached.
"""

from __future__ import annotations

from typing import Any

from ccc_dsl.cache import decode_positions, encode_positions
from ccc_dsl.diagnostics import Diagnostic, Span

MAX_FILE_BYTES = 4 * 1024 * 1024
"""The largest manifest file read (Y106 beyond)."""

PathKey = tuple[str | int, ...]
Pos = tuple[int, int, int, int]
"""line, column, end line, end column; all 1-based."""


class ParsedFile:
    """One YAML file as plain data; `values`/`keys` map a path to the value's or key's position.

    From the cache, the position maps arrive as one encoded blob that is only decoded when a
    diagnostic needs a span: a valid repo never pays for them."""

    def __init__(self, file: str, data: Any = None, *, positions: bytes | None = None,
                 diagnostics: list[Diagnostic] | None = None,
                 var_paths: list[PathKey] | None = None) -> None:
        self.file = file
        self.data = data
        self.diagnostics: list[Diagnostic] = diagnostics or []
        self.var_paths: list[PathKey] = var_paths or []
        """Paths of the strings that contain `${`, so variable substitution visits only those."""
        self._positions = positions
        self._values: dict[PathKey, Pos] = {}
        self._keys: dict[PathKey, Pos] = {}

    def _decode_positions(self) -> None:
        if self._positions is not None:
            self._values, self._keys = decode_positions(self._positions)
            self._positions = None

    @property
    def values(self) -> dict[PathKey, Pos]:
        self._decode_positions()
        return self._values

    @property
    def keys(self) -> dict[PathKey, Pos]:
        self._decode_positions()
        return self._keys

    def positions_blob(self) -> bytes:
        """Both position maps, encoded for the cache."""
        if self._positions is not None:
            return self._positions
        return encode_positions(self._values, self._keys)

    def span(self, path: PathKey, key: bool = False) -> Span:
        """The span of the value (or key) at `path`, else of its nearest located ancestor."""
        values = self.values
        table = self.keys if key else values
        p = path
        while p:
            pos = table.get(p) or values.get(p)
            if pos is not None:
                return Span(self.file, *pos)
            p = p[:-1]
        pos = values.get(())
        return Span(self.file, *pos) if pos else Span.point(self.file, 1, 1)
