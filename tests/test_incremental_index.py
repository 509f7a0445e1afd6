"""The incremental index (format 4: a sealed JSON header naming each image by sha256, length
and offset in a pack beside it, where new images are appended) and the whole-build entry that
names the pack's images instead of copying them: whatever is damaged, cut, appended or made by
hand is a miss (for the whole index, or the one record whose image changed), and every build
through them gives the cold build's bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repos import copy_examples

from ccc_dsl.cache import seal
from ccc_dsl.compiler import cache, incremental
from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.pipeline import BundleBuild, build_bundle, cached_bundle


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned_tool: str) -> None:
    """A cache of the test's own (its index is the only one), ccc's code pinned (conftest)."""
    monkeypatch.setenv("CCC_CACHE_DIR", str(tmp_path / "cache"))


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    copy_examples(repo)
    return repo


def _index(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "cache" / "incremental").glob("*.json")
    return found


def _edit_main(repo: Path, n: int = 0) -> None:
    main = repo / "flows" / "main.ivr"
    main.write_text(main.read_text(encoding="utf-8") + f"// edit {n}\n", encoding="utf-8")


def _same_as_cold(repo: Path) -> BundleBuild:
    warm = cached_bundle(repo, None)
    cold = build_bundle(repo, None)
    assert (warm.files, warm.build.diagnostics, warm.diagnostics) == (
        cold.files, cold.build.diagnostics, cold.diagnostics)
    return warm


def _images(records: dict[str, incremental._FileRecord]) -> dict[str, bytes]:
    return {f"{name}.ccb": image for record in records.values()
            for name, (_, _, image, _, _) in record.flows.items() if image is not None}


def test_an_edit_appends_one_image_to_the_pack(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    built = cached_bundle(repo, None)
    index = _index(tmp_path)
    pack = index.with_suffix(".pack")
    records, read = incremental._load_index(index)
    assert read is not None and read.size == pack.stat().st_size
    assert _images(records) == {rel: d for rel, d in built.files.items() if rel.endswith(".ccb")}
    assert b"".join(_images(records).values()) in pack.read_bytes()  # as they are, no base64
    before = pack.read_bytes()
    _edit_main(repo)
    edited = _same_as_cold(repo)
    after = pack.read_bytes()
    assert after.startswith(before) and after[len(before):] == edited.files["main.ccb"]
    assert incremental._load_index(index)[1] == incremental._Pack(read.generation, len(after))


def test_the_pack_is_written_whole_when_it_holds_mostly_old_images(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path)
    cached_bundle(repo, None)
    index = _index(tmp_path)
    generation = incremental._load_index(index)[1]
    assert generation is not None
    pack = index.with_suffix(".pack")
    with pack.open("ab") as grown:  # as after many edits (or another build's images)
        grown.write(b"\0" * (2 * pack.stat().st_size + (1 << 20)))
    _edit_main(repo)
    _same_as_cold(repo)
    records, now = incremental._load_index(index)
    assert now is not None and now.generation != generation.generation
    assert now.size == incremental._PACK_HEAD + sum(map(len, _images(records).values()))
    assert _same_as_cold(repo).build.analysis is None


def test_a_damaged_cut_or_lengthened_index_is_a_miss(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    cached_bundle(repo, None)
    path = _index(tmp_path)
    blob = path.read_bytes()
    records, _ = incremental._load_index(path)
    for at in (0, 2, len(blob) // 2, len(blob) - 2):
        damaged = bytearray(blob)
        damaged[at] ^= 0x01
        path.write_bytes(bytes(damaged))
        assert incremental._load_index(path) == ({}, None), at
    for cut in (blob[:-1], blob + b"x", b"", b"12\nnot an index"):
        path.write_bytes(cut)
        assert incremental._load_index(path) == ({}, None)
    path.write_bytes(blob)
    pack = path.with_suffix(".pack")
    images = pack.read_bytes()
    for damaged_pack in (images[:5], b"ccc-pack 1 " + b"0" * 32 + b"\n" + images[44:], b""):
        pack.write_bytes(damaged_pack)  # not the generation the index names: a miss
        assert incremental._load_index(path) == ({}, None)
    damaged = bytearray(images)
    damaged[incremental._PACK_HEAD + 5] ^= 0x01  # in the first image: only its record goes
    pack.write_bytes(bytes(damaged))
    kept, _ = incremental._load_index(path)
    assert len(kept) == len(records) - 1 and all(kept[f] == records[f] for f in kept)
    pack.write_bytes(images[:-1])  # the last image cut
    kept, _ = incremental._load_index(path)
    assert len(kept) == len(records) - 1
    assert _same_as_cold(repo).build.analysis is not None  # the file is compiled again
    assert len(incremental._load_index(path)[0]) == len(records)  # and kept again


def test_a_hand_made_index_with_a_valid_checksum_is_a_miss_or_checked(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    cached_bundle(repo, None)
    path = _index(tmp_path)
    blob = path.read_bytes()
    parts = blob[blob.index(b"\n") + 1:].split(b"\n")[2:]  # after magic and checksum
    generation = json.loads(parts[1])
    lines = parts[2:]

    def made(*parts: object) -> dict[str, object]:
        header = seal(*parts)
        path.write_bytes(b"%d\n" % len(header) + header)
        return incremental._load_index(path)[0]  # type: ignore[return-value]

    assert len(made(incremental.INDEX_FORMAT, generation, *lines)) == len(lines)  # as written
    assert made(3, generation, *lines) == {}  # another format
    assert made(incremental.INDEX_FORMAT, "0" * 32, *lines) == {}  # another pack
    assert made(incremental.INDEX_FORMAT, 7, *lines) == {}
    first = json.loads(lines[0])
    for shape in ([first[0]], "text", [1, *first[1:]], [*first[:4], []],
                  [*first[:3], [["error", "P100"]], first[4]]):
        assert made(incremental.INDEX_FORMAT, generation, json.dumps(shape).encode(),
                    *lines[1:]) == {}
    flow, data = next(iter(first[4].items()))
    sha, size, at = data[5]
    for bad in ([sha, -1, at], [sha, size, 3], [sha, size], [sha, size, "0"]):
        line = json.dumps([*first[:4], {**first[4], flow: [*data[:5], bad]}]).encode()
        assert made(incremental.INDEX_FORMAT, generation, line, *lines[1:]) == {}, bad
    for bad_flow in ([*data[:4], [1, 2], data[5]], [*data[:2], "yes", *data[3:]]):
        line = json.dumps([*first[:4], {**first[4], flow: bad_flow}]).encode()
        assert made(incremental.INDEX_FORMAT, generation, line, *lines[1:]) == {}
    for wrong in (["0" * 64, size, at], [sha, size, at + 1], [sha, size, 10 ** 9]):
        line = json.dumps([*first[:4], {**first[4], flow: [*data[:5], wrong]}]).encode()
        kept = made(incremental.INDEX_FORMAT, generation, line, *lines[1:])
        assert first[0] not in kept and len(kept) == len(lines) - 1  # not its image: checked
    path.write_bytes(blob)
    assert _same_as_cold(repo).build.analysis is None


def test_the_whole_build_entry_names_the_images_of_the_index(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    built = cached_bundle(repo, None)
    (entry,) = (tmp_path / "cache" / "build").iterdir()
    images = sum(len(d) for rel, d in built.files.items() if rel.endswith(".ccb"))
    assert entry.stat().st_size < sum(map(len, built.files.values())) - images + 4096
    hit = cache.load_build(cache.build_key(repo, None))
    assert hit is not None and hit[1] == built.files
    assert _same_as_cold(repo).build.analysis is None


def test_an_entry_whose_pack_changed_is_a_miss_with_the_cold_result(tmp_path: Path) -> None:
    """Reverting an edit finds the first build's entry, and its images are still where the
    pack holds them (appended to, never changed): a hit. A damaged or rewritten pack makes
    the entries naming its images misses, then an incremental build of what changed."""
    repo = _repo(tmp_path)
    main = repo / "flows" / "main.ivr"
    text = main.read_text(encoding="utf-8")
    first = cached_bundle(repo, None)
    _edit_main(repo)
    assert _same_as_cold(repo).build.analysis is not None
    main.write_text(text, encoding="utf-8")
    reverted = _same_as_cold(repo)
    assert reverted.build.analysis is None and reverted.files == first.files
    pack = _index(tmp_path).with_suffix(".pack")
    blob = bytearray(pack.read_bytes())
    blob[-3] ^= 0x01  # the edited main's image, which the second entry names
    pack.write_bytes(bytes(blob))
    assert cache.load_build(cache.build_key(repo, None)) is not None  # names the first one
    _edit_main(repo)
    assert cache.load_build(cache.build_key(repo, None)) is None
    assert _same_as_cold(repo).build.analysis is not None
    pack.write_bytes(b"")
    main.write_text(text, encoding="utf-8")
    assert cache.load_build(cache.build_key(repo, None)) is None
    assert _same_as_cold(repo).build.analysis is not None
    assert _same_as_cold(repo).build.analysis is None  # kept again


def test_an_entry_naming_a_file_outside_the_index_folder_is_a_miss(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    built = cached_bundle(repo, None)
    base = tmp_path / "cache"
    (entry,) = (base / "build").iterdir()
    size, _, rest = entry.read_bytes().partition(b"\n")
    header, payload = rest[:int(size)], rest[int(size):]
    parts = json.loads(b"[" + b",".join(header.split(b"\n")[2:]) + b"]")
    assert parts[6] == _index(tmp_path).with_suffix(".pack").name
    for name in ("../build/" + entry.name, "/etc/passwd", _index(tmp_path).name, 7):
        made = seal(*parts[:6], name)
        assert cache._entry(b"%d\n" % len(made) + made + payload, base) is None, name
    assert cache._entry(entry.read_bytes(), base) == (parts, built.files)


def test_incremental_keep_names_where_the_index_holds_each_image(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    cached_bundle(repo, None)
    _edit_main(repo)
    built = incremental.incremental_build(load_repo(repo, None), None)
    assert built is not None
    kept = built.keep(verified=True)
    assert kept is not None and kept[0] == _index(tmp_path).with_suffix(".pack")
    blob = kept[0].read_bytes()
    assert {name: blob[at:at + size] for name, (at, size, _) in kept[1].items()} == {
        name: flow.image for name, flow in built.build.flows.items()}
    inode, size = _index(tmp_path).stat().st_ino, kept[0].stat().st_size
    again = incremental.incremental_build(load_repo(repo, None), None)
    assert again is not None and again.reused == frozenset(built.build.flows)
    assert again.keep(verified=True) == kept  # nothing changed: the same places,
    assert (_index(tmp_path).stat().st_ino, kept[0].stat().st_size) == (inode, size)  # no write


def test_a_flow_built_again_with_the_same_image_is_not_appended_again(tmp_path: Path) -> None:
    """Editing a sub-flow builds its callers again; their images are the same bytes, and the
    pack keeps them where they are (only the changed images are appended)."""
    repo = _repo(tmp_path)
    before = cached_bundle(repo, None)
    pack = _index(tmp_path).with_suffix(".pack")
    size = pack.stat().st_size
    screening = repo / "flows" / "screening.ivr"
    screening.write_text(screening.read_text(encoding="utf-8") + "// edited\n",
                         encoding="utf-8")
    after = _same_as_cold(repo)
    assert after.build.analysis is not None
    again = set(after.build.analysis.program.flows)  # the flows built this time
    changed = {rel for rel, data in after.files.items()
               if rel.endswith(".ccb") and before.files[rel] != data}
    assert changed == {"screening.ccb"} and len(again) > 1  # its callers too, their bytes same
    assert pack.stat().st_size == size + len(after.files["screening.ccb"])
    assert _same_as_cold(repo).build.analysis is None


