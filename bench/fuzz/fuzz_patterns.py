"""Fuzz the collect pattern check and matcher: the first bytes are a pattern, the rest digits;
a pattern is refused (PatternError) or matches in linear time."""

from harness import main


def target(data: bytes) -> None:
    from ccc_runtime.patterns import PatternError, compile_pattern, pattern_error

    head, _, tail = data.partition(b"\n")
    source = head.decode("utf-8", "replace")
    problem = pattern_error(source)
    try:
        compiled = compile_pattern(source)
    except PatternError:
        assert problem is not None
        return
    compiled.fullmatch("".join(chr(48 + b % 12) for b in tail).replace(":", "#").replace(";", "*"))


if __name__ == "__main__":
    main(target, "pattern")
