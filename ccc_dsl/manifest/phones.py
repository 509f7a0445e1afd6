"""Phone numbers through the `phonenumbers` library (Google's libphonenumber metadata): parsing,
E.164 normalization, validity, the library's number type, and (on request) the city and province
that caller-id choice and blocked callee regions need. The parsing core is the runtime's
`ccc_runtime.numbers`, so the manifests and live calls read numbers the same way. Both kinds of
answer are memoized, and kept on disk (manifest/cache.py, by the library's version)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ccc_runtime import numbers
from ccc_runtime.numbers import DEFAULT_REGION, NumberError, e164, parse

__all__ = ["DEFAULT_REGION", "PhoneInfo", "export", "parse_phone", "region_of", "seed"]


@dataclass(frozen=True)
class PhoneInfo:
    e164: str
    valid: bool
    library_type: str


_CACHE: dict[tuple[str, str], PhoneInfo | str] = {}
_REGIONS: dict[str, tuple[str, str]] = {}
_PLACE = "@place"
"""The memo key's region part for a `region_of` answer (no number is read in this region)."""
Memo = dict[str, tuple[str, bool, str] | str]
"""The memo in plain form for the disk cache: `region NUL text` -> facts or a message, and
`@place NUL number` -> `city NUL province`."""


@lru_cache(maxsize=1)
def _type_names() -> dict[int, str]:
    """The library's number types by value (`MOBILE`), read when a number is first parsed:
    importing phonenumbers takes 15 ms, and a compile of unchanged manifests parses none (the
    facts come from the disk cache)."""
    from phonenumbers import PhoneNumberType

    return {v: k for k, v in vars(PhoneNumberType).items() if isinstance(v, int) and k.isupper()}


def export() -> Memo:
    """Every memoized result, in plain form (for the disk cache)."""
    memo: Memo = {f"{region}\0{text}": info if isinstance(info, str) else (
        info.e164, info.valid, info.library_type) for (text, region), info in _CACHE.items()}
    memo.update({f"{_PLACE}\0{number}": f"{city}\0{province}"
                 for number, (city, province) in _REGIONS.items()})
    return memo


def seed(memo: Memo) -> None:
    """Results from the disk cache: parsing a thousand numbers takes a tenth of a second, and
    the geocoder's data 0.3 s to import."""
    for key, value in memo.items():
        region, _, text = key.partition("\0")
        if region == _PLACE:
            if isinstance(value, str):
                city, _, province = value.partition("\0")
                _REGIONS.setdefault(text, (city, province))
            continue
        _CACHE.setdefault((text, region), value if isinstance(value, str) else PhoneInfo(*value))


def region_of(number: str) -> tuple[str, str]:
    """`ccc_runtime.numbers.region_of`, memoized: (city, province) of an E.164 number."""
    found = _REGIONS.get(number)
    if found is None:
        found = _REGIONS[number] = numbers.region_of(number)
    return found


def parse_phone(text: str, region: str = DEFAULT_REGION) -> PhoneInfo | str:
    """A number's facts, or a message saying why it can't be parsed. Numbers without `+` are
    read as national numbers of `region`. Results are memoized under the text and the E.164
    form, since checks look numbers up again by their normalized form."""
    found = _CACHE.get((text, region))
    if found is not None:
        return found
    try:
        parsed = parse(text, region)
    except NumberError as exc:
        message = str(exc)
        _CACHE[(text, region)] = message
        return message
    import phonenumbers

    normal = e164(parsed)
    info = PhoneInfo(normal, phonenumbers.is_valid_number(parsed),
                     _type_names().get(phonenumbers.number_type(parsed), "UNKNOWN"))
    _CACHE[(text, region)] = _CACHE[(normal, region)] = info
    return info

