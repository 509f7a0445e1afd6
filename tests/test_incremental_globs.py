"""The flow and include patterns through links: the loader resolves only what can be a link
(a linked file, a file under a linked folder), and a plain file under plain folders resolves to
itself; both kinds in one repo give the files in order, with the same rules for links."""

from __future__ import annotations

from pathlib import Path

from repos import copy_examples

from ccc_dsl.manifest.loader import load_repo


def test_links_and_plain_files_in_one_pattern(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    flows = repo / "flows"
    (flows / "real").mkdir()
    (flows / "real" / "x.ivr").write_text((flows / "main.ivr").read_text().replace(
        "flow main", "flow x_main"), encoding="utf-8")
    (flows / "alias").symlink_to("real")  # a linked folder: `**` doesn't enter it, `*` does
    (flows / "a_link.ivr").symlink_to("real/x.ivr")
    (flows / ".hidden").mkdir()
    (flows / ".hidden" / "h.ivr").write_text("flow h_hidden\n", encoding="utf-8")
    (flows / "into_hidden.ivr").symlink_to(".hidden/h.ivr")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.ivr").write_text("flow o_outside\n", encoding="utf-8")
    (flows / "out").symlink_to(outside)
    root = (repo / "ccc.yaml").read_text(encoding="utf-8")
    (repo / "ccc.yaml").write_text(root.replace(
        '  - "flows/**/*.ivr"', '  - "flows/**/*.ivr"\n  - "flows/*/*.ivr"'), encoding="utf-8")

    loaded = load_repo(repo, None)

    names = [p.relative_to(repo).as_posix() for p in loaded.flow_files]
    assert names == sorted(names)
    assert "flows/a_link.ivr" in names  # a link to a file inside the repo is a flow
    assert "flows/real/x.ivr" in names and "flows/alias/x.ivr" in names
    assert "flows/main.ivr" in names
    assert not any("hidden" in n for n in names)  # in a hidden folder, or linked into one
    assert not any(n.startswith("flows/out/") for n in names)
    assert [d.message for d in loaded.diagnostics if d.code == "Y114"] == [
        "flows/out/o.ivr links outside the repo"]
    assert all(p.is_file() for p in loaded.flow_files)
    assert [str(p) for p in loaded.flow_files] == [str(repo / n) for n in names]
