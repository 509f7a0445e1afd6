"""The runtime stands alone: importing all of it loads nothing of ccc_dsl."""

from __future__ import annotations

import subprocess
import sys


def test_runtime_imports_nothing_of_ccc_dsl() -> None:
    code = (
        "import sys, pkgutil, importlib, ccc_runtime\n"
        "for m in pkgutil.iter_modules(ccc_runtime.__path__):\n"
        "    importlib.import_module('ccc_runtime.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] == 'ccc_dsl')\n"
        "print(len(list(pkgutil.iter_modules(ccc_runtime.__path__))), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split(maxsplit=1)
    assert int(out[0]) >= 11
    assert out[1].strip() == "[]"
