"""The `ccc` command line: a thin layer over the pipeline stages.

Exit codes (as CI expects): 0 success; 1 the input is wrong; 2 usage error; 3 an internal error
(a bug in ccc, reported without a traceback unless CCC_DEBUG is set).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ccc_dsl import __version__
from ccc_dsl.diagnostics import Diagnostic, has_errors, sorted_diagnostics
from ccc_dsl.reporting import FORMATS, render, use_color

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
    help="Output format: text for people; json, github annotations or SARIF for machines.",
)


def emit_diagnostics(diagnostics: list[Diagnostic], fmt: str) -> None:
    """Print diagnostics (sorted) to stdout in the chosen format; text goes to stderr-less stdout."""
    ordered = sorted_diagnostics(diagnostics)
    if not ordered and fmt == "text":
        return
    text = render(ordered, fmt, color=use_color(sys.stdout))
    if text:
        click.echo(text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ccc")
def cli() -> None:
    """ccc: call-center configuration as code, and an IVR compiler."""


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=Path("."))
@click.option("--env", "env", metavar="NAME", help="Environment whose values to select.")
@format_option
def validate(path: Path, env: str | None, fmt: str) -> None:
    """Validate the manifests and flows of the config repo at PATH; report every problem."""
    from ccc_dsl.pipeline import check_repo

    result = check_repo(path, env)
    emit_diagnostics(result.diagnostics, fmt)
    if has_errors(result.diagnostics):
        raise SystemExit(EXIT_INVALID)
    if fmt == "text":
        click.echo(f"{path}: valid" + (f" (env {env})" if env else ""))


def main() -> None:
    """Console entry point: run the CLI; turn a crash into a short message and exit code 3."""
    try:
        cli.main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("ccc: interrupted", err=True)
        raise SystemExit(130) from None
    except Exception as exc:  # a bug in ccc: say so plainly, without a traceback
        if os.environ.get("CCC_DEBUG"):
            raise
        click.echo(
            f"ccc: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in ccc; run again with CCC_DEBUG=1 for the traceback.",
            err=True,
        )
        raise SystemExit(EXIT_INTERNAL) from None
