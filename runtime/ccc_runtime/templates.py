"""Text-to-speech templates (`"Your balance is {{ result.balance }}"`) rendered from call data.

Rendering happens in a jinja2 sandbox: flow authors and function replies must not reach Python
internals. A missing variable is an error (StrictUndefined), not silently empty speech; the
interpreter turns any `TemplateError` into the flow's error path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

MAX_RENDERED_CHARS = 4000


class TemplateFault(Exception):
    """A template that failed to compile or render (message says why)."""


class _SafeEnvironment(SandboxedEnvironment):
    """The jinja2 sandbox, plus limits on `*` and `**` so a template can't build a huge value."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise TemplateFault(f"exponent {right} is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and (
                        len(seq) * n > MAX_RENDERED_CHARS):
                    raise TemplateFault("repetition makes a value too large")
        return super().call_binop(context, operator, left, right)


class TemplateRenderer:
    """Compiles each distinct template once and renders it against a call's variables."""

    def __init__(self) -> None:
        self._env = _SafeEnvironment(undefined=StrictUndefined, autoescape=False)
        self._cache: dict[str, Template] = {}

    def render(self, source: str, variables: Mapping[str, Any]) -> str:
        """Render `source`; raise TemplateFault on any template problem."""
        if "{" not in source:  # plain text: nothing to render, the common case
            return source
        try:
            template = self._cache.get(source)
            if template is None:
                template = self._env.from_string(source)
                self._cache[source] = template
            text = template.render(variables)
        except TemplateFault as exc:
            raise TemplateFault(f"template {source!r}: {exc}") from None
        except TemplateError as exc:
            raise TemplateFault(f"template {source!r}: {exc}") from None
        except Exception as exc:
            raise TemplateFault(f"template {source!r}: {type(exc).__name__}: {exc}") from None
        if len(text) > MAX_RENDERED_CHARS:
            raise TemplateFault(f"template {source!r} rendered {len(text)} characters "
                                f"(limit {MAX_RENDERED_CHARS})")
        return text
