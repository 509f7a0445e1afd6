"""Fuzz the cache entry reader: any bytes unseal to parts or None (a miss), and the YAML
cache's position maps decode to maps or to nothing."""

from harness import main


def target(data: bytes) -> None:
    from ccc_dsl.cache import decode_positions, unseal

    unseal(data)
    unseal(b"ccc-cache 1\n" + data, 1)
    values, keys = decode_positions(data)
    assert isinstance(values, dict) and isinstance(keys, dict)


if __name__ == "__main__":
    main(target, "cache")
