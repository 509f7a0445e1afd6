"""Fuzz the .ccb decoder: any bytes decode to a verified image or raise BytecodeError."""

from harness import main


def target(data: bytes) -> None:
    from ccc_runtime.bytecode import BytecodeError, decode, disassemble

    try:
        image = decode(data)
    except BytecodeError:
        return
    disassemble(image)


if __name__ == "__main__":
    main(target, ".ccb decoder")
