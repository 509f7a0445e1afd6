"""Fuzz the flow-test file loader: any bytes give a suite or located diagnostics."""

import tempfile
from pathlib import Path

from harness import main

_FILE = Path(tempfile.mkdtemp(prefix="ccc-fuzz-")) / "t.yaml"


def target(data: bytes) -> None:
    from ccc_dsl.flowtest.model import load_test_file

    _FILE.write_bytes(data)
    load_test_file(_FILE)


if __name__ == "__main__":
    main(target, "flow-test loader")
