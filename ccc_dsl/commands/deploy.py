"""`ccc plan`, `ccc apply`, `ccc destroy` and `ccc state ...`: a thin layer over ccc_dsl.deploy.

The plan goes to stdout in the chosen format; every step of an apply is logged to stderr.
Exit codes: 0 done (or no changes), 1 bad input, a refused plan or a failed host, 2 usage
(and `ccc plan --detailed-exitcode` when there are changes), 3 internal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from ccc_dsl.commands.common import (
    EXISTING,
    EXIT_INVALID,
    emit_diagnostics,
    env_option,
    epilog,
    repo_path,
)
from ccc_dsl.util import did_you_mean
from ccc_dsl.views.terminal import use_color

if TYPE_CHECKING:  # the deploy core is heavy (the compiler): imported when a command runs
    from ccc_dsl.deploy.apply import Env, Planned
    from ccc_dsl.deploy.plan import Plan
    from ccc_dsl.deploy.state import State
    from ccc_dsl.manifest.model import Model

PLAN_FORMATS = ("text", "markdown", "json")
EXIT_CHANGES = 2


def _fail(message: str, hint: str | None = None) -> NoReturn:
    click.echo(f"ccc: {message}" + (f"\n  hint: {hint}" if hint else ""), err=True)
    raise SystemExit(EXIT_INVALID)


def _log(message: str) -> None:
    click.echo(f"  {message}", err=True)


def _show(plan: Plan, fmt: str) -> None:
    if fmt == "json":
        from ccc_dsl.views.plan_json import render_json

        click.echo(render_json(plan), nl=False)
    elif fmt == "markdown":
        from ccc_dsl.views.plan_markdown import render_markdown

        click.echo(render_markdown(plan), nl=False)
    else:
        from ccc_dsl.views.plan_text import render_text

        click.echo(render_text(plan, color=use_color(sys.stdout)), nl=False)


def _planned(path: Path, env: str | None, *, refresh: bool = True,
             destroy: bool = False) -> Planned:
    from ccc_dsl.deploy.apply import plan_env
    from ccc_dsl.deploy.state import StateError
    from ccc_dsl.util import paused_gc_for_good

    try:
        with paused_gc_for_good():  # the plan lives until the command ends: no rescans of it
            planned = plan_env(repo_path(path), env, refresh=refresh, destroy=destroy)
    except StateError as exc:
        _fail(str(exc))
    if isinstance(planned, list):
        emit_diagnostics(planned, "text")
        raise SystemExit(EXIT_INVALID)
    return planned


def _refuse_errors(planned: Planned, fmt: str = "text") -> None:
    if planned.plan.errors:
        if fmt == "text":
            _show(planned.plan, fmt)
        emit_diagnostics(planned.plan.errors, "text")
        _fail("the plan can't be carried out (see the errors above)")


@click.command("plan", short_help="Show what `ccc apply` would change.", epilog=epilog(
    "ccc plan examples --env staging -out staging.plan",
    "planned (with --detailed-exitcode: 0 no changes, 2 changes)",
    "errors in the repo, or the plan can't be carried out"))
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
@click.option("-out", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the plan (with the exact bundle) for `ccc apply FILE`.")
@click.option("--refresh", type=click.BOOL, default=True, show_default=True,
              help="Read what the target really runs first (`--refresh=false`: trust the "
                   "state).")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 without changes, 2 with changes, 1 on an error.")
@click.option("--format", "fmt", type=click.Choice(PLAN_FORMATS), default="text",
              show_default=True, help="text for the terminal, markdown for a pull request "
                                      "comment, json for machines.")
def plan_command(path: Path, env: str | None, out: Path | None, refresh: bool,
                 detailed_exitcode: bool, fmt: str) -> None:
    """Show what `ccc apply` would change on the environment's target; changes nothing."""
    planned = _planned(path, env, refresh=refresh)
    _refuse_errors(planned, fmt)
    _show(planned.plan, fmt)
    if out is not None:
        from ccc_dsl.deploy.planfile import SavedPlan, write_planfile

        write_planfile(out, SavedPlan(planned.env.root.resolve(), planned.plan,
                                      planned.desired, planned.with_files().files))
        click.echo(f"saved the plan to {out}; carry it out with `ccc apply {out}`", err=True)
    if detailed_exitcode and planned.plan.has_changes:
        raise SystemExit(EXIT_CHANGES)


def _confirm(plan: Plan, auto_approve: bool) -> None:
    if auto_approve or not plan.has_changes:
        return
    if not sys.stdin.isatty():
        _fail("not applied: no terminal to ask on", "review the plan, then pass "
              "--auto-approve (or apply a saved plan: `ccc plan -out FILE`, `ccc apply FILE`)")
    answer = click.prompt(f"Do you want to {plan.operation} these changes? Only 'yes' will "
                          "be accepted", default="", show_default=False)
    if answer.strip() != "yes":
        _fail(f"{plan.operation} cancelled")


def _run(planned: Planned, operation: str, *, saved: bool, auto_approve: bool) -> None:
    """Lock, check, confirm, carry out, unlock; exit 1 when a host failed."""
    from ccc_dsl.deploy.apply import ApplyError, carry_out, locked
    from ccc_dsl.deploy.progress import host_bars
    from ccc_dsl.deploy.state import LockError, StateError

    try:
        with locked(planned.env.backend, operation, _log):
            if not saved:
                _confirm(planned.plan, auto_approve)
            with host_bars(planned.env.hosts, sys.stderr) as bars:
                outcome = carry_out(planned, _log, bars)
    except LockError as exc:
        hint = (f"wait for it to finish; if its process is gone, `ccc state unlock "
                f"{exc.info.id}`" if exc.info else None)
        _fail(str(exc), hint)
    except (ApplyError, StateError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted: the lock was released; the target runs a whole bundle (the old or "
              "the new one); run `ccc plan` to see where things stand")
    if outcome.failed:
        _fail(f"{len(outcome.failed)} host(s) failed: "
              + "; ".join(f"{r.host}: {r.error}" for r in outcome.failed),
              "the state records what each host runs; fix the host and apply again")
    if outcome.results or planned.plan.has_changes:
        click.echo(f"{operation.capitalize()} complete: {_done(planned.plan)}")


def _done(plan: Plan) -> str:
    c = plan.counts()
    return f"{c['add']} added, {c['change']} changed, {c['destroy']} destroyed."


def _saved(file: Path, env: str | None) -> Planned:
    from ccc_dsl.deploy.apply import Planned
    from ccc_dsl.deploy.planfile import PlanFileError, read_planfile
    from ccc_dsl.manifest import ROOT_FILE
    from ccc_dsl.manifest.loader import load_repo

    try:
        saved = read_planfile(file)
    except PlanFileError as exc:
        _fail(str(exc))
    root = saved.root if (saved.root / ROOT_FILE).is_file() else repo_path(Path("."))
    loaded = load_repo(root, env)
    if loaded.model is None:
        emit_diagnostics(loaded.diagnostics, "text")
        raise SystemExit(EXIT_INVALID)
    if loaded.model.env != saved.plan.env:
        _fail(f"the plan {file} was made for environment `{saved.plan.env}`, not "
              f"`{loaded.model.env}`", f"pass --env {saved.plan.env}, or make a new plan")
    opened = _open(loaded.model, root)
    if opened.target_label != saved.plan.target:
        _fail(f"the plan {file} was made for target {saved.plan.target}, and the environment "
              f"now deploys to {opened.target_label}; make a new plan")
    return Planned(opened, saved.plan, saved.desired, saved.files)


def _open(model: Model, root: Path) -> Env:
    from ccc_dsl.deploy.apply import open_env
    from ccc_dsl.diagnostics import Diagnostic

    opened = open_env(model, root)
    if isinstance(opened, Diagnostic):
        emit_diagnostics([opened], "text")
        raise SystemExit(EXIT_INVALID)
    return opened


def _is_planfile(path: Path) -> bool:
    return path.is_file() and path.name != "ccc.yaml"


@click.command("apply", epilog=epilog(
    "ccc plan examples -out staging.plan && ccc apply staging.plan",
    "applied, or nothing to do",
    "errors, a stale or edited plan, a refusal, or a host failed"))
@click.argument("target", metavar="[PATH | PLANFILE]", type=EXISTING, default=Path("."))
@env_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (for CI).")
def apply_command(target: Path, env: str | None, auto_approve: bool) -> None:
    """Carry out a plan on the environment's target.

    With a config repo PATH: plan, print the plan, ask (on a terminal; elsewhere pass
    --auto-approve). With a PLANFILE from `ccc plan -out`: carry out exactly that plan, or
    refuse it when the state moved on (stale), it is for another environment, or it was
    edited.
    """
    if _is_planfile(target):
        _run(_saved(target, env), "apply", saved=True, auto_approve=True)
        return
    planned = _planned(target, env)
    _refuse_errors(planned)
    _show(planned.plan, "text")
    _run(planned, "apply", saved=False, auto_approve=auto_approve)


@click.command("destroy", short_help="Remove what the environment's target runs.", epilog=epilog(
    "ccc destroy examples --env staging --auto-approve",
    "destroyed, or nothing to do",
    "errors, a refusal, or a host failed"))
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
@click.option("--auto-approve", is_flag=True, help="Destroy without asking (for CI).")
def destroy_command(path: Path, env: str | None, auto_approve: bool) -> None:
    """Remove what the environment's target runs and forget its resources."""
    planned = _planned(path, env, destroy=True)
    _refuse_errors(planned)
    _show(planned.plan, "text")
    _run(planned, "destroy", saved=False, auto_approve=auto_approve)


# -- ccc state ---------------------------------------------------------------------------


def _state_env(path: Path, env: str | None) -> Env:
    from ccc_dsl.manifest.loader import load_repo

    root = repo_path(path)
    loaded = load_repo(root, env)
    if loaded.model is None:
        emit_diagnostics(loaded.diagnostics, "text")
        raise SystemExit(EXIT_INVALID)
    return _open(loaded.model, root)


def _load(opened: Env) -> State:
    from ccc_dsl.deploy.state import StateError

    try:
        state = opened.backend.load()
    except StateError as exc:
        _fail(str(exc))
    if state is None:
        _fail(f"no state yet at {opened.backend.location}", "`ccc apply` writes it")
    return state


def _resource_or_fail(state: State, addr: str) -> None:
    if addr not in state.resources:
        _fail(f"no resource `{addr}` in the state",
              did_you_mean(addr, set(state.resources)) or "`ccc state list` lists them")


@click.group("state", epilog=epilog(
    "ccc state list examples --env staging", "done", "see each subcommand's --help"))
def state_group() -> None:
    """Read and repair an environment's state (what ccc last deployed)."""


@state_group.command("list", epilog=epilog(
    "ccc state list examples --env staging",
    "listed",
    "no such environment, or the state can't be read"))
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text",
              show_default=True, help="Output format.")
def state_list(path: Path, env: str | None, fmt: str) -> None:
    """List the resources in the state, one address a line."""
    state = _load(_state_env(path, env))
    if fmt == "json":
        click.echo(json.dumps(sorted(state.resources), indent=2))
    else:
        for addr in sorted(state.resources):
            click.echo(addr)


@state_group.command("show", short_help="Show one resource of the state as JSON.", epilog=epilog(
    "ccc state show skill_group.sales examples",
    "shown",
    "no such resource, or the state can't be read"))
@click.argument("address")
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
def state_show(address: str, path: Path, env: str | None) -> None:
    """Show one resource of the state as JSON (secrets are references only)."""
    state = _load(_state_env(path, env))
    _resource_or_fail(state, address)
    click.echo(json.dumps(state.resources[address].to_json(), indent=2, sort_keys=True,
                          ensure_ascii=False))


@state_group.command("rm", short_help="Forget a resource (the target keeps running it).",
                     epilog=epilog(
    "ccc state rm agent.alice examples",
    "forgotten",
    "no such resource, or the state is locked"))
@click.argument("address")
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
def state_rm(address: str, path: Path, env: str | None) -> None:
    """Forget a resource (the target keeps running it; the next plan creates it again)."""
    from ccc_dsl.deploy.apply import locked
    from ccc_dsl.deploy.state import StateError

    opened = _state_env(path, env)
    try:
        with locked(opened.backend, "state rm", _log):
            state = _load(opened)
            _resource_or_fail(state, address)
            del state.resources[address]
            state.serial += 1
            opened.backend.write(state)
    except StateError as exc:
        _fail(str(exc))
    click.echo(f"removed {address} from the state (serial {state.serial})")


@state_group.command("pull", epilog=epilog(
    "ccc state pull examples > staging.state.json",
    "printed",
    "the state can't be read"))
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
def state_pull(path: Path, env: str | None) -> None:
    """Print the whole state document (JSON) to stdout."""
    click.echo(_load(_state_env(path, env)).to_bytes().decode("utf-8"), nl=False)


@state_group.command("unlock", epilog=epilog(
    "ccc state unlock 0b7e3c1e-... examples",
    "unlocked",
    "the lock has another ID, or the state can't be read"))
@click.argument("lock_id", metavar="ID")
@click.argument("path", type=EXISTING, default=Path("."))
@env_option
def state_unlock(lock_id: str, path: Path, env: str | None) -> None:
    """Force the state's lock open (when the process holding it is gone)."""
    from ccc_dsl.deploy.state import StateError

    opened = _state_env(path, env)
    try:
        held = opened.backend.lock_info()
        opened.backend.unlock(lock_id)
    except StateError as exc:
        _fail(str(exc))
    click.echo(f"unlocked {opened.backend.location}"
               + (f" (was {held.describe()})" if held else ""))


COMMANDS: list[click.Command] = [plan_command, apply_command, destroy_command, state_group]
