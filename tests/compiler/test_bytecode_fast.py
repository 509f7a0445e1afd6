"""The fast paths of the bytecode module give what the checked paths give.

`decode` reads an image with `_read_valid` (yes or no, no messages) and falls back to
`_decode_checked` for one it refuses: the decoded image, or the error message, must be the one
`_decode_checked` alone gives, for the example images and for damaged copies of them. The quick
operand checks (`_QUICK_CHECKS`) must say yes exactly when `_check_operand` accepts. The builder
encodes and checks each distinct list once per process (`_ENCODED`, `_CHECKED`): the bytes
are those of a fresh process, and what isn't a constant is refused every time.
"""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from cc_helpers import EXAMPLES
from ccc_runtime import bytecode as bc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccc_dsl.pipeline import compile_repo


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    build = compile_repo(EXAMPLES, None)
    assert build.flows
    return [flow.image for _, flow in sorted(build.flows.items())]


def _outcome(data: bytes) -> tuple[bc.FlowImage | None, str | None]:
    try:
        return bc.decode(data), None
    except bc.BytecodeError as exc:
        return None, str(exc)


def _checked(data: bytes) -> tuple[bc.FlowImage | None, str | None]:
    try:
        return bc._decode_checked(data), None
    except bc.BytecodeError as exc:
        return None, str(exc)


def test_valid_images_take_the_fast_path_and_decode_the_same(images: list[bytes]) -> None:
    for data in images:
        fast = bc._read_valid(data)
        assert fast is not None
        assert fast == bc._decode_checked(data)


def _damaged(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    roll = rng.random()
    if roll < 0.5:
        for _ in range(rng.randint(1, 3)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif roll < 0.7:
        del out[rng.randrange(len(out)):]
    else:
        at = rng.randrange(len(out))
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
    if len(out) >= 12 and rng.random() < 0.9:  # a good checksum: the damage reaches the body
        out[-4:] = struct.pack("<I", zlib.crc32(bytes(out[:-4])))
    return bytes(out)


@pytest.mark.parametrize("memo", ["cold", "warm"])
def test_damaged_images_decode_or_fail_as_the_checked_decoder(images: list[bytes],
                                                               memo: str) -> None:
    """Cold: no node verified before (`_VERIFIED` empty); warm: every valid node was."""
    bc._VERIFIED.clear()
    if memo == "warm":
        for data in images:
            bc.decode(data)
    rng = random.Random(13)
    accepted = 0
    for _ in range(1500):
        data = _damaged(rng, rng.choice(images))
        got = _outcome(data)
        assert got == _checked(data)
        accepted += got[0] is not None
    assert 0 < accepted < 1500  # both paths were exercised


def test_a_rule_broken_past_the_quick_checks_is_refused(images: list[bytes]) -> None:
    """A function timeout over the limit passes every type check; the opcode rules refuse it
    (the builder doesn't check CALL_FUNCTION's rules: the decoder must)."""
    builder = bc.FlowBuilder("f", "0" * 64, "test")
    builder.add_node(bc.Op.CALL_FUNCTION, ["fn", [], bc.MAX_FUNCTION_TIMEOUT_MS + 1, "r", 0],
                     [1, 1, None])
    builder.add_node(bc.Op.HANGUP, [], [])
    data = builder.build(verify=False)
    assert bc._read_valid(data) is None
    with pytest.raises(bc.BytecodeError, match="timeout_ms <= 60000"):
        bc.decode(data)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**31 + 1),
                     st.sampled_from(["", "a", "x.y", "1", "#", "1XX", "[1-5]", "prompt", "tts",
                                      "recording", "staffing", "position", "wait", "voicemail",
                                      "callback", "const", "var", "call", "upper", "+", "==",
                                      "caller.number", "a..b", "9" * 20]),
                     st.floats(allow_nan=False, width=32))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=5), max_leaves=14)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(bc.Kind)), value=_VALUES)
def test_quick_checks_accept_exactly_what_check_operand_accepts(kind: bc.Kind,
                                                                value: bc.Const) -> None:
    try:
        bc._check_operand(kind, value, "here")
        accepted = True
    except bc.BytecodeError:
        accepted = False
    assert bool(bc._QUICK_CHECKS[kind](value)) is accepted


def _flow(prompt: bc.Const) -> bytes:
    builder = bc.FlowBuilder("f", "0" * 64, "test")
    builder.add_node(bc.Op.PLAY, [prompt], [1, None])
    builder.add_node(bc.Op.SET, ["x", ["const", [1, True, 1.0, "1"]]], [2])
    builder.add_node(bc.Op.HANGUP, [], [])
    return builder.build()


def test_memoized_lists_encode_as_the_first_time() -> None:
    prompt: bc.Const = [False, ["tts", "hello"], ["prompt", "p"]]
    bc._ENCODED.clear()
    bc._CHECKED.clear()
    bc._NODES.clear()
    cold = _flow(prompt)
    warm = _flow([False, ["tts", "hello"], ["prompt", "p"]])
    assert warm == cold
    # True and 1, 1 and 1.0, "1": distinct constants, with or without the memo
    image = bc.decode(warm)
    assert image.nodes[1].operands[1] == ["const", [1, True, 1.0, "1"]]
    assert [type(v) for v in image.nodes[1].operands[1][1]] == [int, bool, float, str]


def test_a_list_that_is_no_constant_is_refused_every_time() -> None:
    for _ in range(2):  # the second time the list's type check is memoized
        builder = bc.FlowBuilder("f", "0" * 64, "test")
        with pytest.raises(bc.BytecodeError, match="not a constant"):
            builder.add_node(bc.Op.SET, ["x", ["const", (1, 2)]], [0])  # type: ignore[list-item]


def test_a_memoized_node_is_still_checked_for_its_exits() -> None:
    for _ in range(2):  # the second time the node's operands are memoized
        builder = bc.FlowBuilder("f", "0" * 64, "test")
        with pytest.raises(bc.BytecodeError, match="PLAY has 2 exits, got 1"):
            builder.add_node(bc.Op.PLAY, [[False, ["tts", "hi"]]], [0])
        builder.add_node(bc.Op.PLAY, [[False, ["tts", "hi"]]], [0, None])


def test_a_refused_node_is_refused_every_time() -> None:
    for _ in range(2):
        builder = bc.FlowBuilder("f", "0" * 64, "test")
        with pytest.raises(bc.BytecodeError, match="operand 'prompt'"):
            builder.add_node(bc.Op.PLAY, [[1, ["tts", "hi"]]], [0, None])
        with pytest.raises(bc.BytecodeError, match="min_digits <= max_digits"):
            builder.add_node(bc.Op.COLLECT, ["x", [True, ["tts", "hi"]], 4, 2, None, 5000, 0,
                                             None, 1, 1], [0, 0, 0, 0])
