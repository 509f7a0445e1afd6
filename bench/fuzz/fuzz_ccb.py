"""Fuzz the .ccb decoder: any bytes decode to a verified image or raise BytecodeError.

The first byte picks whether the image's trailing CRC-32 is fixed up first, so that most
mutations reach the decoder's body instead of stopping at the checksum. Seed the corpus with
real images: `ccc compile examples -o /tmp/b && cp /tmp/b/*.ccb corpus/ccb/` (prefix each
with one byte, e.g. `printf '\\1' | cat - x.ccb`)."""

import struct
import zlib

from harness import main


def target(data: bytes) -> None:
    from ccc_runtime.bytecode import BytecodeError, decode, disassemble

    image = data[1:]
    if data[:1] and data[0] & 1 and len(image) >= 4:
        image = image[:-4] + struct.pack("<I", zlib.crc32(image[:-4]))
    try:
        decoded = decode(image)
    except BytecodeError:
        return
    disassemble(decoded)
    for node in decoded.nodes:
        assert all(t is None or 0 <= t < len(decoded.nodes) for t in node.exits)


if __name__ == "__main__":
    main(target, ".ccb decoder")
