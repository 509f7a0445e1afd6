"""What every `ccc` command shares: exit codes, common options, printing diagnostics.

Exit codes (as CI expects): 0 success; 1 the input is wrong; 2 usage error; 3 an internal error
(a bug in ccc, reported without a traceback unless CCC_DEBUG is set).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

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

def repo_path(path: Path) -> Path:
    """The config repo PATH is in, found upward as `ccc test` finds it (`ccc validate` from
    flows/ checks the repo, not a folder without ccc.yaml), spelled as PATH is (relative to
    the current folder for a relative PATH, so diagnostics stay short; absolute for an
    absolute one); PATH itself when it is a file or holds ccc.yaml, or when no folder above
    holds one (the loader then says so at PATH). Every command that reads a repo prints its
    diagnostics through this spelling."""
    if path.is_file() or (path / "ccc.yaml").is_file():  # loader.ROOT_FILE, without pydantic
        return path
    from ccc_dsl.pipeline import find_repo_root  # heavy: only off the usual path

    root = find_repo_root(path)
    if root is None or path.is_absolute():
        return root or path
    try:
        return Path(os.path.relpath(root))
    except ValueError:  # another drive on Windows
        return root


MAX_COMPLETION_FILES = 500
"""Flow files read at most for one completion of a flow name (a TAB press must stay quick)."""


def _completion_root(ctx: click.Context) -> Path:
    """The config repo a command line names: its PATH once typed, else the current folder."""
    given = ctx.params.get("path")
    root = Path(given) if given else Path(".")
    return root.parent if root.is_file() else root


def _root_settings(root: Path) -> dict[str, Any]:
    """ccc.yaml of `root` as plain data, read by the safe YAML reader; {} when unreadable."""
    from ccc_dsl.manifest.yamlsafe import parse_yaml

    path = root / "ccc.yaml"
    try:
        data = parse_yaml(str(path), path.read_bytes()).data
    except OSError:
        return {}
    return data if isinstance(data, dict) else {}


def complete_env(ctx: click.Context, _param: click.Parameter,
                 incomplete: str) -> list[CompletionItem]:
    """Shell completion of `--env`: the environments of the repo's ccc.yaml."""
    environments = _root_settings(_completion_root(ctx)).get("environments")
    names = sorted(str(n) for n in environments) if isinstance(environments, dict) else []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def complete_flow(ctx: click.Context, _param: click.Parameter,
                  incomplete: str) -> list[CompletionItem]:
    """Shell completion of a FLOW argument: the flows the repo's .ivr files define (parsed by
    the parser, so a file with syntax errors offers none)."""
    from ccc_dsl.grammar.parser import parse_file

    root = _completion_root(ctx)
    patterns = _root_settings(root).get("flows") or ["flows/**/*.ivr"]
    files: set[Path] = set()
    for pattern in patterns if isinstance(patterns, list) else []:
        try:
            files.update(root.glob(str(pattern)))
        except (ValueError, NotImplementedError):  # an absolute or malformed pattern
            continue
    names: set[str] = set()
    for file in sorted(files)[:MAX_COMPLETION_FILES]:
        module = parse_file(file).module
        if module is not None:
            names.update(flow.name for flow in module.flows)
    return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]


env_option = click.option("--env", "env", metavar="NAME", shell_complete=complete_env,
                          help="Environment whose values to select.")


def epilog(example: str, ok: str, invalid: str) -> str:
    """A command's help epilog: an example, then what its exit codes mean (the `\\b` lines keep
    click from rewrapping them)."""
    return (f"\b\nExample:\n  {example}\n\n\b\nExit codes:\n  0  {ok}\n  1  {invalid}\n"
            "  2  usage error (an unknown option, a missing argument or path)\n"
            "  3  internal error (a bug in ccc; CCC_DEBUG=1 shows the traceback)")


def emit_diagnostics(diagnostics: list[Diagnostic], fmt: str) -> None:
    """Print diagnostics, sorted by place, to stdout in the chosen format (like ruff and mypy)."""
    ordered = sorted_diagnostics(diagnostics)
    if not ordered and fmt == "text":
        return
    text = render(ordered, fmt, color=use_color(sys.stdout))
    if text:
        click.echo(text)
