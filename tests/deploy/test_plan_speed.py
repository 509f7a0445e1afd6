"""What makes a warm `ccc plan` fast, checked as behaviour: the desired state comes from the
cache while the repo is unchanged (and only then), the state is read line by line without
decoding what didn't change, and the command imports none of the compiler, the manifest
models, networkx or aiohttp on that path. Also: old bundles are pruned after an apply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ccc_runtime.digest import BUNDLE_FILE, MANIFEST_FILE
from ccc_runtime.rundir import RuntimeDir
from deploy_helpers import RUNTIME, ccc, edit
from repos import copy_examples

from ccc_dsl.deploy import desired as desired_module
from ccc_dsl.deploy.apply import Planned, carry_out, locked, plan_env
from ccc_dsl.deploy.resources import BUNDLE_JSON, MANIFEST_JSON
from ccc_dsl.deploy.state import LocalBackend, State, StateError

STATE = Path(".ccc/state/staging.json")


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    repo = copy_examples(tmp_path / "repo")
    result = ccc("apply", str(repo), "--auto-approve")
    assert result.exit_code == 0, result.output
    return repo


def _plan(repo: Path) -> Planned:
    planned = plan_env(repo, "staging", refresh=False)
    assert isinstance(planned, Planned), planned
    return planned


def _actions(planned: Planned) -> dict[str, str]:
    return {c.address: c.action for c in planned.plan.changes if c.action != "no-op"}


def test_names_agree_with_the_runtime() -> None:
    assert (BUNDLE_JSON, MANIFEST_JSON) == (BUNDLE_FILE, MANIFEST_FILE)


def test_an_unchanged_repo_is_planned_from_the_cache_and_an_edit_is_not(
        applied: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(applied / "people.yaml", "display_name: Alice", "display_name: Alice W.")
    first = _plan(applied)  # builds and keeps the desired state
    assert _actions(first) == {"agent.alice": "update"}

    def no_build(root: Path, env: str | None) -> None:
        raise AssertionError("built again: the cache was not used")

    monkeypatch.setattr(desired_module, "build_desired", no_build)
    again = _plan(applied)
    assert again.plan.to_json() | {"created": 0} == first.plan.to_json() | {"created": 0}
    assert again.with_files().files == first.with_files().files  # the exact bundle, decoded
    monkeypatch.undo()
    edit(applied / "people.yaml", "display_name: Alice W.", "display_name: Alice")
    assert _actions(_plan(applied)) == {}


def test_a_damaged_cache_entry_is_built_again(applied: Path) -> None:
    _plan(applied)
    entries = list(Path(os.environ["CCC_CACHE_DIR"], "plan").glob("*.json"))
    assert entries
    for entry in entries:
        data = bytearray(entry.read_bytes())
        data[-20] ^= 0x55
        entry.write_bytes(bytes(data))
    assert not _plan(applied).plan.has_changes


def test_the_state_is_one_resource_a_line_and_an_older_layout_still_loads(
        applied: Path) -> None:
    path = applied / STATE
    data = path.read_bytes()
    lines = data.split(b"\n")
    state = LocalBackend(path).load()
    assert state is not None
    assert len(lines) == len(state.resources) + 3  # head, one a line, "]}", end of file
    assert all(line.startswith(b'{"address":') for line in lines[1:-2])
    doc = json.loads(data)  # still one JSON document
    assert [r["address"] for r in doc["resources"]] == sorted(state.resources)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")  # older ccc
    older = LocalBackend(path).load()
    assert older is not None and older.to_bytes() == data
    assert not _plan(applied).plan.has_changes


def test_a_damaged_resource_line_is_an_error_when_read(applied: Path) -> None:
    path = applied / STATE
    text = path.read_text(encoding="utf-8")
    damaged = text.replace('{"address":"agent.alice","attributes":{',
                           '{"address":"agent.alice","attributes":{{', 1)
    assert damaged != text
    path.write_text(damaged, encoding="utf-8")
    state = LocalBackend(path).load()  # lines are decoded when read, not before
    assert state is not None
    with pytest.raises(StateError, match=r"agent\.alice"):
        edit(applied / "people.yaml", "display_name: Alice", "display_name: Alice W.")
        _plan(applied)
    assert ccc("state", "list", str(applied)).exit_code == 0


def test_a_warm_plan_imports_nothing_heavy(applied: Path) -> None:
    script = (
        "import sys\n"
        "from ccc_dsl.cli import cli\n"
        "try:\n"
        f"    cli.main(['plan', {str(applied)!r}, '--refresh=false'], prog_name='ccc')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('pydantic', 'networkx', 'lark', 'aiohttp', 'asyncssh', 'ruamel', 'asyncio',\n"
        "         'ccc_dsl.compiler', 'ccc_dsl.manifest', 'ccc_dsl.pipeline', 'jinja2',\n"
        "         'ccc_dsl.commands.serve', 'ccc_dsl.commands.init', 'ccc_dsl.commands.explain',\n"
        "         'tempfile', 'shutil', 'socket', 'difflib')\n"
        "print('HEAVY', sorted(m for m in sys.modules if m.startswith(heavy)))\n")
    for _ in range(2):  # the first run keeps the desired state, the second uses it
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    assert "No changes." in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_a_cold_plan_of_a_repo_without_templates_imports_no_networkx_or_jinja2(
        tmp_path: Path) -> None:
    """The build imports networkx only for a networkx graph and jinja2 only for a text with
    a placeholder (55279b9): 0.1 s of a cold plan of the bench repo, whose texts have none."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        from gen_manifests import generate
    finally:
        sys.path.pop(0)
    repo = tmp_path / "repo"
    generate(repo, 60, 3)
    root = repo / "ccc.yaml"
    root.write_text(root.read_text(encoding="utf-8").replace(
        "  bench:\n", "  bench:\n    target: {type: local, path: .ccc/runtime/bench}\n", 1),
        encoding="utf-8")
    script = (
        "import sys\n"
        "from ccc_dsl.cli import cli\n"
        "try:\n"
        f"    cli.main(['plan', {str(repo)!r}, '--env', 'bench', '--refresh=false'], "
        "prog_name='ccc')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(\n"
        "    ('networkx', 'jinja2', 'ccc_runtime.templates', 'ccc_dsl.compiler.driver'))))\n")
    env = dict(os.environ, CCC_CACHE_DIR=str(tmp_path / "empty-cache"), NO_COLOR="1")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert "Plan: 62 to add, 0 to change, 0 to destroy." in done.stdout  # + instance, flow
    assert done.stdout.strip().splitlines()[-1] == "LOADED ['ccc_dsl.compiler.driver']"


def test_old_bundles_are_pruned_after_an_apply(applied: Path) -> None:
    edit(applied / "ccc.yaml", "target: {type: local, path: .ccc/runtime/staging}",
         "target: {type: local, path: .ccc/runtime/staging, keep_bundles: 1}")
    rundir = RuntimeDir(applied / RUNTIME)
    seen = [rundir.current()]
    for i in range(3):
        edit(applied / "people.yaml", f"display_name: Alice Wang{' x' * i}\n",
             f"display_name: Alice Wang{' x' * (i + 1)}\n")
        for j, digest in enumerate(seen):  # installed one a second, as it were
            if digest is not None and rundir.has(digest):
                os.utime(rundir.bundle_path(digest), (1000 + j, 1000 + j))
        result = ccc("apply", str(applied), "--auto-approve")
        assert result.exit_code == 0, result.output
        seen.append(rundir.current())
    assert len(set(seen)) == 4
    assert "pruned 1 old bundle(s)" in result.output
    # current, the bundle it replaced (calls in progress may use it) and keep_bundles more
    assert {p.name for p in rundir.bundles.iterdir()} == set(seen[1:])


def test_apply_reports_each_host_step_to_the_progress_callback(applied: Path) -> None:
    edit(applied / "people.yaml", "display_name: Alice", "display_name: Alice W.")
    planned = _plan(applied)
    steps: list[tuple[str, str]] = []
    log: list[str] = []
    with locked(planned.env.backend, "apply", log.append):
        outcome = carry_out(planned, log.append, lambda h, m: steps.append((h, m)))
    assert not outcome.failed
    assert steps and {h for h, _ in steps} == {"local"}
    assert any(m.startswith("switching current to") for _, m in steps)
    assert not any(line.startswith("local: switching") for line in log)  # not twice
    state = LocalBackend(applied / STATE).load()
    assert isinstance(state, State) and state.hosts["local"].known
