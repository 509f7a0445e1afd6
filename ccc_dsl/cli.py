"""The `ccc` command line: a thin layer over the pipeline stages.

Exit codes (as CI expects): 0 success; 1 the input is wrong; 2 usage error; 3 an internal error
(a bug in ccc, reported without a traceback unless CCC_DEBUG is set).
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from pathlib import Path

import click

from ccc_dsl import __version__, refuse_pydantic_plugins
from ccc_dsl.commands.common import (
    EXISTING,
    EXIT_INTERNAL,
    EXIT_INVALID,
    complete_flow,
    emit_diagnostics,
    env_option,
    epilog,
    format_option,
    repo_path,
)
from ccc_dsl.diagnostics import Diagnostic, has_errors, sorted_diagnostics
from ccc_dsl.views.terminal import use_color

# Commands defined in ccc_dsl/commands/ (one module per group, each with a `COMMANDS` list),
# by name -> module: a module is imported when one of its commands runs (or on `ccc --help`),
# so a warm `ccc plan` doesn't pay for `ccc serve`'s imports.
COMMAND_MODULES: dict[str, str] = {
    "plan": "deploy", "apply": "deploy", "destroy": "deploy", "state": "deploy",
    "init": "init", "schema": "init", "lsp": "init", "explain": "explain", "serve": "serve",
}


class _LazyGroup(click.Group):
    """A group that registers the commands of COMMAND_MODULES when they are first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            for command in import_module(f"ccc_dsl.commands.{module}").COMMANDS:
                self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ccc")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """ccc: call-center configuration as code, and an IVR compiler."""
    # the renderers paint only when use_color says so (NO_COLOR, FORCE_COLOR, a terminal);
    # click.echo must not strip what they painted because stdout is a pipe (FORCE_COLOR=1 | cat)
    ctx.color = True


@cli.command(short_help="Validate the manifests and flows; report every problem.", epilog=epilog(
    "ccc validate examples --env production --format github",
    "valid (warnings alone don't fail)", "errors were found"))
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
@format_option
def validate(path: Path, env: str | None, fmt: str) -> None:
    """Validate the manifests and flows of the config repo at PATH; report every problem."""
    from ccc_dsl.cache import cache_dir, cached_diagnostics, repo_snapshot

    path = repo_path(path)
    snapshot = repo_snapshot(path) if cache_dir() is not None else None

    def run_pipeline() -> list[Diagnostic]:
        from ccc_dsl.manifest import prefetch

        with prefetch.running(snapshot or ()):  # the YAML parsed ahead on a second core
            from ccc_dsl.pipeline import check_repo  # heavy: only imported on a cache miss
            from ccc_dsl.util import paused_gc

            with paused_gc():  # a big repo is millions of objects: don't rescan them
                return check_repo(path, env).diagnostics

    diagnostics = cached_diagnostics(path, env, run_pipeline, snapshot)
    emit_diagnostics(diagnostics, fmt)
    if has_errors(diagnostics):
        raise SystemExit(EXIT_INVALID)
    if fmt == "text":
        click.echo(f"{path}: valid" + (f" (env {env})" if env else ""))


def _fmt_stdin(check: bool, show_diff: bool) -> None:
    """`ccc fmt -`, for editors: stdin formatted to stdout. On syntax errors the input comes
    back unchanged (an editor that replaces its buffer with the output loses nothing), the
    errors go to stderr, and the exit code is 1."""
    import shutil
    import tempfile
    from dataclasses import replace

    from ccc_dsl.grammar.formatter import format_file
    from ccc_dsl.grammar.parser import MAX_FLOW_BYTES
    from ccc_dsl.views.diagnostics import render

    data = sys.stdin.buffer.read(MAX_FLOW_BYTES + 1)
    with tempfile.TemporaryDirectory() as tmp:  # format_file's checks, exactly, on the bytes
        staged = Path(tmp) / "stdin.ivr"
        staged.write_bytes(data)
        result = format_file(staged)
    if result.formatted is None:
        problems = [replace(d, span=replace(d.span, file="<stdin>")) if d.span else d
                    for d in result.diagnostics]
        text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
        click.echo(render(sorted_diagnostics(problems), "text", color=use_color(sys.stderr),
                          sources={"<stdin>": text}), err=True)
        if not (check or show_diff):
            sys.stdout.buffer.write(data)
            shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer)  # the rest of an oversize one
            sys.stdout.buffer.flush()
        raise SystemExit(EXIT_INVALID)
    if show_diff:
        click.echo(result.diff().replace(str(staged), "-"), nl=False)
    elif check:
        if result.changed:
            click.echo("would reformat -", err=True)
    else:
        click.echo(result.formatted, nl=False)
    if check and result.changed:
        raise SystemExit(EXIT_INVALID)


@cli.command("fmt", short_help="Format .ivr files in the one canonical layout.", epilog=epilog(
    "ccc fmt --check examples/flows    (stdin to stdout: ccc fmt - < main.ivr)",
    "formatted, or nothing to do", "syntax errors, or with --check a file would change"))
@click.argument("paths", nargs=-1,
                type=click.Path(exists=True, path_type=Path, allow_dash=True))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print a diff of changes.")
def fmt_command(paths: tuple[Path, ...], check: bool, show_diff: bool) -> None:
    """Format the .ivr files in PATHS (default: the current folder) in the one canonical layout;
    `ccc fmt -` formats stdin to stdout (for editors)."""
    from ccc_dsl.grammar.formatter import format_file, ivr_files
    from ccc_dsl.util import write_file_atomic

    if Path("-") in paths:
        if len(paths) > 1:
            raise click.UsageError("`-` (stdin) can't be mixed with other paths")
        _fmt_stdin(check, show_diff)
        return

    changed, failed, files = 0, 0, ivr_files(list(paths) or [Path(".")])
    for path in files:
        result = format_file(path)
        if result.formatted is None:
            failed += 1
            emit_diagnostics(result.diagnostics, "text")
            continue
        if not result.changed:
            continue
        changed += 1
        if show_diff:
            click.echo(result.diff(), nl=False)
        if check:
            click.echo(f"would reformat {path}")
        elif not show_diff:
            try:
                write_file_atomic(path, result.formatted.encode("utf-8"))
            except OSError as exc:
                click.echo(f"ccc: can't write {path}: {exc.strerror or exc}", err=True)
                raise SystemExit(EXIT_INVALID) from None
            click.echo(f"reformatted {path}")
    verb = "would be reformatted" if check or show_diff else "reformatted"
    click.echo(f"{changed} file(s) {verb}, {len(files) - changed - failed} unchanged"
               + (f", {failed} with syntax errors" if failed else ""), err=True)
    if failed or (check and changed):
        raise SystemExit(EXIT_INVALID)


@cli.command(short_help="Print a compiled flow (.ccb) readably.", epilog=epilog(
    "ccc disasm build/main.ccb", "printed", "the file can't be read or is not a valid .ccb"))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people; json for machines.")
def disasm(file: Path, fmt: str) -> None:
    """Print a compiled flow (.ccb) readably: header, constants, nodes, exits, DSL lines."""
    import json

    from ccc_runtime.bytecode import BytecodeError, decode, disassemble, image_to_json

    try:
        image = decode(file.read_bytes())
    except OSError as exc:
        click.echo(f"ccc: {file}: can't read: {exc.strerror}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    except BytecodeError as exc:
        click.echo(f"ccc: {file}: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    if fmt == "json":
        click.echo(json.dumps(image_to_json(image), ensure_ascii=False, indent=2))
    else:
        click.echo(disassemble(image), nl=False)


@cli.command("compile", short_help="Compile the repo into a runtime bundle.", epilog=epilog(
    "ccc compile examples --env staging -o build/staging",
    "compiled and written", "errors (nothing is written), or the folder can't be written"))
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the bundle (default: PATH/build); replaced as a whole.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people; json for machines.")
def compile_command(path: Path, env: str | None, out_dir: Path | None, fmt: str) -> None:
    """Compile the config repo at PATH into a runtime bundle: one FLOW.ccb per flow, bundle.json
    (what the runtime needs at call time), the prompt audio, build.json (hashes, sources, time
    to agent) and manifest.json (every file's hash). Writes nothing when there are errors."""
    from ccc_runtime.digest import MANIFEST_FILE
    from ccc_runtime.rundir import write_tree

    from ccc_dsl.pipeline import cached_bundle
    from ccc_dsl.util import paused_gc_for_good
    from ccc_dsl.views import compile as view

    with paused_gc_for_good():  # one command, then the process exits: no rescanning the build
        built = cached_bundle(path, env, verify=False)
    build = built.build
    diagnostics = sorted_diagnostics([*build.diagnostics, *(
        d for d in built.diagnostics if d not in build.diagnostics)])
    failed = not built.ok
    target = out_dir if out_dir is not None else (path if path.is_dir() else path.parent) / "build"
    if not failed and target.is_dir() and not (target / MANIFEST_FILE).is_file() and any(
            target.iterdir()):  # replacing it as a whole would delete someone's files
        click.echo(f"ccc: {target} holds files and no {MANIFEST_FILE}, so it is no bundle "
                   "folder; not replacing it (give -o an empty or new folder)", err=True)
        raise SystemExit(EXIT_INVALID)
    try:
        if not failed:  # only what changed is written; the folder switched as a whole
            write_tree(built.files, target, reuse=True)
    except OSError as exc:
        click.echo(f"ccc: can't write {target}: {exc.strerror or exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    if fmt == "json":
        click.echo(view.render_json(built, diagnostics, target))
    else:
        text = view.render_text(built, diagnostics, target, color=use_color(sys.stdout))
        if text:
            click.echo(text)
    if failed:
        raise SystemExit(EXIT_INVALID)


@cli.command(short_help="Draw a flow as a Mermaid, DOT or SVG graph.", epilog=epilog(
    "ccc graph main examples --format svg > main.svg",
    "drawn", "no such flow, the flow's file has errors, or svg without Graphviz"))
@click.argument("flow", shell_complete=complete_flow)
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg"]),
              default="mermaid", show_default=True,
              help="mermaid renders in pull requests; svg needs Graphviz `dot`.")
def graph(flow: str, path: Path, env: str | None, fmt: str) -> None:
    """Draw FLOW of the config repo at PATH: nodes say what they do, edges the key or exit."""
    from ccc_dsl.codes import SINGLE_FILE_STAGES, stage_of
    from ccc_dsl.compiler.passes.dead_ends import as_run
    from ccc_dsl.pipeline import check_repo
    from ccc_dsl.util import did_you_mean
    from ccc_dsl.views.graph import RenderError, render

    check = check_repo(path, env)
    unknown_env = [d for d in check.diagnostics if d.code == "M204"] if env else []
    if unknown_env:  # a typo in --env must not draw the flow as if it were right
        emit_diagnostics(unknown_env, "text")
        raise SystemExit(EXIT_INVALID)
    flows = check.analysis.program.flows if check.analysis is not None else {}
    if flow not in flows:
        errors = [d for d in check.diagnostics
                  if d.is_error and stage_of(d.code) in SINGLE_FILE_STAGES]
        if errors:
            emit_diagnostics(errors, "text")
        hint = did_you_mean(flow, set(flows))
        click.echo(f"ccc: no flow `{flow}` in {path}" + (f"; {hint}" if hint else ""), err=True)
        raise SystemExit(EXIT_INVALID)
    assert check.analysis is not None
    try:
        click.echo(render(as_run(flows[flow], check.analysis.program), fmt), nl=False)
    except RenderError as exc:
        click.echo(f"ccc: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None


def _workers(param: click.Parameter, value: str) -> int:
    """`-n`: a number of processes (1 to 64), or `auto` for one per core."""
    from ccc_dsl.util import cores

    if value == "auto":
        return cores()
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise click.BadParameter("expected auto or a number from 1 to 64", param=param)
    return int(value)


def _not_nan(param: click.Parameter, value: float | None) -> float | None:
    """`nan` passes click's range check but would make every comparison false."""
    if value is not None and value != value:
        raise click.BadParameter("expected a number from 0 to 100", param=param)
    return value


@cli.command("test", short_help="Run the flow tests and report their coverage.", epilog=epilog(
    "ccc test examples --min-coverage 100 --junit-xml report.xml",
    "every test passed (and coverage reached --min-coverage)",
    "a test failed, a test file has errors, no test ran, or coverage is too low"))
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
@click.option("-k", "pattern", metavar="PATTERN",
              help="Run only tests whose file::name contains PATTERN (or matches it as a glob).")
@click.option("--junit-xml", "junit", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the results as JUnit XML to FILE (for CI test reports).")
@click.option("--min-coverage", type=click.FloatRange(0, 100), metavar="N",
              callback=lambda _ctx, param, value: _not_nan(param, value),
              help="Fail when any flow's edge coverage is below N percent.")
@click.option("--changed", is_flag=True,
              help="Run only tests that failed last time or ran through a flow that changed "
                   "since (and new or edited tests).")
@click.option("-n", "workers", default="1", metavar="N|auto", show_default=True,
              callback=lambda _ctx, param, value: _workers(param, value),
              help="Run the tests on N processes (auto: one per core); same report.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people; json for machines.")
def test_command(path: Path, env: str | None, pattern: str | None, junit: Path | None,
                 min_coverage: float | None, changed: bool, workers: int, fmt: str) -> None:
    """Run the flow tests of the config repo at PATH (every *.yaml/*.yml under its tests/,
    subfolders too), or the test files under PATH, in the simulator; report failures and the
    coverage of every flow. Exit 1 when -k matches no test."""
    from functools import partial

    from ccc_dsl.flowtest import prebuild

    if workers > 1:  # the repo's build starts on a second core before the imports below
        prebuild.start_early(path, env)
    from ccc_dsl.flowtest.parallel import run_parallel
    from ccc_dsl.flowtest.runner import run_tests
    from ccc_dsl.flowtest.select import recording
    from ccc_dsl.views import testreport

    report = run_tests(path, env, pattern,
                       recording(partial(run_parallel, workers=workers), changed),
                       prebuild=workers > 1)
    if junit is not None:
        from ccc_dsl.views.junit import write_junit  # xml.etree: only when asked for

        try:
            write_junit(report, junit)
        except OSError as exc:
            raise click.FileError(str(junit), exc.strerror or str(exc)) from None
    if fmt == "json":
        click.echo(testreport.render_json(report, min_coverage))
    else:
        click.echo(testreport.render_text(report, min_coverage, color=use_color(sys.stdout)))
    if not report.ok(min_coverage):
        raise SystemExit(EXIT_INVALID)


@cli.command(short_help="Place one simulated call into a flow and trace it.", epilog=epilog(
    'ccc simulate main examples --caller +8613912345678 --keys "1,3" --agent dave=available',
    "the call ran (whatever its outcome)", "bad input: no such flow, a bad stub, repo errors"))
@click.argument("flow", shell_complete=complete_flow)
@click.argument("path", type=EXISTING, default=Path("."))
@click.option("--caller", required=True, metavar="NUMBER", help="The calling number.")
@click.option("--called", metavar="NUMBER",
              help="The number dialled (default: a number bound to FLOW).")
@click.option("--at", "at", metavar="ISO",
              help="When the call happens, e.g. 2026-12-25T10:00+08:00 (default: now).")
@click.option("--keys", default="", metavar="SCRIPT",
              help='Key presses: "1,#,-,2@12s" (- is silence, @ a time after the call began).')
@click.option("--stub", "stubs", multiple=True, metavar="FUNCTION=FILE.json",
              help="Reply to a function with the JSON in FILE (repeatable).")
@click.option("--agent", "agent_states", multiple=True, metavar="NAME=STATE",
              help="Set an agent's state: available, busy, after-call-work, break, offline "
                   "(repeatable; agents start offline).")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
              help="A SIP header of the caller's INVITE, e.g. X-Customer-Tier=gold "
                   "(repeatable; the flow reads call.headers.x_customer_tier).")
@click.option("--source", metavar="ADDRESS",
              help="The IP address the INVITE came from (call.source).")
@env_option
@click.option("--interactive", is_flag=True,
              help="When the key script runs out, ask at the keyboard for each key.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people; json for machines.")
def simulate(flow: str, path: Path, caller: str, called: str | None, at: str | None, keys: str,
             stubs: tuple[str, ...], agent_states: tuple[str, ...], headers: tuple[str, ...],
             source: str | None, env: str | None, interactive: bool, fmt: str) -> None:
    """Place one simulated call into FLOW of the config repo at PATH and print its trace,
    every step with its DSL location."""
    from datetime import UTC, datetime

    from ccc_runtime.acd import AgentState
    from ccc_runtime.calldata import CallData

    from ccc_dsl.flowtest.model import parse_headers, parse_instant, parse_key_script, parse_source
    from ccc_dsl.simulate import load_stub
    from ccc_dsl.simulate import simulate as run_simulation
    from ccc_dsl.views import simulation as view

    try:
        presses = parse_key_script(keys)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--keys") from None
    try:
        moment = parse_instant(at) if at else datetime.now(UTC)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    agents: dict[str, AgentState] = {}
    for item in agent_states:
        user, _, state = item.partition("=")
        if state not in {s.value for s in AgentState}:
            raise click.BadParameter(f"{item!r}: expected NAME="
                                     + "|".join(s.value for s in AgentState), param_hint="--agent")
        agents[user] = AgentState(state)
    try:
        sent = parse_headers(dict(h.partition("=")[::2] for h in headers))
        address = parse_source(source) if source is not None else ""
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--header/--source") from None
    replies: dict[str, object] = {}
    problems: list[Diagnostic] = []
    for spec in stubs:
        loaded = load_stub(spec)
        if isinstance(loaded, Diagnostic):
            problems.append(loaded)
        else:
            replies[loaded[0]] = loaded[1]
    if problems:
        emit_diagnostics(problems, fmt)
        raise SystemExit(EXIT_INVALID)

    ended: list[bool] = []

    def ask(question: str) -> str | None:
        """A key from the keyboard; end of input is silence, for this wait and every later one
        (so `</dev/null` or Ctrl-D finishes the call instead of aborting it)."""
        if ended:
            return None
        click.echo(f"{question}: ", nl=False, err=True)
        line = sys.stdin.readline(256)
        if not line:
            ended.append(True)
            click.echo("(end of input: silence)", err=True)
            return None
        return line.strip() or None

    sim = run_simulation(path, flow, caller=caller, called=called, at=moment,
                         presses=presses, stubs=replies, agents=agents, env=env,
                         ask=ask if interactive else None,
                         data=CallData.of(called or "", address, sent))
    if sim.result is None:
        emit_diagnostics(sim.diagnostics, fmt)
        raise SystemExit(EXIT_INVALID)
    click.echo(view.render_json(sim) if fmt == "json" else view.render_text(sim))


def main() -> None:
    """Console entry point: run the CLI; turn a crash into a short message and exit code 3."""
    refuse_pydantic_plugins()  # manifests name secrets: no third-party plugin sees them
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
