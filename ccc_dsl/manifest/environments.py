"""Environments: values that differ between staging and production, declared once in the root
file and used anywhere as `${var.NAME}`.

A scalar that is exactly `${var.NAME}` takes the variable's value with its type (a number, a
list); inside longer text the value is formatted in. Variables may use other variables; a loop
is reported (M303). Diagnostics point at the use, and their hint at the definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.manifest.parsed import ParsedFile, PathKey
from ccc_dsl.util import did_you_mean

VAR_RE = re.compile(r"\$\{([^}]*)\}")
_NAME_RE = re.compile(r"^var\.([A-Za-z_][A-Za-z0-9_-]*)$")


@dataclass
class Resolver:
    """Substitutes `${var.NAME}` using the selected environment's variables."""

    env: str | None
    variables: dict[str, Any]
    root: ParsedFile | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    origins: dict[tuple[str, PathKey], str] = field(default_factory=dict)
    """(file, path) of a substituted value -> the variable it came from, for hints."""
    _resolved: dict[str, Any] = field(default_factory=dict)
    env_reported: bool = False
    """The environment asked for can't be used (unknown or invalid, already reported): uses
    of variables are left unresolved without a diagnostic each, which would only repeat it."""
    unresolved: int = 0
    """Uses left unresolved silently (see `env_reported`)."""

    def problems(self) -> int:
        """Grows whenever a substitution fails: the caller then skips validating the value."""
        return len(self.diagnostics) + self.unresolved

    def definition(self, name: str) -> Span | None:
        if self.root is None or self.env is None or name not in self.variables:
            return None
        return self.root.span(("environments", self.env, "variables", name), key=True)

    def _definition_span(self, name: str) -> Span:
        return self.definition(name) or Span.point(self.root.file if self.root else "", 1, 1)

    def hint_for(self, name: str) -> str:
        where = self.definition(name)
        return f"`{name}` is defined for environment `{self.env}` at {where}" if where else ""

    def substitute(self, value: Any, parsed: ParsedFile, path: PathKey) -> Any:
        """A copy of `value` with variables replaced; problems become diagnostics."""
        if isinstance(value, str):
            return self._text(value, parsed, path) if "${" in value else value
        if isinstance(value, dict):
            return {k: self.substitute(v, parsed, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, parsed, (*path, i)) for i, v in enumerate(value)]
        return value

    def substitute_paths(self, value: Any, paths: list[PathKey], parsed: ParsedFile,
                         base: PathKey) -> Any:
        """Like `substitute`, but only at `paths` (relative to `base`), copying the containers
        along them: most of a large repo has no variables, and walking it all is slow."""
        if not paths:
            return value
        if paths == [()]:
            return self.substitute(value, parsed, base)
        out = _copy(value)
        for rel in paths:
            node = out
            for depth, part in enumerate(rel, 1):
                key: Any = part
                if not ((isinstance(node, dict) and key in node)
                        or (isinstance(node, list) and isinstance(key, int)
                        and 0 <= key < len(node))):
                    break  # the path was dropped (e.g. a rejected `name:` key)
                if depth == len(rel):
                    node[key] = self.substitute(node[key], parsed, (*base, *rel))
                else:
                    node[key] = node = _copy(node[key])
        return out

    def _text(self, text: str, parsed: ParsedFile, path: PathKey) -> Any:
        matches = list(VAR_RE.finditer(text))
        if not matches:
            return text
        span = partial(parsed.span, path)  # decoded positions only when a problem is reported
        whole = len(matches) == 1 and matches[0].group(0) == text
        pieces: list[str] = []
        last = 0
        for match in matches:
            name = self._name(match.group(1), span)
            if name is None:
                return None
            value = self._lookup(name, span, ())
            if value is _MISSING:
                return None
            self.origins[(parsed.file, path)] = name
            if whole:
                return value
            if isinstance(value, dict | list):
                self.diagnostics.append(error(
                    "M205", f"variable `{name}` is a {type(value).__name__} and can't be "
                    "embedded in text", span(), self.hint_for(name) or None))
                return None
            pieces.append(text[last : match.start()])
            pieces.append(_as_text(value))
            last = match.end()
        pieces.append(text[last:])
        return "".join(pieces)

    def _name(self, inner: str, span: Callable[[], Span]) -> str | None:
        found = _NAME_RE.match(inner.strip())
        if found is None:
            self.diagnostics.append(error(
                "M205", f"`${{{inner}}}` is not a variable reference", span(),
                "write `${var.NAME}`; NAME is declared under environments.<env>.variables"))
            return None
        return found.group(1)

    def _lookup(self, name: str, span: Callable[[], Span], stack: tuple[str, ...]) -> Any:
        if name in stack:
            loop = " -> ".join((*stack, name))
            self.diagnostics.append(error(
                "M303", f"variables refer to each other in a loop: {loop}",
                self.definition(stack[0]) or span(), "break the loop with a literal value"))
            return _MISSING
        if name in self._resolved:
            return self._resolved[name]
        if self.env is None:
            if self.env_reported:
                self.unresolved += 1
                return _MISSING
            self.diagnostics.append(error(
                "M207", f"`${{var.{name}}}` needs an environment, and none is selected", span(),
                "pass --env NAME, or set `default_env` in ccc.yaml"))
            return _MISSING
        if name not in self.variables:
            hint = did_you_mean(name, set(self.variables))
            self.diagnostics.append(error(
                "M205", f"variable `{name}` is not defined for environment `{self.env}`", span(),
                hint or f"declare it under environments.{self.env}.variables"))
            return _MISSING
        raw = self.variables[name]
        value = self._resolve_nested(raw, name, (*stack, name))
        if value is not _MISSING:
            self._resolved[name] = value
        return value

    def _resolve_nested(self, raw: Any, name: str, stack: tuple[str, ...]) -> Any:
        if isinstance(raw, str) and "${" in raw:
            span = partial(self._definition_span, name)
            matches = list(VAR_RE.finditer(raw))
            if len(matches) == 1 and matches[0].group(0) == raw:
                inner = self._name(matches[0].group(1), span)
                return _MISSING if inner is None else self._lookup(inner, span, stack)
            out = raw
            for match in matches:
                inner = self._name(match.group(1), span)
                if inner is None:
                    return _MISSING
                value = self._lookup(inner, span, stack)
                if value is _MISSING:
                    return _MISSING
                if isinstance(value, dict | list):
                    self.diagnostics.append(error(
                        "M205", f"variable `{inner}` is a {type(value).__name__} and can't be "
                        f"embedded in text (in variable `{name}`)", span(),
                        self.hint_for(inner) or None))
                    return _MISSING
                out = out.replace(match.group(0), _as_text(value), 1)
            return out
        if isinstance(raw, dict):
            out_map = {k: self._resolve_nested(v, name, stack) for k, v in raw.items()}
            return _MISSING if _MISSING in out_map.values() else out_map
        if isinstance(raw, list):
            out_list = [self._resolve_nested(v, name, stack) for v in raw]
            return _MISSING if any(v is _MISSING for v in out_list) else out_list
        return raw


def _as_text(value: Any) -> str:
    """A variable's value formatted into text: YAML spellings for null and booleans."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


class _Missing:
    """Marks a variable that could not be resolved (already reported)."""


_MISSING: Any = _Missing()
