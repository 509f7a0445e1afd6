"""Fuzz the .ivr reader (decode + parse_text) and the formatter on what parses: diagnostics or a
module, and formatting a module twice gives the same text."""

from harness import main


def target(data: bytes) -> None:
    from ccc_dsl.grammar.formatter import format_text
    from ccc_dsl.grammar.parser import decode, parse_text

    text, _ = decode(data, "fuzz.ivr")
    if text is None:
        return
    result = parse_text(text, "fuzz.ivr")
    if result.module is not None:
        once = format_text(text, "fuzz.ivr")
        assert format_text(once, "fuzz.ivr") == once, "fmt is not idempotent"


if __name__ == "__main__":
    main(target, "flow parser and formatter")
