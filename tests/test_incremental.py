"""The build cache is never wrong: after any edit that can change a flow's result, a build
through the cache gives the same bytes and diagnostics as a cold build, and an unchanged repo
is a hit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repos import copy_examples

from ccc_dsl.compiler import cache, incremental
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.pipeline import BundleBuild, build_bundle, cached_bundle

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


pytestmark = pytest.mark.usefixtures("pinned_tool")


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    copy_examples(repo)
    return repo


def _seen(built: BundleBuild) -> tuple[dict[str, bytes], list[Diagnostic], list[Diagnostic]]:
    return built.files, built.build.diagnostics, built.diagnostics


def _same_as_cold(repo: Path, env: str | None = None) -> BundleBuild:
    warm = cached_bundle(repo, env)
    cold = build_bundle(repo, env)
    assert _seen(warm) == _seen(cold)
    assert warm.ok == cold.ok
    if cold.ok:
        assert warm.bundle is not None and sorted(warm.bundle.flows) == sorted(cold.build.flows)
        assert {n: (f.sha256, f.timing) for n, f in warm.build.flows.items()} == {
            n: (f.sha256, f.timing) for n, f in cold.build.flows.items()}
    return warm


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_an_unchanged_repo_is_a_hit_with_the_same_bundle(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = cached_bundle(repo, None)
    assert first.build.analysis is not None  # built cold
    second = _same_as_cold(repo)
    assert second.build.analysis is None  # from the cache
    assert second.digest == first.digest


EDITS: dict[str, Callable[[Path], None]] = {
    "the flow": lambda r: _edit(r / "flows" / "survey.ivr", "survey", "survey "),
    "a sub-flow it calls": lambda r: _edit(r / "flows" / "after_hours.ivr", "timeout 5s",
                                           "timeout 9s"),
    "a prompt": lambda r: _edit(r / "prompts.yaml", "Sorry, that key is not valid.",
                                "Sorry, that key is wrong."),
    "a skill group": lambda r: _edit(r / "people.yaml", "routing: familiar_agent",
                                     "routing: longest_idle"),
    "a function's returns": lambda r: _edit(r / "functions.yaml", "returns: [balance, name, found]",
                                            "returns: [name, found]"),
    "an environment variable": lambda r: _edit(r / "ccc.yaml", "instance_name: AcmeStaging",
                                               "instance_name: AcmeStaging2"),
}


@pytest.mark.parametrize("what", sorted(EDITS))
def test_an_edit_gives_the_cold_result(tmp_path: Path, what: str) -> None:
    repo = _repo(tmp_path)
    for env in (None, "staging"):
        cached_bundle(repo, env)
        assert cached_bundle(repo, env).build.analysis is None  # kept
    EDITS[what](repo)
    for env in (None, "staging"):
        assert _same_as_cold(repo, env).build.analysis is not None  # a miss: built again


def test_a_sub_flow_edit_changes_its_callers_result(tmp_path: Path) -> None:
    """`main` calls `after_hours`: removing its `return` makes the call a dead end (or
    changes the time to agent), and the cached build must say so."""
    repo = _repo(tmp_path)
    before = cached_bundle(repo, None)
    sub = repo / "flows" / "account_lookup.ivr"
    sub.write_text(sub.read_text(encoding="utf-8").replace("return", "hangup"), encoding="utf-8")
    after = _same_as_cold(repo)
    assert _seen(after) != _seen(before)


def test_another_environment_is_another_entry(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    plain = cached_bundle(repo, None)
    staging = _same_as_cold(repo, "production")
    assert staging.build.analysis is not None
    assert staging.files != plain.files


def test_another_compiler_version_is_a_miss_with_the_cold_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Images and build.json name the compiler: an entry or an index image of another
    version must never be reused (the bytes would name the old one)."""
    from ccc_dsl.compiler import driver, results

    repo = _repo(tmp_path)
    before = cached_bundle(repo, None)
    for module in (cache, incremental, driver, results):
        monkeypatch.setattr(module, "COMPILER_VERSION", "0.0.0-other")
    after = _same_as_cold(repo)
    assert after.build.analysis is not None
    assert after.files != before.files and b"0.0.0-other" in after.files["build.json"]


def _compiled(repo: Path, out: Path, env: str | None) -> tuple[int, dict[str, bytes]]:
    """`ccc compile` as a user runs it (the build cache, verify=False, write_tree reuse)."""
    from click.testing import CliRunner

    from ccc_dsl.cli import cli

    args = ["compile", str(repo), "-o", str(out), *(["--env", env] if env else [])]
    code = CliRunner().invoke(cli, args).exit_code
    return code, {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
                  if p.is_file()}


def test_a_damaged_entry_is_a_miss(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    cached_bundle(repo, None)
    base = cache.cache_dir()
    assert base is not None
    for entry in (base / "build").iterdir():
        blob = bytearray(entry.read_bytes())
        blob[len(blob) // 2] ^= 0x01
        entry.write_bytes(bytes(blob))
    assert _same_as_cold(repo).build.analysis is not None


def test_an_entry_damaged_anywhere_is_a_miss(tmp_path: Path) -> None:
    """The header (its size line, the sealed JSON) and the files' bytes after it are all
    checked: any flipped byte, a cut or an appended one is a miss."""
    repo = _repo(tmp_path)
    kept = cached_bundle(repo, None)
    base = cache.cache_dir()
    assert base is not None
    blob = (base / "build" / f"{cache.build_key(repo, None)}.json").read_bytes()
    parsed = cache._entry(blob, base)
    assert parsed is not None and parsed[1] == kept.files
    header = int(blob.split(b"\n", 1)[0])
    for at in (0, 3, header // 2, header + 10, len(blob) // 2, len(blob) - 1):
        damaged = bytearray(blob)
        damaged[at] ^= 0x01
        assert cache._entry(bytes(damaged), base) is None, at
    assert cache._entry(blob[:-1], base) is None
    assert cache._entry(blob + b"x", base) is None
    assert cache._entry(b"", base) is None


def test_a_failed_build_is_kept_with_its_diagnostics(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _edit(repo / "flows" / "main.ivr", "call flow screening", "call flow screenin")
    first = _same_as_cold(repo)
    assert not first.ok
    assert _same_as_cold(repo).build.analysis is None


_FLOWS = sorted(p.name for p in (EXAMPLES / "flows").glob("*.ivr"))
_MUTATIONS = st.sampled_from([
    ("flows", "return", "hangup"),
    ("flows", "timeout 5s", "timeout 6s"),
    ("flows", "queue", "queue "),
    ("prompts.yaml", "tts:", "tts: "),
    ("functions.yaml", "found]", "found, extra]"),
    ("people.yaml", "familiar_agent", "longest_idle"),
])


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(_MUTATIONS, st.sampled_from(_FLOWS)), min_size=1, max_size=4),
       env=st.sampled_from([None, "staging"]))
def test_random_edit_sequences_warm_equals_cold(tmp_path_factory: pytest.TempPathFactory,
                                                edits: list[tuple[tuple[str, str, str], str]],
                                                env: str | None) -> None:
    repo = _repo(tmp_path_factory.mktemp("edits"))
    cached_bundle(repo, env)
    for (where, old, new), flow in edits:
        path = repo / "flows" / flow if where == "flows" else repo / where
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        _same_as_cold(repo, env)


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(_MUTATIONS, st.sampled_from(_FLOWS)), min_size=1, max_size=3),
       env=st.sampled_from([None, "staging"]))
def test_random_edit_sequences_ccc_compile_writes_the_cold_bundle(
        tmp_path_factory: pytest.TempPathFactory,
        edits: list[tuple[tuple[str, str, str], str]], env: str | None) -> None:
    """The path `ccc compile` takes (only new images checked, only changed files written)
    leaves, after every edit, the folder a cold build would write, or the old one on errors."""
    tmp = tmp_path_factory.mktemp("compile")
    repo, out = _repo(tmp), tmp / "out"
    code, written = _compiled(repo, out, env)
    assert code == 0
    for (where, old, new), flow in edits:
        path = repo / "flows" / flow if where == "flows" else repo / where
        path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
        cold = build_bundle(repo, env)
        warm = cached_bundle(repo, env, verify=False)
        assert _seen(warm) == _seen(cold)
        code, found = _compiled(repo, out, env)
        assert code == (0 if cold.ok else 1)
        assert found == (cold.files if cold.ok else written)
        written = found


def test_an_edited_flow_reparses_only_itself_and_its_callers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` calls `after_hours`: an edit of `after_hours` re-analyses `main` too (its
    context: the sources of the sub-flows it reaches); nothing else is parsed again."""
    repo = _repo(tmp_path)
    cached_bundle(repo, None)
    parsed: list[str] = []
    real = incremental.parse_file

    def counting(path: Path) -> object:
        parsed.append(path.name)
        return real(path)

    monkeypatch.setattr(incremental, "parse_file", counting)
    _edit(repo / "flows" / "after_hours.ivr", "timeout 5s", "timeout 6s")
    _same_as_cold(repo)
    assert sorted(parsed) == ["after_hours.ivr", "main.ivr"]  # main calls after_hours
    parsed.clear()
    _edit(repo / "flows" / "main.ivr", "call flow", "call  flow")
    _same_as_cold(repo)
    assert parsed == ["main.ivr"]  # nobody calls main


def test_ccc_compile_twice_rewrites_nothing_and_repairs_a_changed_output(
        tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ccc_dsl.cli import cli

    repo, out = _repo(tmp_path), tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(cli, ["compile", str(repo), "-o", str(out)]).exit_code == 0
    first = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    stamp = (out / "main.ccb").stat().st_mtime_ns
    assert runner.invoke(cli, ["compile", str(repo), "-o", str(out)]).exit_code == 0
    assert (out / "main.ccb").stat().st_mtime_ns == stamp  # same tree: not written again
    (out / "main.ccb").write_bytes(b"tampered")
    assert runner.invoke(cli, ["compile", str(repo), "-o", str(out)]).exit_code == 0
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == first
