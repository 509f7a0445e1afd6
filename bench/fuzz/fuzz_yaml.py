"""Fuzz the YAML manifest reader (parse_yaml): any bytes give data and located Y1xx
diagnostics, never an exception."""

from harness import main


def target(data: bytes) -> None:
    from ccc_dsl.manifest.yamlsafe import parse_yaml

    parsed = parse_yaml("fuzz.yaml", data)
    for diagnostic in parsed.diagnostics:
        assert diagnostic.span is not None, diagnostic


if __name__ == "__main__":
    main(target, "YAML")
