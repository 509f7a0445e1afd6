"""`ccc compile`, `ccc graph` and `ccc disasm` of compiled flows, through the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from cc_helpers import examples_copy
from ccc_runtime.bundle import load_bundle
from click.testing import CliRunner

from ccc_dsl.cli import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return examples_copy(tmp_path_factory.mktemp("cli") / "repo")


def test_compile_writes_one_image_per_flow_and_a_sorted_build_manifest(repo: Path,
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, text = run("compile", str(repo), "-o", str(out))
    assert code == 0, text
    assert "compiled 9 flow(s)" in text
    files = sorted(p.name for p in out.iterdir())
    assert files == ["account_lookup.ccb", "after_hours.ccb", "attendant.ccb", "build.json",
                     "bundle.json", "connect_queue.ccb", "main.ccb", "manifest.json", "prompts",
                     "screening.ccb", "studio_ivr.ccb", "survey.ccb", "vip_routing.ccb"]
    bundle = load_bundle(out)  # the folder is a whole bundle the runtime loads
    assert sorted(bundle.flows) == ["account_lookup", "after_hours", "attendant",
                                    "connect_queue", "main", "screening", "studio_ivr",
                                    "survey", "vip_routing"]
    assert (out / "prompts" / "en" / "main-greeting.wav").read_bytes() == (
        repo / "prompts" / "en" / "main-greeting.wav").read_bytes()
    raw = (out / "build.json").read_text(encoding="utf-8")
    manifest = json.loads(raw)
    assert raw == json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    main = manifest["flows"]["main"]
    assert main["source"] == "flows/main.ivr"
    assert main["sha256"] == hashlib.sha256((out / "main.ccb").read_bytes()).hexdigest()
    assert manifest["compiler"].startswith("ccc ")
    assert main["time_to_agent"]["key_presses"] == 3  # a language key, then 99 for alice


def test_compile_default_output_and_json(repo: Path) -> None:
    code, text = run("compile", str(repo), "--format", "json")
    assert code == 0, text
    data = json.loads(text)
    assert data["ok"] is True and data["diagnostics"] == []
    assert Path(data["output"]) == repo / "build"
    assert (repo / "build" / "main.ccb").is_file()
    shutil.rmtree(repo / "build")


def test_compile_with_errors_writes_nothing_and_exits_1(repo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(repo, broken)
    (broken / "flows" / "survey.ivr").write_text(
        'flow survey "S" {\n  ask:\n    play "no-such-prompt"\n    hangup\n}\n',
        encoding="utf-8")
    out = tmp_path / "out"
    code, text = run("compile", str(broken), "-o", str(out))
    assert code == 1
    assert "error[R501]: unknown prompt `no-such-prompt`" in text
    assert not out.exists()
    code, text = run("compile", str(broken), "-o", str(out), "--format", "json")
    data = json.loads(text)
    assert code == 1 and data["ok"] is False and data["build"] is None
    assert [d["code"] for d in data["diagnostics"]] == ["R501"]


def test_compile_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    code, _ = run("compile", str(tmp_path / "nowhere"))
    assert code == 2


def test_disasm_reads_a_compiled_flow(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("compile", str(repo), "-o", str(out))[0] == 0
    code, text = run("disasm", str(out / "vip_routing.ccb"))
    assert code == 0
    assert text.startswith('flow "vip_routing"')
    assert "CALL_FUNCTION" in text and "flows/vip_routing.ivr:4:5" in text


def test_graph_mermaid(repo: Path) -> None:
    code, text = run("graph", "vip_routing", str(repo))
    assert code == 0
    assert text.startswith("flowchart TD\n")
    assert '#quot;vip-check#quot;' in text
    assert '-->|"busy"|' in text and '-->|"ok"|' in text


def test_compile_to_a_folder_that_cannot_be_made_is_an_input_error(repo: Path,
                                                                    tmp_path: Path) -> None:
    """An output folder under a file: a located message and exit 1, not an internal error."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["compile", str(repo), "-o", str(blocker / "out")])
    assert result.exit_code == 1, result.output
    assert f"can't write {blocker / 'out'}" in result.output
    assert "internal error" not in result.output


def test_graph_dot_and_svg(repo: Path) -> None:
    code, dot = run("graph", "main", str(repo), "--format", "dot")
    assert code == 0 and dot.startswith('digraph "main" {') and dot.rstrip().endswith("}")
    assert '[label="99"]' in dot
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    code, svg = run("graph", "main", str(repo), "--format", "svg")
    assert code == 0 and "<svg" in svg


def test_graph_of_an_unknown_flow_suggests_a_name(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["graph", "vip_routin", str(repo)])
    assert result.exit_code == 1
    assert "did you mean `vip_routing`" in result.output


def test_graph_with_an_unknown_env_fails_instead_of_drawing(repo: Path) -> None:
    code, text = run("graph", "main", str(repo), "--env", "prod")
    assert code == 1
    assert "error[M204]: unknown environment `prod`" in text and "flowchart" not in text


def test_validate_runs_the_analyses(repo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(repo, broken, ignore=shutil.ignore_patterns("build"))
    (broken / "flows" / "survey.ivr").write_text(
        'flow survey "S" {\n  ask:\n    play "bye"\n}\n', encoding="utf-8")
    code, text = run("validate", str(broken))
    assert code == 1
    assert "survey.ivr:3:5: error[A602]" in text
    code, text = run("validate", str(repo))
    assert code == 0, text
