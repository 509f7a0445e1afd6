"""Menu key patterns under hostile input: any text is a key or a KeyPatternError (never another
exception), within the bounds; matching agrees with a brute-force reading of the notation; the
compiler's clash analysis stays bounded for any menu."""

from __future__ import annotations

import itertools
import time

import pytest
from ccc_runtime.patterns import (
    MAX_KEY_CHARS,
    MAX_KEY_DIGITS,
    KeyPatternError,
    best_key,
    key_inputs,
    key_matches,
    parse_key,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ccc_dsl.compiler.passes.keys import COVER_BUDGET, _covered

PIECES = ["0", "1", "5", "9", "*", "#", "X", "Z", "N", "[1-5]", "[2468]", "[0-1]", "[7-9]"]
keys = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join)


@given(st.text(max_size=80))
def test_any_text_is_a_key_or_a_key_pattern_error(text: str) -> None:
    try:
        pattern = parse_key(text)
    except KeyPatternError as exc:
        assert str(exc)
        return
    assert 1 <= len(pattern) <= MAX_KEY_DIGITS and len(text) <= MAX_KEY_CHARS
    assert all(accepted and accepted <= set("0123456789*#") for accepted in pattern)


@pytest.mark.parametrize(("text", "message"), [
    ("X" * 17, "17 key presses"), ("[" + "1" * 70 + "]", "characters long"),
    ("1x", "upper case"), ("[5-1]", "not a range"), ("[1-5", "not closed"), ("", "empty"),
    ("1 2", "a space"), ("[*]", "only digits"),
])
def test_bad_keys_say_why(text: str, message: str) -> None:
    with pytest.raises(KeyPatternError, match=message):
        parse_key(text)


def _reference(key: str) -> set[str]:
    """Every input of a key, by expanding the notation literally (tiny keys only)."""
    classes = {"X": "0123456789", "Z": "123456789", "N": "23456789"}
    parts: list[str] = []
    i = 0
    while i < len(key):
        if key[i] == "[":
            end = key.index("]", i)
            body, digits = key[i + 1:end], ""
            j = 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    digits += "".join(str(d) for d in range(int(body[j]), int(body[j + 2]) + 1))
                    j += 3
                else:
                    digits += body[j]
                    j += 1
            parts.append(digits)
            i = end + 1
        else:
            parts.append(classes.get(key[i], key[i]))
            i += 1
    return {"".join(p) for p in itertools.product(*parts)}


@settings(max_examples=150)
@given(st.lists(keys, min_size=1, max_size=5, unique=True), st.data())
def test_the_chosen_key_matches_and_is_the_most_specific(menu: list[str],
                                                         data: st.DataObject) -> None:
    inputs = {k: _reference(k) for k in menu}
    assert all(key_inputs(parse_key(k)) == len(v) for k, v in inputs.items())
    digits = data.draw(st.sampled_from(sorted(set().union(*inputs.values()))))
    chosen = best_key(menu, digits)
    assert chosen is not None and digits in inputs[chosen]
    assert key_matches(parse_key(chosen), digits)
    assert all(len(inputs[chosen]) <= len(v) for k, v in inputs.items() if digits in v)


def test_the_never_taken_check_is_bounded() -> None:
    """A key of 16 free presses against 90 keys that each pin one of its first ten presses to
    0-8: no input with nine in every such press is covered, which the search finds by splitting;
    with a budget too small it gives up (the key counts as reachable) instead of going on."""
    box = parse_key("X" * 16)
    inner = [parse_key("X" * i + str(d) + "X" * (15 - i)) for i in range(10) for d in range(9)]
    started = time.perf_counter()
    assert _covered(box, inner, [COVER_BUDGET]) is False
    assert _covered(box, inner[:9], [COVER_BUDGET]) is False
    assert _covered(parse_key("[0-8]" + "X" * 15), inner, [COVER_BUDGET]) is True
    assert _covered(parse_key("[0-8]" + "X" * 15), inner, [3]) is False
    assert time.perf_counter() - started < 5
