"""Issue 11 item 2: a damaged cache never crashes a run. Entries are JSON behind a checksum;
flipped bytes, random bytes and wrongly shaped entries (with a valid checksum) are misses:
the work is done again, the output is the same, and the entry is rewritten."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl.cache import decode_positions, encode_positions, read_entry, seal, unseal
from ccc_dsl.cli import cli


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    cache = tmp_path / "cache"
    monkeypatch.setenv("CCC_CACHE_DIR", str(cache))
    repo = tmp_path / "repo"
    copy_examples(repo)
    (repo / "extra.yaml").write_text("agents:\n  x: {display_name: X, sip: nope}\n",
                                     encoding="utf-8")  # some diagnostics worth caching
    first = validate(repo)
    assert first.exit_code == 1 and "extra.yaml" in first.output
    return repo, cache, first.output


def validate(repo: Path) -> object:
    return CliRunner().invoke(cli, ["validate", str(repo)])


def entries(cache: Path) -> list[Path]:
    found = sorted(p for p in cache.rglob("*") if p.is_file())
    assert any(p.name.startswith("phones-") for p in found)
    assert any("yaml" in p.parts for p in found) and any("validate" in p.parts for p in found)
    return found


def test_three_changed_bytes_in_any_entry_are_a_miss(setup: tuple[Path, Path, str]) -> None:
    repo, cache, expected = setup
    rng = random.Random(3)
    for entry in entries(cache):
        blob = bytearray(entry.read_bytes())
        for _ in range(3):
            blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
        entry.write_bytes(bytes(blob))
    result = validate(repo)
    assert (result.exit_code, result.output) == (1, expected)
    assert all(read_entry(e) is not None for e in entries(cache))  # rewritten


def test_random_bytes_and_truncation_are_a_miss(setup: tuple[Path, Path, str]) -> None:
    repo, cache, expected = setup
    rng = random.Random(5)
    for n, entry in enumerate(entries(cache)):
        size = len(entry.read_bytes())
        entry.write_bytes(rng.randbytes(size) if n % 2 else entry.read_bytes()[: size // 2])
    result = validate(repo)
    assert (result.exit_code, result.output) == (1, expected)


@pytest.mark.parametrize("parts", [
    ("not a list",), (5, None, "x", None, b"[]"), (5, {}, [["error", 1, 2, 3, 4]], [], b"[]"),
    (5, {}, [], [[{"a": 1}]], b"[]"), ({"a\u0000b": [1, 2, 3, 4, 5]},), (2, [["error"]]),
    (2, [["fatal", "X", "m", None, None]]), (2, "x"), (b"[" * 100_000,),
])
def test_wrongly_shaped_entries_with_a_valid_checksum_are_a_miss(
        setup: tuple[Path, Path, str], parts: tuple[object, ...]) -> None:
    repo, cache, expected = setup
    for entry in entries(cache):
        entry.write_bytes(seal(*parts))
    result = validate(repo)
    assert (result.exit_code, result.output) == (1, expected)


def test_a_bad_position_map_degrades_to_no_positions() -> None:
    values = {("agents", "x", "sip"): (2, 3, 2, 9)}
    assert decode_positions(encode_positions(values, {})) == (values, {})
    for bad in (b"", b"[", b"[[[[\"a\"], [1, 2]]], []]", b'{"a": 1}', b"[[], [], []]",
                b"[" * 100_000):
        assert decode_positions(bad) == ({}, {})


def test_seal_round_trip_and_checksum() -> None:
    blob = seal(1, {"a": [1.5, None, True]}, b'{"raw":1}')
    assert unseal(blob) == [1, {"a": [1.5, None, True]}, {"raw": 1}]
    assert unseal(blob, lazy=1) == [1, {"a": [1.5, None, True]}, b'{"raw":1}']
    assert unseal(blob.replace(b"1.5", b"2.5")) is None
    assert unseal(b"") is None and unseal(blob[:20]) is None
