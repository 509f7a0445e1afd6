"""The benchmark generator writes a repo that validates cleanly (scaled down here)."""

from __future__ import annotations

import sys
from pathlib import Path

from mf_helpers import REPO

from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.pipeline import check_repo

sys.path.insert(0, str(REPO / "bench"))
from gen_manifests import generate


def test_generated_repo_validates(tmp_path: Path) -> None:
    counts = generate(tmp_path / "repo", resources=400, files=8)
    assert sum(counts.values()) == 400
    assert len(list((tmp_path / "repo" / "resources").glob("*.yaml"))) == 8
    result = load_repo(tmp_path / "repo", None)
    assert result.diagnostics == []
    assert result.model is not None
    assert len(result.model.agents) == counts["agents"]
    assert len(result.model.numbers) == counts["numbers"]
    assert [p.name for p in result.flow_files] == ["main.ivr"]
    # the whole front half (flows too) is clean, as `ccc validate` needs for the benchmark
    assert check_repo(tmp_path / "repo", None).diagnostics == []
