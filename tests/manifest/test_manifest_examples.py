"""The bundled example call center validates cleanly in both environments, defines every
shared name the example flows use, and exposes what later stages read."""

from __future__ import annotations

import pytest
from mf_helpers import EXAMPLES

from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.manifest.model import Model

AGENTS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
          "ken", "lucy"]
PROMPTS = ["main-greeting", "language-menu", "invalid-key", "no-input", "all-busy", "closed",
           "holiday", "bye", "enter-account", "account-not-found", "vip-welcome",
           "survey-question", "survey-thanks", "voicemail-intro", "blocked", "hold-music",
           "queue-position", "callback-offer"]
FLOWS = {"main", "account_lookup", "vip_routing", "after_hours", "survey", "screening"}


def load(env: str | None) -> Model:
    result = load_repo(EXAMPLES, env)
    assert result.diagnostics == []
    assert result.model is not None
    return result.model


@pytest.mark.parametrize("env", [None, "staging", "production"])
def test_examples_validate_cleanly(env: str | None) -> None:
    load(env)


def test_examples_define_the_shared_names() -> None:
    model = load(None)
    assert sorted(model.agents) == sorted(AGENTS)
    assert set(model.skill_groups) == {"sales", "support", "billing", "vip"}
    assert set(model.prompts) == set(PROMPTS)
    assert all(set(p.languages) == {"zh", "en"} for p in model.prompts.values())
    assert set(model.functions) == {"account-lookup", "vip-check", "directory", "route-lookup"}
    assert model.functions["account-lookup"].returns == ["balance", "name", "found"]
    assert model.functions["vip-check"].returns == ["vip", "agent"]
    assert {b.name: b.direction for b in model.blacklists.values()} == {
        "inbound-block": "inbound", "outbound-block": "outbound"}
    assert {b.flow for b in model.flow_bindings.values()} <= FLOWS
    assert all(len(model.agents_of(g)) >= 2 for g in model.skill_groups)
    assert model.agents_of("vip")["alice"] == 10


def test_support_hours() -> None:
    hours = load(None).schedules["support-hours"]
    assert hours.timezone == "Asia/Shanghai"
    by_day = hours.hours_by_day()
    assert by_day["mon"] == by_day["fri"] == ["09:00-18:00"]
    assert by_day["sat"] == ["10:00-16:00"] and by_day["sun"] == []
    days = {d.isoformat() for h in hours.holidays for d in h.days()}
    assert {"2026-10-01", "2026-10-04", "2026-10-07", "2027-01-01"} <= days
    assert len(hours.exceptions) == 1


def test_environments_select_different_values() -> None:
    staging, production = load("staging"), load("production")
    assert staging.instance is not None and production.instance is not None
    assert (staging.instance.domain, production.instance.domain) == ("acme-cc-staging", "acme-cc")
    assert production.instance.billing.mode == "monthly_seats"
    assert production.instance.billing.seats == 15
    assert staging.numbers["hotline"].number == "+864008205678"  # normalized to E.164
    assert production.numbers["hotline"].number == "+864008201234"
    assert staging.agents["alice"].sip == "sip:alice@127.0.0.1:5070"
    assert production.trunks["acme-gateway"].port == 5060
    assert staging.trunks["acme-gateway"].port == 5080


def test_spans_point_into_the_manifests() -> None:
    model = load(None)
    span = model.span_of("agents", "alice")
    assert span is not None and span.file.endswith("people.yaml")
    lines = (EXAMPLES / "people.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[span.line - 1][span.column - 1:].startswith("alice:")
    sip = model.span_of("agents", "alice", "sip")
    assert sip is not None and lines[sip.line - 1][sip.column - 1:].startswith("sip:alice@")
    assert model.span_of("instance", "instance") is not None
    assert model.span_of("agents", "nobody") is None


def test_analysis_limits_and_derived_views() -> None:
    model = load(None)
    assert model.limits_for("main").max_time_to_agent_seconds == 180
    vip = model.limits_for("vip_routing")
    assert (vip.max_time_to_agent_seconds, vip.max_key_presses) == (30, 2)
    binding = model.binding_for("vip-gz")
    assert binding is not None and binding.flow == "vip_routing"
    assert model.outbound_groups_of("support-bj") == ["support", "billing"]
    assert model.region_of("sales-sh") == ("Shanghai", "Shanghai")
    assert model.region_of("hotline") == ("", "")
    prompt = model.prompts["main-greeting"]
    assert prompt.languages["zh"].file == "prompts/zh/main-greeting.wav"
    assert model.prompts["bye"].languages["en"].tts == "Thank you for calling. Goodbye."
    assert model.trunks["acme-gateway"].password is not None
    assert model.trunks["acme-gateway"].password.describe() == "env:ACME_TRUNK_PASSWORD"
