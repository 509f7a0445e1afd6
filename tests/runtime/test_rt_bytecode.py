"""The .ccb format: determinism, round trip, verification of untrusted bytes, disassembly."""

from __future__ import annotations

import struct
import zlib
from typing import Any, cast

import pytest
from ccc_runtime.bytecode import (
    FORMAT_VERSION,
    MAGIC,
    NO_NODE,
    BytecodeError,
    FlowBuilder,
    Op,
    decode,
    disassemble,
    image_hash,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rt_helpers import Flow, const, prompt, say, var


def sample_flow(verify: bool = True) -> bytes:
    f = Flow()
    menu = f.node(Op.MENU, prompt("main-greeting", barge_in=True), 5000, 2000, 2, 3,
                  ["1", "2", "123"], line=3)
    check = f.node(Op.BRANCH, ["and", ["==", var("caller.number"), const("+861")],
                               ["not", ["in", var("x"), ["list", const(1), const(2.5)]]]],
                   line=4)
    talk = f.node(Op.PLAY, say("Hi {{ caller.number }}"), line=5)
    bye = f.node(Op.HANGUP, line=6)
    for key in ("1", "2", "123", "exhausted"):
        f.exit(menu, key, check)
    f.exit(check, "true", talk)
    f.exit(check, "false", bye)
    f.exit(talk, "next", bye)
    f.b.set_error_node(bye)
    return f.build(verify)


def _str(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def raw_image(nodes: list[tuple[int, list[int], list[int]]], consts: bytes = b"",
              n_consts: int = 0, version: int = FORMAT_VERSION, entry: int = 0,
              error: int = NO_NODE, fix_crc: bool = True) -> bytes:
    """An image written straight from docs/bytecode.md, independently of FlowBuilder."""
    out = bytearray(MAGIC + struct.pack("<HH", version, 0))
    out += _str("0.1.0") + _str("hash") + _str("main")
    out += struct.pack("<II", entry, error)
    out += struct.pack("<I", n_consts) + consts
    out += struct.pack("<I", len(nodes))
    for op, operands, exits in nodes:
        out += struct.pack("<BH", op, len(operands)) + struct.pack(f"<{len(operands)}I", *operands)
        out += struct.pack("<H", len(exits)) + struct.pack(f"<{len(exits)}I", *exits)
    out += struct.pack("<I", 1) + _str("main.ivr")
    for i in range(len(nodes)):
        out += struct.pack("<5I", 0, i + 1, 1, i + 1, 5)
    out += struct.pack("<I", zlib.crc32(out) if fix_crc else 0)
    return bytes(out)


def test_same_calls_give_the_same_bytes() -> None:
    assert sample_flow() == sample_flow()
    assert image_hash(sample_flow()) == image_hash(sample_flow())


def test_round_trip_keeps_everything() -> None:
    image = decode(sample_flow())
    assert (image.name, image.format_version, image.entry, image.error_node) == (
        "main", 2, 0, 3)
    menu = image.nodes[0]
    assert menu.op is Op.MENU
    assert menu.operand("keys") == ["1", "2", "123"]
    assert menu.exits == (None, None, 1, 1, 1, 1)
    assert menu.exit_name(5) == "key 123"
    assert str(menu.loc) == "main.ivr:3:3"
    assert image.nodes[1].operands[0][2][1][2][2] == ["const", 2.5]


def test_constants_are_deduplicated_by_type_and_value() -> None:
    b = FlowBuilder("f", "h", "v")
    indexes = [b.const(v) for v in (1, True, "1", 1, 1.0, None, [1], [1])]
    assert indexes == [0, 1, 2, 0, 3, 4, 5, 5]


def test_the_documented_layout_decodes() -> None:
    hangup = raw_image([(Op.HANGUP, [], [])])
    assert decode(hangup).nodes[0].op is Op.HANGUP
    play = raw_image([(Op.PLAY, [0], [1, NO_NODE]), (Op.HANGUP, [], [])],
                     consts=b"\x05" + struct.pack("<I", 2) + b"\x01" + b"\x05"
                     + struct.pack("<I", 2) + b"\x04" + _str("tts") + b"\x04" + _str("hi"),
                     n_consts=1)
    node = decode(play).nodes[0]
    assert node.operands == ([False, ["tts", "hi"]],)
    assert node.exits == (1, None)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "only 0 bytes"),
    (b"XXXX" + bytes(20), "bad magic"),
    (raw_image([(Op.HANGUP, [], [])], version=1), "unsupported .ccb format version 1"),
    (raw_image([(Op.HANGUP, [], [])], fix_crc=False), "checksum mismatch"),
    (raw_image([(99, [], [])]), "unknown opcode 99"),
    (raw_image([(Op.HANGUP, [0], [])]), "constant index 0 out of range"),
    (raw_image([(Op.BRANCH, [0], [0, 7])], consts=b"\x05" + struct.pack("<I", 2) + b"\x04"
                + _str("const") + b"\x02", n_consts=1), "targets node 7, out of range"),
    (raw_image([(Op.BRANCH, [0], [0, NO_NODE])], consts=b"\x05" + struct.pack("<I", 2)
                + b"\x04" + _str("const") + b"\x02", n_consts=1),
     "exit 1 (false) is not connected"),
    (raw_image([(Op.BRANCH, [0], [0, 0])], consts=b"\x05" + struct.pack("<I", 2) + b"\x04"
                + _str("eval") + b"\x02", n_consts=1), "unknown expression operator 'eval'"),
    (raw_image([(Op.HANGUP, [], [0])]), "HANGUP has 0 exits, got 1"),
    (raw_image([(Op.SET, [], [0])]), "SET takes 2 operands, got 0"),
    (raw_image([(Op.HANGUP, [], [])], entry=3), "entry node 3 out of range"),
    (raw_image([(Op.HANGUP, [], [])], error=1), "error node 1 out of range"),
    (raw_image([]), "the flow has no nodes"),
    (raw_image([(Op.HANGUP, [], [])], consts=b"\x09", n_consts=1), "unknown constant tag 9"),
    (raw_image([(Op.HANGUP, [], [])], consts=b"\x05" + struct.pack("<I", 10**9), n_consts=1),
     "says 1000000000 entries"),
])
def test_decode_rejects_bad_images(data: bytes, message: str) -> None:
    with pytest.raises(BytecodeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode(data)


def test_truncated_images_are_rejected_at_every_length() -> None:
    data = sample_flow()
    for n in range(len(data)):
        with pytest.raises(BytecodeError):
            decode(data[:n])


_MENU = (False, False, False)
"""A menu's noinput_forever, nomatch_forever and reset_on_entry."""
_QUEUE = (0, "busy", [], const(None))
"""A queue's capacity, when_empty, script and group_from."""


@pytest.mark.parametrize(("op", "operands", "message"), [
    (Op.SET, ["x"], "SET takes 2 operands"),
    (Op.SET, ["1x", const(1)], "operand 'var': expected var"),
    (Op.MENU, [prompt("p"), 5000, 0, 1, 1, ["1", "1"], *_MENU], "expected key_patterns"),
    (Op.MENU, [prompt("p"), 5000, 0, 1, 1, ["1x"], *_MENU], "expected key_patterns"),
    (Op.MENU, [prompt("p"), 5000, 0, 1, 1, ["[1-5"], *_MENU], "expected key_patterns"),
    (Op.MENU, [prompt("p"), 5000, 0, 1, 1, ["X" * 17], *_MENU], "expected key_patterns"),
    (Op.MENU, [prompt("p"), 5000, 0, 1, 1, [str(k) for k in range(101)], *_MENU],
     "expected key_patterns"),
    (Op.MENU, [prompt("p"), 5000, 0, 1, 1, ["12"], *_MENU], "multi-digit keys need interdigit_ms"),
    (Op.MENU, [prompt("p"), 5000, 0, 1, 1, ["1X"], *_MENU],
     "multi-digit keys need interdigit_ms"),
    (Op.MENU, [prompt("p"), 5000, 0, 1, 1, ["1"], 1, False, False], "expected bool"),
    (Op.MENU, [["prompt", "p"], 5000, 0, 1, 1, ["1"], *_MENU], "a prompt must be"),
    (Op.COLLECT, ["acct", prompt("p"), 5, 2, "#", 5000, 0, None, 1, 1], "min_digits"),
    (Op.COLLECT, ["acct", prompt("p"), 1, 2, "5", 5000, 0, None, 1, 1], "terminator"),
    (Op.COLLECT, ["acct", prompt("p"), 1, 2, "#", 5000, 0, "(", 1, 1], "bad pattern"),
    (Op.QUEUE, ["sales", const(0), 0, "random", None, [], [], [], *_QUEUE], "unknown routing"),
    (Op.QUEUE, ["sales", const(0), 0, "familiar", None, [],
                [["voicemail", 1, "9", None]], ["9"], *_QUEUE], "offer keys"),
    (Op.QUEUE, ["sales", const(0), 0, "familiar", None, [], [], [], 10_001, "busy", [],
                const(None)], "capacity 10001 is over"),
    (Op.QUEUE, ["sales", const(0), 0, "familiar", None, [], [], [], 0, "hold", [],
                const(None)], "unknown when_empty"),
    (Op.QUEUE, ["sales", const(0), 0, "familiar", None, [], [], [], 0, "busy",
                [[0, 0, None]], const(None)], "a prompt must be"),
    (Op.QUEUE, ["sales", const(0), 0, "familiar", None, [], [], [], 0, "busy",
                [[0, 0, prompt("p")]] * 33, const(None)], "expected script"),
    (Op.SURVEY, [prompt("q"), 1, 12, "s", 1, 1, 1, None], "max_score <= 9"),
    (Op.BRANCH, [["and", const(1)]], "'and' takes at least 2 operands"),
    (Op.TRANSFER_NUMBER, [const("+86"), -1, const(None)], "expected int"),
])
def test_builder_rejects_bad_operands(op: Op, operands: list[Any], message: str) -> None:
    with pytest.raises(BytecodeError, match=message):
        FlowBuilder("f", "h", "v").add_node(op, operands)


@pytest.mark.parametrize("verify", [True, False])
def test_build_rejects_unconnected_required_exits(verify: bool) -> None:
    b = FlowBuilder("f", "h", "v")
    b.add_node(Op.BRANCH, [const(True)])
    with pytest.raises(BytecodeError, match=r"exit 0 \(true\) is not connected"):
        b.build(verify=verify)


@pytest.mark.parametrize("verify", [True, False])
def test_build_rejects_exits_and_error_node_out_of_range(verify: bool) -> None:
    b = FlowBuilder("f", "h", "v")
    b.add_node(Op.HANGUP, [], [])
    b.add_node(Op.PLAY, [[False, ["prompt", "bye"]]], [7, None])
    with pytest.raises(BytecodeError, match="out of range"):
        b.build(verify=verify)
    b = FlowBuilder("f", "h", "v")
    b.add_node(Op.HANGUP, [], [])
    b.set_error_node(3)
    with pytest.raises(BytecodeError, match="out of range"):
        b.build(verify=verify)


def test_unverified_build_gives_the_same_bytes() -> None:
    assert sample_flow(verify=False) == sample_flow()


def test_builder_rejects_non_constants() -> None:
    with pytest.raises(BytecodeError, match="not a constant"):
        FlowBuilder("f", "h", "v").const(cast(Any, {"a": 1}))
    with pytest.raises(BytecodeError, match="not a constant"):
        FlowBuilder("f", "h", "v").const(2**64)


def test_disassembly_names_operands_exits_and_lines() -> None:
    text = disassemble(decode(sample_flow()))
    assert 'flow "main"' in text
    assert "error handler @3" in text
    assert "@0    MENU            ; main.ivr:3:3" in text
    assert 'keys = #' in text and '["1", "2", "123"]' in text
    assert "exit 5 key 123 -> @1" in text
    assert "exit 0 noinput -> -" in text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_images_decode_or_raise_bytecode_error(data: st.DataObject) -> None:
    image = bytearray(sample_flow())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(image) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if action == "set":
            image[pos] = data.draw(st.integers(0, 255))
        elif action == "insert":
            image.insert(pos, data.draw(st.integers(0, 255)))
        elif len(image) > 1:
            del image[pos]
    if data.draw(st.booleans()) and len(image) >= 4:  # let most mutations past the checksum
        image[-4:] = struct.pack("<I", zlib.crc32(bytes(image[:-4])))
    try:
        decoded = decode(bytes(image))
    except BytecodeError:
        return
    for node in decoded.nodes:  # a decoded image is safe to walk
        for target in node.exits:
            assert target is None or 0 <= target < len(decoded.nodes)


def test_the_version_2_layout_is_frozen() -> None:
    """The bytes of a known flow never change within a format version: a change here means
    old images no longer read the same, so FORMAT_VERSION (and docs/bytecode.md) must change."""
    assert image_hash(sample_flow()) == (
        "86dc4fd801c516b0348fda590635a3e73f151a527bf020a88495f4ff11879df8")


def test_int_operands_are_capped_when_built_and_when_decoded() -> None:
    b = FlowBuilder("f", "h", "v")
    with pytest.raises(BytecodeError, match="expected int"):
        b.add_node(Op.MENU, [[False, ["prompt", "p"]], 2**31, 0, 1, 1, ["1"], *_MENU])
    image = sample_flow()
    encoded = bytes([3]) + struct.pack("<q", 5000)  # the menu's timeout_ms constant
    assert image.count(encoded) == 1
    patched = image.replace(encoded, bytes([3]) + struct.pack("<q", 10**15))[:-4]
    patched += struct.pack("<I", zlib.crc32(patched))
    with pytest.raises(BytecodeError, match="expected int"):
        decode(patched)
