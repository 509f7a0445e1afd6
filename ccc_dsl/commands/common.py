"""What every `ccc` command shares: exit codes, common options, printing diagnostics.

Exit codes (as CI expects): 0 success; 1 the input is wrong; 2 usage error; 3 an internal error
(a bug in ccc, reported without a traceback unless CCC_DEBUG is set).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ccc_dsl.diagnostics import Diagnostic, sorted_diagnostics
from ccc_dsl.views.diagnostics import FORMATS, render
from ccc_dsl.views.terminal import use_color

EXIT_INVALID = 1
EXIT_INTERNAL = 3

EXISTING = click.Path(exists=True, path_type=Path)
"""A file or folder argument that must exist: a missing one is a usage error (exit 2)."""

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
    help="Output format: text for people; json, github annotations or SARIF for machines.",
)

env_option = click.option("--env", "env", metavar="NAME",
                          help="Environment whose values to select.")


def emit_diagnostics(diagnostics: list[Diagnostic], fmt: str) -> None:
    """Print diagnostics, sorted by place, to stdout in the chosen format (like ruff and mypy)."""
    ordered = sorted_diagnostics(diagnostics)
    if not ordered and fmt == "text":
        return
    text = render(ordered, fmt, color=use_color(sys.stdout))
    if text:
        click.echo(text)
