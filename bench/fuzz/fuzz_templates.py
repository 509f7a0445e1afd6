"""Fuzz the TTS template check and renderer: any text is refused (template_error) or renders
within MAX_RENDERED_CHARS or raises TemplateFault, without changing the call data."""

from harness import main

DATA = {"x": 7, "s": "abc" * 100, "l": list(range(100)), "d": {"k": [1, "v"]},
        "result": {"balance": 12.5, "name": "Li"}}


def target(data: bytes) -> None:
    from ccc_runtime.limits import MAX_RENDERED_CHARS
    from ccc_runtime.templates import TemplateFault, TemplateRenderer, template_error

    source = data.decode("utf-8", "replace")
    template_error(source)
    before = repr(DATA)
    try:
        text = TemplateRenderer().render(source, DATA)
    except TemplateFault:
        return
    finally:
        assert repr(DATA) == before, "a template changed call data"
    assert len(text) <= MAX_RENDERED_CHARS or "{" not in source


if __name__ == "__main__":
    main(target, "template")
