"""The one place phone numbers are read: text -> E.164, with the instance's region.

Everything that compares numbers goes through `normalise` first: the manifests' numbers (the
tool side's `ccc_dsl.manifest.phones` calls `parse` here), blacklist entries and the subject
checked against them, the caller and the called number of a live call, and every outbound
number. So `+86 170 1234 5678`, `17012345678` and `+8617012345678` are one number everywhere.
Uses `phonenumbers` (Google's libphonenumber metadata).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by the first number read: the tool's one-edit compile reads none
    import phonenumbers

DEFAULT_REGION = "CN"
MAX_NUMBER_CHARS = 64
"""Longer input is not a phone number (and is not handed to the parser)."""


class NumberError(ValueError):
    """Text that is not a phone number; the message says why."""


def parse(text: str, region: str = DEFAULT_REGION) -> phonenumbers.PhoneNumber:
    """Parse a number; without `+` it is a national number of `region`. NumberError if not."""
    import phonenumbers

    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise NumberError(str(exc.args[0]) if exc.args else "not a phone number") from None


def e164(number: phonenumbers.PhoneNumber) -> str:
    import phonenumbers

    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def normalise(text: str, region: str = DEFAULT_REGION) -> str | None:
    """`text` in E.164 (`+8617012345678`), or None when it can't be a phone number (withheld
    callers, `anonymous`, garbage)."""
    import phonenumbers

    if len(text) > MAX_NUMBER_CHARS:
        return None
    try:
        number = parse(text.strip(), region)
    except NumberError:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return e164(number)


@lru_cache(maxsize=65536)
def dialable(text: str, region: str = DEFAULT_REGION) -> str | None:
    """`text` in E.164 when it is a valid number to call (libphonenumber's full check, not only
    its length: a transfer to data must not dial `12345`), else None."""
    import phonenumbers

    number = normalise(text, region)
    if number is None or not phonenumbers.is_valid_number(parse(number, region)):
        return None
    return number


@lru_cache(maxsize=65536)
def region_of(number: str) -> tuple[str, str]:
    """(city, province) of an E.164 number in English as the geocoder names them (`Shanghai`,
    `Shanghai`; `Urumqi`, `Xinjiang`), or empty strings for non-geographic numbers (400
    numbers, some mobile ranges). For caller-id choice and blocked callee regions."""
    from phonenumbers import geocoder  # its data takes 0.3 s to import; most callers don't

    try:
        parsed = parse(number, "ZZ")
    except NumberError:
        return "", ""
    place = geocoder.description_for_number(parsed, "en")
    if not place or place == geocoder.country_name_for_number(parsed, "en"):
        return "", ""
    city, _, province = place.partition(", ")
    return city, province or city
