"""Small helpers that every stage shares (and that belong to no stage)."""

from __future__ import annotations

from difflib import get_close_matches


def did_you_mean(word: str, choices: list[str] | set[str]) -> str | None:
    """A hint naming the closest choice, if any is close."""
    close = get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
