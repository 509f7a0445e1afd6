"""Domain figures (number-type capabilities, supplier calling windows, regions, prices), read
from `ccc_dsl/data/domain.yaml` because they change with the service, not with the code.
(Annotations are objects, no `__future__` import: pydantic would evaluate each string.)"""

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ccc_dsl.manifest import cache

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "domain.yaml"


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumberTypeInfo(_Data):
    description: str
    inbound: bool
    outbound: bool
    caller_id: bool
    mobile_forwarding: bool
    max_outbound_concurrency: int
    library_types: list[str]
    country_codes: list[int] = []
    """Country calling codes a number of this type has (empty: any country)."""


class Supplier(_Data):
    window: str
    timezone: str


class CalleeCapInfo(_Data):
    calls: int
    per_hours: int


class FeeTier(_Data):
    up_to_minutes: int | None
    per_minute: float


class SeatTier(_Data):
    from_seats: int
    per_seat: float


class PayAsYouGo(_Data):
    inbound_per_minute: float
    outbound_per_minute: float
    number_rent_per_month: float


class MonthlySeats(_Data):
    seat_tiers: list[SeatTier]
    outbound_per_minute: float
    inbound_per_minute: float


class Storage(_Data):
    free_gb: float
    per_gb_month: float


class Prices(_Data):
    pay_as_you_go: PayAsYouGo
    platform_fee_tiers: list[FeeTier]
    monthly_seats: MonthlySeats
    recording_storage: Storage
    sip_trunk_per_line_year: float
    number_400_monthly_minimums: list[float]


class DomainData(_Data):
    version: int
    number_types: dict[str, NumberTypeInfo]
    suppliers: dict[str, Supplier]
    callee_caps: list[CalleeCapInfo]
    regions: list[str]
    prompt_max_bytes: int
    prices: Prices


@lru_cache(maxsize=1)
def domain_data() -> DomainData:
    """The shipped data file, validated once; a broken data file is a bug in ccc, so it raises."""
    parsed = cache.parse(str(DATA_FILE), DATA_FILE.read_bytes())
    if parsed.diagnostics:
        raise RuntimeError(f"broken data file {DATA_FILE}: {parsed.diagnostics[0]}")
    return DomainData.model_validate(parsed.data)
