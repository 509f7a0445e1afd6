"""`ccc explain CODE`: what a diagnostic means, an example that triggers it and the fix (like
`rustc --explain` and `ruff rule`). Without CODE it lists every code; `--format markdown`
prints docs/diagnostics.md, which a test holds to this output.
"""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

import click

from ccc_dsl.codes import CODES, Code, Stage
from ccc_dsl.commands.common import EXIT_INVALID, epilog
from ccc_dsl.util import did_you_mean

if TYPE_CHECKING:  # the data loads on use: every other command starts without it
    from ccc_dsl.explanations import Explanation

WIDTH = 88

STAGE_HEADINGS: dict[Stage, str] = {
    Stage.YAML: "Y1xx: readable, safe YAML",
    Stage.MANIFEST: "M2xx, M3xx: manifests (schema, environments, references)",
    Stage.DOMAIN: "D4xx: call-center rules",
    Stage.SYNTAX: "P1xx: syntax of .ivr files",
    Stage.FLOW: "P2xx: checks of one .ivr file",
    Stage.RESOLVE: "R5xx: names in flows",
    Stage.ANALYSIS: "A6xx: flow analyses",
    Stage.FLOWTEST: "T7xx: flow tests",
    Stage.DEPLOY: "S9xx: deploy plans",
    Stage.BUNDLE: "B8xx: the runtime bundle",
}


def _where(entry: Explanation) -> str:
    """Which kind of file the example is written in, when it is a whole file."""
    if entry.file is None:
        return ""
    return " (a .ivr file)" if entry.file.endswith(".ivr") else " (a manifest file)"


def _para(text: str, indent: str = "  ") -> str:
    return textwrap.fill(" ".join(text.split()), WIDTH, initial_indent=indent,
                         subsequent_indent=indent)


def render_text(code: Code, entry: Explanation) -> str:
    """The terminal explanation of one code."""
    example = textwrap.indent(entry.example.rstrip("\n"), "    ")
    return "\n".join([
        f"{code.code}: {code.title}",
        f"  {code.severity} in the {code.stage} stage; table: {code.docs}",
        "",
        "What it means",
        _para(entry.means),
        "",
        f"Example{_where(entry)}",
        example,
        "",
        "Fix",
        _para(entry.fix),
    ])


def _json(code: Code, entry: Explanation) -> dict[str, str | None]:
    return {"code": code.code, "stage": str(code.stage), "severity": str(code.severity),
            "title": code.title, "docs": code.docs, "means": " ".join(entry.means.split()),
            "example": entry.example, "example_file": entry.file,
            "fix": " ".join(entry.fix.split())}


def render_markdown() -> str:
    """docs/diagnostics.md: every code, grouped by stage, one heading per code."""
    from ccc_dsl.explanations import explanations

    table = explanations()
    out = [
        "# Diagnostics",
        "",
        "Every code `ccc` reports, with what it means, an example that triggers it and the fix.",
        "`ccc explain CODE` prints the same text in the terminal. This page is generated from",
        "`ccc_dsl/data/explanations.yaml` by `ccc explain --format markdown` (a test checks it",
        "is up to date); the short tables per stage are in the pages each code links to.",
        "",
    ]
    for stage in Stage:
        codes = [c for c in CODES.values() if c.stage is stage]
        if not codes:
            continue
        out += [f"## {STAGE_HEADINGS.get(stage, str(stage))}", ""]
        for code in codes:
            entry = table[code.code]
            fence = "yaml" if (entry.file or "").endswith(".yaml") else "text"
            out += [
                f"### {code.code}",
                "",
                f"**{code.title}** ({code.severity}; table: [{code.docs}]"
                f"({code.docs.removeprefix('docs/')}))",
                "",
                " ".join(entry.means.split()),
                "",
                f"Example{_where(entry)}:",
                "",
                f"```{fence}",
                entry.example.rstrip("\n"),
                "```",
                "",
                f"Fix: {' '.join(entry.fix.split())}",
                "",
            ]
    return "\n".join(out)


def _suggest(word: str) -> str | None:
    """Codes that start with `word` first (`P10` means the P10x family, not the P210 that
    differs by one character), else the closest code."""
    family = [c for c in CODES if c.startswith(word)] if word else []
    if family:
        shown = ", ".join(f"`{c}`" for c in family[:8])
        return f"did you mean {shown}{', ...' if len(family) > 8 else ''}?"
    return did_you_mean(word, set(CODES))


@click.command("explain", short_help="Say what a diagnostic code means, with an example.",
               epilog=epilog("ccc explain D404", "explained", "no such code"))
@click.argument("code", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True,
              help="text for people; json for machines; markdown is docs/diagnostics.md.")
def explain_command(code: str | None, fmt: str) -> None:
    """Explain a diagnostic CODE (e.g. D404): what it means, an example that triggers it and
    the fix. Without CODE, list every code with its title."""
    from ccc_dsl.explanations import explanations

    table = explanations()
    if fmt == "markdown":
        if code is not None:
            raise click.UsageError("--format markdown prints the page of every code: drop CODE")
        click.echo(render_markdown(), nl=False)
        return
    if code is None:
        if fmt == "json":
            click.echo(json.dumps([_json(c, table[c.code]) for c in CODES.values()],
                                  indent=2, ensure_ascii=False))
        else:
            for c in CODES.values():
                click.echo(f"{c.code}  {c.severity!s:<7}  {c.title}")
        return
    entry_code = CODES.get(code.strip().upper())
    if entry_code is None:
        hint = _suggest(code.strip().upper())
        click.echo(f"ccc: unknown code `{code!s:.20}`" + (f"; {hint}" if hint else "")
                   + " (`ccc explain` lists every code)", err=True)
        raise SystemExit(EXIT_INVALID)
    entry = table[entry_code.code]
    if fmt == "json":
        click.echo(json.dumps(_json(entry_code, entry), indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(entry_code, entry))


COMMANDS: list[click.Command] = [explain_command]
