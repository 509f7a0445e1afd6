"""What a build makes: flows' images and time to agent, diagnostics, the build manifest. Kept
apart from the compiler so that a cached build (ccc_dsl/compiler/cache.py) is read back without
importing the parser, the analyses, networkx or pydantic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ccc_dsl import __version__
from ccc_dsl.diagnostics import Diagnostic, Span

if TYPE_CHECKING:
    from ccc_dsl.compiler.program import Program

COMPILER_VERSION = __version__
BUILD_FILE = "build.json"


@dataclass(frozen=True, slots=True)
class Timing:
    """A flow's worst case to a person (None: no path reaches one) and to its `return`."""

    seconds: float | None
    key_presses: int | None
    person: Span | None
    """Where the worst-case (in seconds) path reaches a person."""
    return_seconds: float | None = None
    return_keys: int | None = None
    repeats: Span | None = None
    """A menu the call can reach (here or in a sub-flow) that repeats until the caller acts
    (`retries forever`): the figures hold for a caller who answers; a silent one stays there."""

    def as_json(self) -> dict[str, Any]:
        """The figures for build.json; `until_caller_acts` only for a flow with such a menu."""
        out: dict[str, Any] = {"seconds": None if self.seconds is None
                               else round(self.seconds, 1), "key_presses": self.key_presses}
        if self.repeats is not None:  # no place: build.json holds no paths of this machine
            out["until_caller_acts"] = True
        return out


@dataclass
class Analysis:
    """The front half's result: every flow's IR (in `program`) and what the analyses found."""

    program: Program
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    """Flow name -> its source file, repo-relative (as written into the line table)."""


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    name: str
    source: str
    image: bytes
    sha256: str
    source_sha256: str
    timing: Timing


@dataclass
class Build:
    """Compiled flows by name (empty when there are errors) and every diagnostic."""

    flows: dict[str, CompiledFlow]
    diagnostics: list[Diagnostic]
    analysis: Analysis | None = None

    def manifest(self) -> dict[str, Any]:
        """The build manifest: what was compiled from what, by which compiler."""
        from ccc_runtime.bytecode import FORMAT_VERSION  # not on a cached build's path

        return {
            "compiler": f"ccc {COMPILER_VERSION}",
            "format_version": FORMAT_VERSION,
            "flows": {name: {
                "file": f"{name}.ccb",
                "sha256": flow.sha256,
                "source": flow.source,
                "source_sha256": flow.source_sha256,
                "time_to_agent": flow.timing.as_json(),
            } for name, flow in sorted(self.flows.items())},
        }
