"""ccc runs no pydantic plugins (docs/security.md): a plugin sees every value pydantic validates,
and manifests name secrets. An installed plugin (a distribution with a `pydantic` entry point)
is loaded by pydantic alone and in a program that imports ccc_dsl, and not by the `ccc` command;
nor is importlib.metadata."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PLUGIN = '''
import os

with open(os.environ["PLUGIN_MARK"], "a", encoding="utf-8") as mark:
    mark.write("loaded\\n")


class Plugin:
    def new_schema_validator(self, *args, **kwargs):
        with open(os.environ["PLUGIN_MARK"], "a", encoding="utf-8") as mark:
            mark.write("validator\\n")
        return None, None, None


plugin = Plugin()
'''


def _run(tmp_path: Path, script: str) -> tuple[list[str], str]:
    """`script` in a fresh interpreter that has the plugin installed; (the plugin's marks,
    stdout)."""
    site = tmp_path / "site"
    info = site / "spy_plugin-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    (site / "spy_plugin.py").write_text(PLUGIN)
    mark = tmp_path / "mark.txt"
    mark.unlink(missing_ok=True)
    env = {**os.environ, "PLUGIN_MARK": str(mark), "CCC_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    marks = mark.read_text().split() if mark.exists() else []
    return marks, done.stdout


def test_pydantic_alone_loads_the_installed_plugin(tmp_path: Path) -> None:
    """The control: the spy plugin is found and called when ccc is not in the process."""
    marks, _ = _run(tmp_path, "from pydantic import BaseModel\n"
                              "class A(BaseModel):\n    x: int\n"
                              "A.model_validate({'x': 1})\n")
    assert marks[:1] == ["loaded"] and "validator" in marks


def test_ccc_loads_no_plugin_and_no_distribution_metadata(tmp_path: Path) -> None:
    script = ("import sys\n"
              "from ccc_dsl.cli import main\n"
              f"sys.argv = ['ccc', 'validate', {str(EXAMPLES)!r}]\n"
              "try:\n    main()\n"
              "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
              "assert 'ccc_dsl.manifest.model' in sys.modules  # the manifests were validated\n"
              "print('importlib.metadata' in sys.modules)\n")
    marks, out = _run(tmp_path, script)
    assert marks == []
    assert out.strip().splitlines()[-1] == "False"


def test_a_program_importing_ccc_dsl_keeps_its_own_plugin_policy(tmp_path: Path) -> None:
    """Only the `ccc` command refuses plugins: a program that loads a repo through ccc_dsl
    gets what pydantic alone would do."""
    script = ("from pathlib import Path\n"
              "from ccc_dsl.manifest.loader import load_repo\n"
              f"assert load_repo(Path({str(EXAMPLES)!r}), None).model is not None\n")
    marks, _ = _run(tmp_path, script)
    assert marks[:1] == ["loaded"]
