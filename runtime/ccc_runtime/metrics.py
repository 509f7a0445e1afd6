"""Prometheus metrics of one runtime process (`GET /metrics` on the control API).

Every `Metrics` has its own registry, so several services in one process (the tests) never
share a counter, and nothing lives in module globals. Label values come from small fixed sets
(outcome kinds, skill group names of the bundle, agent states, SIP error kinds), never from
callers' input, so a flood of odd calls can't grow the registry.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from .acd import Acd, AgentState

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of `render()`'s text (Prometheus text format 0.0.4)."""

QUEUE_WAIT_BUCKETS = (1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Seconds: a queue wait is seconds to many minutes, not the default sub-second buckets."""

SIP_ERROR_KINDS = frozenset({
    "parse",  # a datagram that isn't a SIP message we accept
    "too-large",  # over the size limit
    "bad-sdp",  # an offer we can't answer
    "forbidden",  # a source outside the trunk's allowed addresses (403)
    "not-found",  # an unknown called number (404)
    "overload",  # the call limit or draining (503)
    "timeout",  # a transaction that got no answer
    "register",  # registration at the registrar failed
    "other",
})
"""Kinds of `sip_error(kind)`; anything else counts as `other`."""


class _AgentStates(Collector):
    """Agents by state and reachability, read from the ACD when scraped (so after-call work
    that ended by itself shows as available without anyone updating a gauge)."""

    def __init__(self, acd: Callable[[], Acd | None]) -> None:
        self._acd = acd

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("ccc_agents", "Agents by state and reachability",
                                   labels=["state", "reachable"])
        acd = self._acd()
        tally: Tally[tuple[str, str]] = Tally()
        if acd is not None:
            for user in acd.agents:
                reachable = "true" if acd.reachable(user) else "false"
                tally[(acd.status(user).state.value, reachable)] += 1
        for state in AgentState:
            for reachable in ("true", "false"):
                family.add_metric([state.value, reachable], tally[(state.value, reachable)])
        yield family


class Metrics:
    """The counters, gauges and histograms of one service instance."""

    def __init__(self, acd: Callable[[], Acd | None] = lambda: None) -> None:
        """`acd` gives the ACD that answers calls now (it changes on reload)."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls_in_progress = Gauge("ccc_calls_in_progress", "Calls up now", registry=r)
        self.calls = Counter("ccc_calls", "Finished calls by outcome kind", ["outcome"],
                             registry=r)
        self.rejected = Counter("ccc_calls_rejected", "INVITEs refused, by SIP status",
                                ["status"], registry=r)
        self.queue_wait = Histogram("ccc_queue_wait_seconds",
                                    "Time callers waited in a queue before an agent or leaving",
                                    ["group"], buckets=QUEUE_WAIT_BUCKETS, registry=r)
        self.sip_errors = Counter("ccc_sip_errors", "SIP errors by kind", ["kind"], registry=r)
        self.rtp_ports_in_use = Gauge("ccc_rtp_ports_in_use", "RTP ports held by calls",
                                      registry=r)
        self.media_seconds = Counter("ccc_media_seconds",
                                     "Seconds of call media sent (call-seconds)", registry=r)
        self.registered = Gauge("ccc_registered",
                                "1 while a registration at a registrar is bound, else 0",
                                ["aor"], registry=r)
        self.reloads = Counter("ccc_reloads", "Bundle reloads by result", ["result"],
                               registry=r)
        r.register(_AgentStates(acd))

    def call_started(self) -> None:
        self.calls_in_progress.inc()

    def call_ended(self, outcome: str, queue: str | None = None,
                   queue_wait_ms: int = 0) -> None:
        """A call is over: `outcome` is `Outcome.kind`; a queue call also records its wait."""
        self.calls_in_progress.dec()
        self.calls.labels(outcome=outcome).inc()
        if queue is not None:
            self.queue_wait.labels(group=queue).observe(queue_wait_ms / 1000)

    def call_rejected(self, status: int) -> None:
        self.rejected.labels(status=str(status)).inc()

    def sip_error(self, kind: str) -> None:
        self.sip_errors.labels(kind=kind if kind in SIP_ERROR_KINDS else "other").inc()

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's current value (for tests and the health summary)."""
        return self.registry.get_sample_value(name, labels or {})

