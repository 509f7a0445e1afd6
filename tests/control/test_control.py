"""The control API over real HTTP: a real aiohttp server on loopback and a real client, against
a service double that holds a real ACD and real metrics (no SIP needed)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ccc_runtime.acd import Acd, AgentConfig, AgentState, MemoryCallHistory, MemoryStore, Presence
from ccc_runtime.clock import FakeClock
from ccc_runtime.control import (
    TOKEN_FILE,
    CallView,
    ControlError,
    ControlServer,
    Health,
    ReloadError,
    load_token,
)
from ccc_runtime.metrics import Metrics
from prometheus_client.parser import text_string_to_metric_families

START = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
TOKEN = "s3cret-token"
DIGEST_A, DIGEST_B = "a" * 64, "b" * 64


class FakeService:
    """The Service protocol over a real Acd and real Metrics."""

    def __init__(self) -> None:
        self.clock = FakeClock(START)
        agents = [AgentConfig("alice", {"sales": 5}, address="sip:alice@127.0.0.1"),
                  AgentConfig("bob", {"sales": 7}, address=None)]
        self.presence = Presence(self.clock)
        self._acd = Acd(agents, MemoryStore(), MemoryCallHistory(), self.clock,
                        presence=self.presence)
        self._metrics = Metrics(lambda: self._acd)
        self.bundle = DIGEST_A
        self.next_bundle: str | None = DIGEST_B
        self.status = "serving"
        self.broken = False
        self.calls = [CallView("c1", "+8613700000001", "+864001234567", "main", DIGEST_A,
                               START, "prompt")]

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    def health(self) -> Health:
        return Health(self.status, self.bundle, len(self.calls), START)

    def acd(self) -> Acd | None:
        return self._acd

    def calls_in_progress(self) -> list[CallView]:
        if self.broken:
            raise RuntimeError("a bug")
        return list(self.calls)

    async def reload(self) -> str:
        if self.next_bundle is None:
            raise ReloadError("bundles/x: bad bundle")
        self.bundle = self.next_bundle
        return self.bundle


Client = Callable[..., Awaitable[tuple[int, Any, aiohttp.ClientResponse]]]


def serve(test: Callable[[FakeService, Client], Awaitable[None]]) -> FakeService:
    """Run `test(service, request)` against a control server on a free loopback port."""
    service = FakeService()

    async def main() -> None:
        server = ControlServer(service, TOKEN, "127.0.0.1", 0)
        await server.start()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async def request(method: str, path: str, token: str | None = TOKEN,
                                  **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
                    headers = dict(kwargs.pop("headers", {}))
                    if token is not None:
                        headers["Authorization"] = f"Bearer {token}"
                    async with http.request(method, f"http://127.0.0.1:{server.port}{path}",
                                            headers=headers, **kwargs) as response:
                        body: Any = await response.read()
                        if response.content_type == "application/json":
                            body = await response.json()
                        return response.status, body, response
                await test(service, request)
        finally:
            await server.stop()

    asyncio.run(main())
    return service


# ---- the token file

def test_token_is_created_private_and_kept(tmp_path: Path) -> None:
    token = load_token(tmp_path / "rt")
    path = tmp_path / "rt" / TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 32
    assert load_token(tmp_path / "rt") == token


def test_a_token_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE
    path.write_text("abc\n")
    path.chmod(0o644)
    with pytest.raises(ControlError, match="chmod 600"):
        load_token(tmp_path)


def test_a_symlinked_or_empty_token_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("abc")
    os.symlink(tmp_path / "elsewhere", tmp_path / TOKEN_FILE)
    with pytest.raises(ControlError):
        load_token(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / TOKEN_FILE).write_text("\n")
    (other / TOKEN_FILE).chmod(0o600)
    with pytest.raises(ControlError, match="one line"):
        load_token(other)


# ---- authentication

def test_every_request_without_the_right_token_gets_401() -> None:
    async def test(_: FakeService, request: Client) -> None:
        for method, path in [("GET", "/metrics"), ("GET", "/calls"), ("GET", "/agents"),
                             ("GET", "/agents/alice"), ("PUT", "/agents/alice"),
                             ("POST", "/reload"), ("GET", "/nowhere")]:
            for token in (None, "wrong", TOKEN + "x", ""):
                status, body, response = await request(method, path, token=token,
                                                       json={"state": "break"})
                assert status == 401, (method, path, token)
                assert "bearer token" in body["error"]
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
        status = (await request("GET", "/agents", token=None,
                                headers={"Authorization": "Basic " + TOKEN}))[0]
        assert status == 401

    service = serve(test)
    assert service.acd() is not None and service._acd.status("alice").state is AgentState.OFFLINE


def test_health_without_a_token_says_only_the_status() -> None:
    async def test(service: FakeService, request: Client) -> None:
        status, body, _ = await request("GET", "/health", token=None)
        assert (status, body) == (200, {"status": "serving"})
        status, body, _ = await request("GET", "/health")
        assert status == 200 and body["bundle"] == DIGEST_A and body["calls"] == 1
        status, _, _ = await request("GET", "/health", token="wrong")
        assert status == 401
        service.status = "draining"
        status, body, _ = await request("GET", "/health", token=None)
        assert (status, body) == (503, {"status": "draining"})

    serve(test)


# ---- endpoints

def test_agents_list_with_state_and_reachability() -> None:
    async def test(service: FakeService, request: Client) -> None:
        status, body, _ = await request("GET", "/agents")
        assert status == 200
        agents = {a["user"]: a for a in body["agents"]}
        assert agents["alice"]["state"] == "offline" and agents["alice"]["reachable"] is True
        assert agents["bob"]["reachable"] is False  # no address, not registered
        service.presence.register("bob", "sip:bob@127.0.0.1:5070", 60)
        _, body, _ = await request("GET", "/agents/bob")
        assert body["reachable"] is True and body["skills"] == {"sales": 7}

    serve(test)


def test_setting_agent_states_changes_routing() -> None:
    async def test(service: FakeService, request: Client) -> None:
        acd = service._acd
        status, body, _ = await request("PUT", "/agents/alice", json={"state": "available"})
        assert status == 200 and body["state"] == "available"
        entry = acd.enqueue("call-1", "sales", "+861", 0)
        status, body, _ = await request("POST", "/agents/alice", json={"state": "break"})
        assert status == 200 and body["state"] == "break"
        assert acd.try_route(entry, familiar=False) is None
        await request("PUT", "/agents/alice", json={"state": "available"})
        route = acd.try_route(entry, familiar=False)
        assert route is not None and route.agent.user == "alice"
        # On a call: the break is taken when the call ends.
        status, body, _ = await request("PUT", "/agents/alice", json={"state": "break"})
        assert status == 202 and body["state"] == "busy" and body["after_call"] == "break"
        acd.finish(route, "+861", answered=True)
        _, body, _ = await request("GET", "/agents/alice")
        assert body["state"] == "break" and body["after_call"] is None

    serve(test)


def test_bad_agent_requests_get_json_errors() -> None:
    async def test(service: FakeService, request: Client) -> None:
        status, body, _ = await request("PUT", "/agents/alcie", json={"state": "break"})
        assert status == 404 and body["error"] == "unknown agent 'alcie'"
        assert body["hint"] == "did you mean 'alice'?"
        for payload in ({"state": "busy"}, {"state": "gone"}, {"state": 1}, ["break"],
                        {"state": "break", "extra": 1}):
            status, body, _ = await request("PUT", "/agents/alice", json=payload)
            assert status == 400, payload
            assert "available, break, offline" in body["error"]
        status, body, _ = await request("PUT", "/agents/alice", data=b"{not json")
        assert status == 400 and "JSON" in body["error"]
        status, body, _ = await request("PUT", "/agents/alice", data=b"\xff\xfe")
        assert status == 400
        status, body, _ = await request("PUT", "/agents/alice",
                                        data=b'{"state": "' + b"x" * 100_000 + b'"}')
        assert status == 413 and "error" in body
        status, body, _ = await request("DELETE", "/agents/alice")
        assert status == 405 and "error" in body
        status, body, _ = await request("GET", "/nowhere")
        assert status == 404 and "error" in body
        assert service._acd.status("alice").state is AgentState.OFFLINE

    serve(test)


def test_calls_in_progress() -> None:
    async def test(service: FakeService, request: Client) -> None:
        status, body, _ = await request("GET", "/calls")
        assert status == 200
        assert body == {"calls": [{"call_id": "c1", "caller": "+8613700000001",
                                   "called": "+864001234567", "flow": "main",
                                   "bundle": DIGEST_A, "started_at": START.isoformat(),
                                   "state": "prompt"}]}
        service.calls = []
        _, body, _ = await request("GET", "/calls")
        assert body == {"calls": []}

    serve(test)


def test_metrics_are_prometheus_text_and_follow_the_acd() -> None:
    async def test(service: FakeService, request: Client) -> None:
        service.metrics.call_started()
        service.metrics.call_started()
        service.metrics.call_ended("queue", "sales", 12_000)
        service.metrics.sip_error("parse")
        service.metrics.sip_error("something-new")
        await request("PUT", "/agents/alice", json={"state": "break"})
        status, body, response = await request("GET", "/metrics")
        assert status == 200 and response.content_type == "text/plain"
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(body.decode())
                   for s in family.samples}
        assert samples[("ccc_calls_in_progress", ())] == 1
        assert samples[("ccc_calls_total", (("outcome", "queue"),))] == 1
        assert samples[("ccc_queue_wait_seconds_sum", (("group", "sales"),))] == 12.0
        bucket = ("ccc_queue_wait_seconds_bucket", (("group", "sales"), ("le", "10.0")))
        assert samples[bucket] == 0
        assert samples[("ccc_sip_errors_total", (("kind", "other"),))] == 1
        assert samples[("ccc_agents", (("reachable", "true"), ("state", "break")))] == 1
        assert samples[("ccc_agents", (("reachable", "false"), ("state", "offline")))] == 1
        assert samples[("ccc_rtp_ports_in_use", ())] == 0

    serve(test)


def test_reload_switches_or_reports_why_not() -> None:
    async def test(service: FakeService, request: Client) -> None:
        status, body, _ = await request("POST", "/reload")
        assert status == 200
        assert body == {"bundle": DIGEST_B, "previous": DIGEST_A, "changed": True}
        service.next_bundle = None
        status, body, _ = await request("POST", "/reload")
        assert status == 409 and "bad bundle" in body["error"]
        assert service.bundle == DIGEST_B
        assert service.metrics.value("ccc_reloads_total", {"result": "failed"}) == 1

    serve(test)


def test_two_services_keep_their_own_metrics() -> None:
    one, two = Metrics(), Metrics()
    one.call_started()
    assert one.value("ccc_calls_in_progress") == 1
    assert two.value("ccc_calls_in_progress") == 0



def test_oversized_request_lines_and_headers_are_refused() -> None:
    async def test(service: FakeService, request: Client) -> None:
        status = (await request("GET", "/agents", headers={"X-Big": "a" * 5000}))[0]
        assert status == 400
        status = (await request("GET", "/agents",
                                headers={f"X-H{i}": "1" for i in range(40)}))[0]
        assert status == 400
        status = (await request("GET", "/agents/" + "a" * 5000))[0]
        assert status == 400
        assert (await request("GET", "/agents"))[0] == 200  # the server is fine

    serve(test)


def test_a_bug_behind_an_endpoint_is_a_json_500_and_the_api_goes_on() -> None:
    async def test(service: FakeService, request: Client) -> None:
        service.broken = True
        status, body, _ = await request("GET", "/calls")
        assert status == 500 and "internal error" in body["error"] and "a bug" not in body["error"]
        service.broken = False
        assert (await request("GET", "/calls"))[0] == 200

    serve(test)
