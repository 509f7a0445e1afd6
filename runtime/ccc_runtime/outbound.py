"""The toll-fraud guard: every outbound leg asks here first, and gets a `Grant` or a refusal.

The VM asks before a transfer to a number or a forward to an agent's mobile (so the simulator
and live calls refuse the same calls); the SIP channel dials a trunk only for a number that holds
a live grant of its call. The rules are the instance's outbound policy from the bundle:

1. the number is a phone number (normalised to E.164 with the instance's region);
2. not on the policy's outbound blacklist (numbers and `+prefix*`);
3. inside the policy's calling hours, in the instance's time zone;
4. the callee's region (province or city, from libphonenumber's geocoder) is not blocked;
5. the callee has not had `callee_cap.calls` calls within `callee_cap.per_hours`;
6. a caller id: `fixed` (that number), or `auto` (a number in the callee's city, else its
   province, else any), never a 400 number, and only a number with a free slot of its
   `outbound_concurrency` (a grant holds a slot until released). A flow may ask for a caller
   id (`caller_id EXPR`): only one the policy would choose from (the `fixed` number, or with
   `auto` any of the instance's numbers but 400 numbers), with a free slot.

SIP URIs (`transfer sip`, `authorize_sip`): only `sip:[user@]host[:port]` (sipuri.py) on a host
the policy's `sip_domains` lists; a user part that is a phone number also passes rules 1-5 (the
other side would call it out). A SIP leg holds no trunk slot; its caller id, when asked for,
is checked as in rule 6.

No policy in the bundle means no outbound calls at all. A refusal is a short reason that the
VM puts into the trace and the call record; the call takes the transfer's `failed` exit.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .clock import Clock
from .hours import parse_range
from .numbers import normalise, region_of
from .sipuri import host_allowed, parse_sip_target

if TYPE_CHECKING:
    from .bundle import BundleConfig

log = logging.getLogger("ccc_runtime.outbound")

MAX_TRACKED_CALLEES = 100_000
"""Callees whose recent calls are remembered for the cap (the oldest are forgotten first)."""
NO_CALLER_ID_TYPES = frozenset({"400"})


@dataclass(eq=False)
class Grant:
    """Permission for one outbound leg: the callee, the caller id to show, the trunk to use.
    Holds a slot of the caller id's `outbound_concurrency` until `release()`."""

    guard: OutboundGuard
    call_id: str
    number: str
    caller_id: str
    trunk: str | None
    released: bool = field(default=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.guard._release(self)


@dataclass(eq=False)
class SipGrant:
    """Permission for one leg to a SIP URI (the checked, canonical `uri`), showing `caller_id`
    (None: the caller's own number)."""

    guard: OutboundGuard
    call_id: str
    uri: str
    caller_id: str | None
    released: bool = field(default=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.guard._sip_grants.pop((self.call_id, self.uri), None)


class OutboundGuard:
    """The outbound policy of one bundle, with the live counts it needs."""

    def __init__(self, config: BundleConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.policy = config.outbound
        self.region = config.region
        self._zone = ZoneInfo(config.timezone)
        self._hours = parse_range(self.policy.calling_hours) if self.policy else None
        blacklist = config.blacklists.get(self.policy.blacklist or "", []) if self.policy else []
        self._blocked = frozenset(n for n in blacklist if not n.endswith("*"))
        self._blocked_prefixes = tuple(n[:-1] for n in blacklist if n.endswith("*"))
        self._active: Counter[str] = Counter()
        self._grants: dict[tuple[str, str], Grant] = {}
        self._sip_grants: dict[tuple[str, str], SipGrant] = {}
        self._recent: dict[str, deque[datetime]] = {}
        self.refusals: Counter[str] = Counter()

    def authorize(self, call_id: str, number: str,
                  caller_id: str | None = None) -> Grant | str:
        """A grant for calling `number` now (showing `caller_id` when asked), or the reason
        it is refused."""
        reason, grant = self._decide(call_id, number, caller_id)
        if grant is not None:
            return grant
        return self._refuse(number, call_id, reason)

    def _refuse(self, what: str, call_id: str, reason: str) -> str:
        self.refusals[reason.split(":")[0]] += 1
        log.warning("outbound call to %s refused (call %s): %s", what[:64], call_id, reason)
        return reason

    def authorize_sip(self, call_id: str, uri: str,
                      caller_id: str | None = None) -> SipGrant | str:
        """A grant for a leg to the SIP URI `uri`, or the reason it is refused."""
        target = parse_sip_target(uri)
        if isinstance(target, str):
            return self._refuse(uri, call_id, f"not a SIP URI we dial: {target}")
        policy = self.policy
        if policy is None:
            return self._refuse(uri, call_id, "no outbound policy")
        if not host_allowed(target.host, policy.sip_domains):
            return self._refuse(uri, call_id, f"host {target.host} is not in the outbound "
                                "policy's sip_domains")
        if target.dials_number:
            callee = normalise(target.user, self.region)
            reason = ("the user part is not a phone number" if callee is None
                      else self._number_rules(callee, self.clock.now()))
            if reason:
                return self._refuse(uri, call_id, reason)
        shown: str | None = None
        if caller_id is not None:
            shown = normalise(caller_id, self.region)
            if shown is None or not self._may_show(shown):
                return self._refuse(uri, call_id, f"caller id {caller_id[:32]} is not allowed "
                                    "by the outbound policy")
        grant = SipGrant(self, call_id, target.uri, shown)
        self._sip_grants[(call_id, target.uri)] = grant
        return grant

    def active_sip(self, call_id: str, uri: str) -> SipGrant | None:
        """The live grant of `call_id` for `uri` (the SIP layer's check before dialling)."""
        return self._sip_grants.get((call_id, uri))

    def _may_show(self, number: str) -> bool:
        """Whether a flow may show `number` as its caller id: the policy's fixed number, or
        with `auto` any of the instance's numbers that may be a caller id."""
        assert self.policy is not None
        info = self.config.phone_numbers.get(number)
        if info is None or info.type in NO_CALLER_ID_TYPES:
            return False
        choice = self.policy.caller_id
        return choice.mode == "auto" or number == choice.number

    def _number_rules(self, callee: str, now: datetime) -> str:
        """Rules 2-5 for an E.164 callee: the reason of the first one it breaks, or ""."""
        policy = self.policy
        assert policy is not None and self._hours is not None
        if callee in self._blocked or callee.startswith(self._blocked_prefixes):
            return "on the outbound blacklist"
        local = now.astimezone(self._zone).time()
        if not self._hours.covers_same_day(local) and not self._hours.covers_next_day(local):
            return f"outside calling hours {policy.calling_hours}"
        city, province = region_of(callee)
        blocked = {r.lower() for r in policy.blocked_regions}
        if city.lower() in blocked or province.lower() in blocked:
            return f"callee region {province or city} is blocked"
        recent = self._recent.get(callee)
        if policy.callee_cap is not None and recent is not None:
            window = now - timedelta(hours=policy.callee_cap.per_hours)
            while recent and recent[0] <= window:
                recent.popleft()
            if len(recent) >= policy.callee_cap.calls:
                cap = policy.callee_cap
                return f"callee cap of {cap.calls} per {cap.per_hours} h reached"
        return ""

    def _decide(self, call_id: str, number: str,
                caller_id: str | None) -> tuple[str, Grant | None]:
        callee = normalise(number, self.region)
        if callee is None:
            return "not a phone number", None
        policy = self.policy
        if policy is None:
            return "no outbound policy", None
        now = self.clock.now()
        reason = self._number_rules(callee, now)
        if reason:
            return reason, None
        recent = self._recent.get(callee)
        if caller_id is not None:
            wanted = normalise(caller_id, self.region)
            if wanted is None or not self._may_show(wanted):
                return f"caller id {caller_id[:32]} is not allowed by the outbound policy", None
            if not self._free(wanted):
                return f"caller id {wanted} has no free outbound slot", None
            caller_id = wanted
        else:
            caller_id = self._caller_id(callee)
        if caller_id is None:
            return "no caller id with a free outbound slot", None
        if policy.callee_cap is not None:
            if recent is None:
                if len(self._recent) >= MAX_TRACKED_CALLEES:
                    del self._recent[next(iter(self._recent))]
                recent = self._recent[callee] = deque()
            recent.append(now)
        self._active[caller_id] += 1
        grant = Grant(self, call_id, callee, caller_id,
                      self.config.phone_numbers[caller_id].trunk or self._default_trunk())
        self._grants[(call_id, callee)] = grant
        return "", grant

    def _free(self, e164: str) -> bool:
        info = self.config.phone_numbers.get(e164)
        return (info is not None and info.type not in NO_CALLER_ID_TYPES
                and self._active[e164] < info.outbound_concurrency)

    def _caller_id(self, callee: str) -> str | None:
        assert self.policy is not None
        choice = self.policy.caller_id
        if choice.mode == "fixed":
            number = choice.number or ""
            return number if self._free(number) else None
        free = sorted(n for n in self.config.phone_numbers if self._free(n))
        if not free:
            return None
        city, province = region_of(callee)
        for wanted, index in ((city, 0), (province, 1)):
            if wanted:
                for candidate in free:
                    if region_of(candidate)[index] == wanted:
                        return candidate
        return free[0]

    def _default_trunk(self) -> str | None:
        return min(self.config.trunks) if self.config.trunks else None

    def active(self, call_id: str, number: str) -> Grant | None:
        """The live grant of `call_id` for `number` (the SIP layer's check before dialling)."""
        grant = self._grants.get((call_id, normalise(number, self.region) or number))
        return grant if grant is not None and not grant.released else None

    def in_use(self, caller_id: str) -> int:
        return self._active[caller_id]

    def _release(self, grant: Grant) -> None:
        self._active[grant.caller_id] -= 1
        if self._active[grant.caller_id] <= 0:
            del self._active[grant.caller_id]
        self._grants.pop((grant.call_id, grant.number), None)
