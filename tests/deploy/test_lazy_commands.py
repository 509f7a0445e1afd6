"""The CLI imports a ccc_dsl/commands module only when one of its commands runs (a warm
`ccc plan` must not pay for `ccc serve`'s imports): every command of every module is named in
COMMAND_MODULES, under its own module, and `ccc --help` lists them all."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

from click.testing import CliRunner

import ccc_dsl.commands
from ccc_dsl.cli import COMMAND_MODULES, cli


def test_every_command_module_is_registered_by_name() -> None:
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(ccc_dsl.commands.__path__):
        module = importlib.import_module(f"ccc_dsl.commands.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            assert command.name is not None
            found[command.name] = info.name
    assert found == COMMAND_MODULES


def test_help_lists_every_command_and_each_one_runs() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:\n", 1)[1].splitlines()
              if line.startswith("  ") and not line.startswith("   ")}
    assert set(COMMAND_MODULES) <= listed
    for name in COMMAND_MODULES:
        assert CliRunner().invoke(cli, [name, "--help"]).exit_code == 0, name


def test_a_command_imports_only_its_own_module() -> None:
    script = ("import sys\nfrom ccc_dsl.cli import cli\n"
              "try:\n    cli.main(['state', '--help'], prog_name='ccc')\n"
              "except SystemExit:\n    pass\n"
              "print(sorted(m for m in sys.modules if m.startswith('ccc_dsl.commands.')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        "['ccc_dsl.commands.common', 'ccc_dsl.commands.deploy']")
