"""Phone numbers through the `phonenumbers` library (Google's libphonenumber metadata): parsing,
E.164 normalization, validity, the library's number type, and (on request) the city and province
that caller-id choice and blocked callee regions need."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

DEFAULT_REGION = "CN"


@dataclass(frozen=True)
class PhoneInfo:
    e164: str
    valid: bool
    library_type: str


_TYPE_NAMES = {v: k for k, v in vars(PhoneNumberType).items() if isinstance(v, int)
               and k.isupper()}
_CACHE: dict[tuple[str, str], PhoneInfo | str] = {}
Memo = dict[str, tuple[str, bool, str] | str]
"""The memo in plain form for the disk cache: `region NUL text` -> facts or a message."""


def export() -> Memo:
    """Every memoized result, in plain form (for the disk cache)."""
    return {f"{region}\0{text}": info if isinstance(info, str) else (
        info.e164, info.valid, info.library_type) for (text, region), info in _CACHE.items()}


def seed(memo: Memo) -> None:
    """Results from the disk cache: parsing a thousand numbers takes a tenth of a second."""
    for key, value in memo.items():
        region, _, text = key.partition("\0")
        _CACHE.setdefault((text, region), value if isinstance(value, str) else PhoneInfo(*value))


def parse_phone(text: str, region: str = DEFAULT_REGION) -> PhoneInfo | str:
    """A number's facts, or a message saying why it can't be parsed. Numbers without `+` are
    read as national numbers of `region`. Results are memoized under the text and the E.164
    form, since checks look numbers up again by their normalized form."""
    found = _CACHE.get((text, region))
    if found is not None:
        return found
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        message = str(exc.args[0]) if exc.args else "not a phone number"
        _CACHE[(text, region)] = message
        return message
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    info = PhoneInfo(e164, phonenumbers.is_valid_number(parsed),
                     _TYPE_NAMES.get(phonenumbers.number_type(parsed), "UNKNOWN"))
    _CACHE[(text, region)] = _CACHE[(e164, region)] = info
    return info


@lru_cache(maxsize=65536)
def region_of(e164: str) -> tuple[str, str]:
    """(city, province) of a number in English as the geocoder names them (`Shanghai`,
    `Shanghai`; `Urumqi`, `Xinjiang`), or empty strings for non-geographic numbers (400
    numbers, some mobile ranges). For caller-id choice and blocked callee regions."""
    from phonenumbers import geocoder  # its data takes 0.3 s to import; validate doesn't need it

    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "", ""
    place = geocoder.description_for_number(parsed, "en")
    if not place or place == geocoder.country_name_for_number(parsed, "en"):
        return "", ""
    city, _, province = place.partition(", ")
    return city, province or city
