"""Registration mode against a real Kamailio: digest auth, the binding Kamailio keeps (a call
from SIPp to the AOR through Kamailio reaches us and is answered), re-registration before
expiry, a wrong password, and a registrar that never answers (nothing hangs)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from ccc_runtime.metrics import Metrics
from ccc_runtime.sip.endpoint import ServerTransaction, SipEndpoint
from ccc_runtime.sip.message import SipMessage
from ccc_runtime.sip.register import (
    Challenge,
    Registrar,
    Registration,
    digest_authorization,
    parse_challenge,
)
from kamailio_peer import PASSWORD, USER, Kamailio, free_udp_port, start_kamailio, stop_kamailio

SDP = (b"v=0\r\no=ccc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class Answerer:
    """A tiny UAS on our endpoint: answers every INVITE with 200 and SDP, ends on BYE."""

    def __init__(self) -> None:
        self.invites: list[SipMessage] = []
        self.byes = 0
        self.endpoint: SipEndpoint | None = None

    def on_invite(self, txn: ServerTransaction) -> None:
        assert self.endpoint is not None
        self.invites.append(txn.request)
        dialog = self.endpoint.server_dialog(txn)

        def in_dialog(msg: SipMessage, inner: ServerTransaction) -> None:
            inner.respond(200)
            if msg.method == "BYE":
                self.byes += 1
                dialog.terminate()

        dialog.on_request = in_dialog
        txn.respond(200, headers=[("contact", self.endpoint.contact_for("127.0.0.1", USER)),
                                  ("content-type", "application/sdp")], body=SDP)


def sipp_call(kam: Kamailio, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    """SIPp's built-in UAC places one call to the AOR, through Kamailio."""
    return subprocess.run(
        ["sipp", f"127.0.0.1:{kam.port}", "-sn", "uac", "-s", USER, "-m", "1",
         "-i", "127.0.0.1", "-p", str(free_udp_port()), "-d", "200", "-nostdin",
         "-timeout", "20s", "-timeout_error", "-recv_timeout", "10000"],
        capture_output=True, timeout=timeout, check=False)


def test_digest_response_matches_rfc_2617() -> None:
    challenge = Challenge("Digest", {"realm": "testrealm@host.com", "qop": "auth,auth-int",
                                     "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                     "opaque": "5ccc069c403ebaf9f0171e9517f40e41"})
    value = digest_authorization(challenge, "GET", "/dir/index.html", "Mufasa",
                                 "Circle Of Life", nc=1, cnonce="0a4f113b")
    assert value is not None
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value and "nc=00000001" in value


def test_challenges_we_cant_answer_are_refused() -> None:
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge('Digest realm="x"') is None  # no nonce
    odd = parse_challenge('Digest realm="a\\"b", nonce="n", algorithm=MD5-sess')
    assert odd is not None and odd.params["realm"] == 'a"b'
    assert digest_authorization(odd, "REGISTER", "sip:x", "u", "p") is None
    only_int = parse_challenge('Digest realm="r", nonce="n", qop="auth-int"')
    assert only_int is not None
    assert digest_authorization(only_int, "REGISTER", "sip:x", "u", "p") is None
    huge = parse_challenge("Digest " + ", ".join(f"p{i}=v" for i in range(10_000))
                           + ', realm="r", nonce="n"')
    assert huge is None or len(huge.params) <= 32


def test_register_at_kamailio_and_take_a_call_routed_through_it(kamailio: Kamailio) -> None:
    answerer = Answerer()

    async def main() -> tuple[int, bool, int]:
        endpoint = await SipEndpoint.bind("127.0.0.1", 0, answerer.on_invite)
        answerer.endpoint = endpoint
        registrar = Registrar(endpoint, Registration(kamailio.address, USER, PASSWORD,
                                                     expires_s=60))
        try:
            response = await asyncio.wait_for(registrar.register_once(), 10)
            assert response.status == 200, response.status
            registrar.registered = True
            call = await asyncio.get_running_loop().run_in_executor(None, sipp_call, kamailio)
            assert call.returncode == 0, call.stdout[-2000:] + call.stderr[-2000:]
            granted = registrar._granted(response)
            await asyncio.wait_for(registrar.stop(), 5)  # unregisters
            after = await asyncio.get_running_loop().run_in_executor(None, sipp_call, kamailio)
            return granted, registrar.registered, after.returncode
        finally:
            endpoint.close()

    granted, still, after = asyncio.run(main())
    assert 50 <= granted <= 60
    assert len(answerer.invites) == 1 and answerer.byes == 1
    invite = answerer.invites[0]
    assert invite.uri.startswith(f"sip:{USER}@127.0.0.1:")  # Kamailio's lookup: our Contact
    assert f"127.0.0.1:{kamailio.port}" in (invite.get("via") or "")
    assert not still and after != 0  # unregistered: Kamailio answers 404


def test_re_registers_before_expiry(tmp_path: Path) -> None:
    kam = start_kamailio(tmp_path, min_expires=2)
    try:
        async def main() -> tuple[int, bool]:
            endpoint = await SipEndpoint.bind("127.0.0.1", 0, lambda txn: None)
            metrics = Metrics()
            registrar = Registrar(endpoint, Registration(kam.address, USER, PASSWORD,
                                                         expires_s=4), metrics=metrics)
            registrar.start()
            try:
                await asyncio.sleep(5.5)  # granted 4 s: renewed each second (never after 4 s)
                aor = {"aor": f"sip:{USER}@127.0.0.1"}
                assert metrics.value("ccc_registered", aor) == 1
                return registrar.attempts, registrar.registered
            finally:
                await registrar.stop()
                endpoint.close()

        attempts, registered = asyncio.run(main())
        assert attempts >= 3 and registered
    finally:
        stop_kamailio(kam)


def test_a_wrong_password_is_not_registered_and_backs_off(kamailio: Kamailio) -> None:
    async def main() -> Registrar:
        endpoint = await SipEndpoint.bind("127.0.0.1", 0, lambda txn: None)
        metrics = Metrics()
        registrar = Registrar(endpoint, Registration(kamailio.address, USER, "wrong",
                                                     expires_s=60), metrics=metrics)
        registrar.start()
        try:
            await asyncio.sleep(2.0)
            assert metrics.value("ccc_registered", {"aor": registrar.reg.aor}) == 0
            assert (metrics.value("ccc_sip_errors_total", {"kind": "register"}) or 0) >= 1
            return registrar
        finally:
            await registrar.stop()
            endpoint.close()

    registrar = asyncio.run(main())
    assert not registrar.registered
    assert registrar.last_status in (401, 403)
    assert 1 <= registrar.attempts <= 3  # backs off (1 s, 2 s, ...), doesn't spin
    assert "wrong" not in registrar.last_error


def test_a_registrar_that_never_answers_hangs_nothing() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # takes datagrams, never answers
        address = ("127.0.0.1", int(silent.getsockname()[1]))

        async def main() -> tuple[int, float, float]:
            endpoint = await SipEndpoint.bind("127.0.0.1", 0, lambda txn: None)
            registrar = Registrar(endpoint, Registration(address, USER, PASSWORD))
            registrar.start()
            ticks = 0
            started = time.monotonic()
            while time.monotonic() - started < 1.5:  # the loop keeps running meanwhile
                await asyncio.sleep(0.05)
                ticks += 1
            stop_started = time.monotonic()
            await registrar.stop()
            endpoint.close()
            return ticks, time.monotonic() - stop_started, time.monotonic() - started

        ticks, stop_s, total = asyncio.run(main())
        retransmissions = 0
        silent.settimeout(0.1)
        try:
            while silent.recv(65536):
                retransmissions += 1
        except OSError:
            pass
    assert ticks >= 20 and stop_s < 1.0 and total < 4
    assert retransmissions >= 2  # REGISTER retransmitted at T1, 2*T1 (timer E)


def test_hostile_registrar_answers_are_bounded() -> None:
    loop = asyncio.new_event_loop()
    try:
        endpoint = SipEndpoint(loop, lambda txn: None)
        registrar = Registrar(endpoint, Registration(("127.0.0.1", 5060), USER, PASSWORD,
                                                     expires_s=120))
        ours = endpoint.contact_for("127.0.0.1", USER)
        huge = "9" * 5000  # int() of this raises on 3.11: must not reach it
        response = SipMessage(status=200, headers=[("contact", f"{ours};expires={huge}"),
                                                   ("expires", huge)])
        assert registrar._granted(response) == 120
        response = SipMessage(status=200, headers=[("contact", f"{ours};expires=99999999")])
        assert registrar._granted(response) == 86_400
        response = SipMessage(status=200, headers=[("contact", "<sip:other@10.0.0.1>;expires=5"),
                                                   ("expires", "30")])
        assert registrar._granted(response) == 30
    finally:
        loop.close()
    challenge = parse_challenge('Digest realm="a\\"b, c", nonce="n\\\\"')
    assert challenge is not None
    value = digest_authorization(challenge, "REGISTER", "sip:x", "u", "p")
    assert value is not None and 'realm="a\\"b, c"' in value and 'nonce="n\\\\"' in value
