"""`ccc init`, `ccc schema` and `ccc lsp`: a new config repo that validates and tests at once,
the JSON Schemas an editor validates the manifests with, and the language server.

The templates and schemas are package data (ccc_dsl/templates/, ccc_dsl/schemas/), so what
`pip install` gives is enough: `templates/example` is the checkout's examples/ (a link in the
source tree, copied into the wheel). A new repo gets its own copy of the schemas in schemas/,
which its YAML files name in `# yaml-language-server: $schema=` comments: a path that works on
every machine, unlike one into site-packages.
"""

from __future__ import annotations

import json
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path, PurePosixPath

import click

from ccc_dsl.commands.common import EXIT_INVALID, epilog

SCHEMA_DIR = "schemas"
"""Where `ccc init` puts the schemas in a new repo, and `ccc schema` by default."""

SKIPPED = frozenset({"build", "__pycache__"})
"""Folders of the example that are outputs, not sources (hidden folders are skipped too)."""

GITIGNORE = "# what ccc writes: compiled bundles, deploy state and local runtimes\nbuild/\n.ccc/\n"

_EXAMPLE_SCHEMA_PREFIX = "$schema=../schemas/"
"""How the checkout's examples/ names the schemas (one folder up); a new repo has them inside."""


def _package(*parts: str) -> Traversable:
    return files("ccc_dsl").joinpath(*parts)


def _walk(folder: Traversable, prefix: PurePosixPath) -> list[tuple[PurePosixPath, Traversable]]:
    """Every file below `folder` with its relative path, sorted; no recursion limit is needed
    (the templates are ours), but output folders and hidden files are left out."""
    found: list[tuple[PurePosixPath, Traversable]] = []
    pending = [(folder, prefix)]
    while pending:
        here, rel = pending.pop()
        for entry in here.iterdir():
            if entry.name.startswith(".") or entry.name in SKIPPED:
                continue
            if entry.is_dir():
                pending.append((entry, rel / entry.name))
            elif entry.is_file():
                found.append((rel / entry.name, entry))
    return sorted(found, key=lambda item: item[0])


def schema_files() -> dict[str, bytes]:
    """The JSON Schemas shipped with the package: file name -> contents."""
    return {entry.name: entry.read_bytes()
            for entry in sorted(_package("schemas").iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".schema.json")}


def template_files(example: bool) -> dict[str, bytes]:
    """What `ccc init` writes: relative path -> contents (the schemas included)."""
    name = "example" if example else "minimal"
    out: dict[str, bytes] = {}
    for rel, entry in _walk(_package("templates", name), PurePosixPath()):
        data = entry.read_bytes()
        if rel.suffix == ".yaml":
            data = data.replace(_EXAMPLE_SCHEMA_PREFIX.encode(), f"$schema={SCHEMA_DIR}/".encode())
        out[str(rel)] = data
    out[".gitignore"] = GITIGNORE.encode()
    for schema, data in schema_files().items():
        out[f"{SCHEMA_DIR}/{schema}"] = data
    return dict(sorted(out.items()))


def _write_new(target: Path, contents: dict[str, bytes]) -> list[str]:
    """Create every file; the names of those that already exist (then nothing is written)."""
    existing = [rel for rel in contents if (target / rel).exists()]
    if existing:
        return existing
    for rel, data in contents.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as handle:  # "x": never replace a file made since the check
            handle.write(data)
    return []


@click.command("init", short_help="Create a config repo that validates and tests as it is.",
               epilog=epilog("ccc init my-cc && cd my-cc && ccc validate && ccc test",
                             "created", "a file is there already, or the folder can't be written"))
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                default=Path("."))
@click.option("--example", is_flag=True,
              help="Write the full example repo (nine flows, their tests, prompts) instead.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people; json for machines.")
def init_command(directory: Path, example: bool, fmt: str) -> None:
    """Create a config repo in DIRECTORY (default: here) that passes `ccc validate` and
    `ccc test` as it is: an instance, one number, a skill group, a welcome flow that queues for
    it, a flow test, a local environment and the JSON Schemas for the editor. Refuses to
    overwrite a file."""
    contents = template_files(example)
    try:
        existing = _write_new(directory, contents)
    except OSError as exc:
        click.echo(f"ccc: can't write in {directory}: {exc.strerror or exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    if existing:
        click.echo(f"ccc: {directory} already has {', '.join(existing)}; init writes nothing "
                   "over an existing file (choose an empty folder)", err=True)
        raise SystemExit(EXIT_INVALID)
    if fmt == "json":
        click.echo(json.dumps({"directory": str(directory), "files": list(contents)}, indent=2))
        return
    for rel in contents:
        click.echo(f"created {directory / rel}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(f"next: {where}ccc validate && ccc test")


@click.command("schema", short_help="Write the JSON Schemas of the manifests for editors.",
               epilog=epilog("ccc schema --out schemas", "written", "the folder can't be written"))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(SCHEMA_DIR), show_default=True,
              help="Folder to write the schemas into (created if missing).")
def schema_command(out_dir: Path) -> None:
    """Write the JSON Schemas of ccc.yaml and the manifest files (shipped with ccc) into a
    folder, for the YAML language server: run it again after upgrading ccc."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in schema_files().items():
            (out_dir / name).write_bytes(data)
            click.echo(f"wrote {out_dir / name}")
    except OSError as exc:
        click.echo(f"ccc: can't write {out_dir}: {exc.strerror or exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None


@click.command("lsp", short_help="Run the language server for editors (over stdio).",
               epilog=epilog("ccc lsp   (an editor starts it: docs/editors.md)",
                             "shut down and exited as asked, or the editor closed its input",
                             "told to exit without a shutdown first (as LSP says)"))
def lsp_command() -> None:
    """Run the language server over stdio, for an editor to start: diagnostics as you type
    (those of `ccc validate`), formatting, go to definition, references, completion, hover."""
    from ccc_dsl.lsp.server import main  # pygls is only imported by this command

    main()


COMMANDS: list[click.Command] = [init_command, schema_command, lsp_command]
