"""Shared helpers for the grammar tests."""

from __future__ import annotations

from pathlib import Path

CASES = Path(__file__).parent / "cases"
EXAMPLES = Path(__file__).parents[2] / "examples" / "flows"
