#!/usr/bin/env python3
"""Call a number served by `ccc serve` with SIPp, press the keys you choose, and hang up.

Why: trying your own flow on a real call needs a SIP phone; SIPp (Debian `sip-tester`) is one
on the command line. This writes a SIPp scenario for your keys (sent as SIP INFO
application/dtmf-relay, which `ccc serve` takes like RFC 2833 events), runs one call, and,
with --runtime-dir, prints the call record the runtime wrote for it.

Examples:
  ccc serve examples --runtime-dir /tmp/rt --listen 127.0.0.1:5060 &
  python scripts/call.py 4008205678 --keys 1 --to 127.0.0.1:5060 --runtime-dir /tmp/rt
  python scripts/call.py 4008205678 --keys 1,2 --gap 1.5 --hold 8 --caller 13700000001

Exit codes: 0 the call went through (SIPp's scenario completed), 1 it failed (SIPp's errors
are printed), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY_RE = re.compile(r"[0-9*#]")
MAX_KEYS = 32
_HEADERS = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{number}@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq} {method}
Max-Forwards: 70"""


def _request(method: str, cseq: int, number: str, caller: str, body: str = "",
             content_type: str = "", contact: bool = False) -> str:
    """One request of the scenario, CRLF line ends added by SIPp."""
    lines = [f"{method} sip:{number}@[remote_ip]:[remote_port] SIP/2.0",
             _HEADERS.format(caller=caller, number=number, cseq=cseq, method=method,
                             to_tag="" if method == "INVITE" else "[peer_tag_param]")]
    if contact:
        lines.append(f"Contact: sip:{caller}@[local_ip]:[local_port]")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append("Content-Length: [len]")
    text = "\n".join(lines) + "\n\n" + body
    return text if body else text.rstrip("\n") + "\n"


def scenario(number: str, caller: str, keys: list[str], gap_ms: int, hold_ms: int) -> str:
    """The SIPp scenario XML: INVITE with a PCMU offer, ACK, one INFO per key, BYE; or the
    200 OK to the BYE of a flow that hangs up first."""
    sdp = ("v=0\no=caller 1 1 IN IP[local_ip_type] [local_ip]\ns=-\n"
           "c=IN IP[media_ip_type] [media_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0 101\n"
           "a=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n")
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<scenario name="ccc call">',
             _send(_request("INVITE", 1, number, caller, sdp, "application/sdp", True), True),
             '<recv response="100" optional="true"/>', '<recv response="180" optional="true"/>',
             '<recv response="183" optional="true"/>', '<recv response="200" rtd="true"/>',
             _send(_request("ACK", 1, number, caller))]
    for index, key in enumerate(keys):
        parts.append(f'<pause milliseconds="{gap_ms}"/>')
        parts.append(_send(_request("INFO", 2 + index, number, caller,
                                    f"Signal={key}\nDuration=160\n", "application/dtmf-relay")))
        parts.append('<recv response="200"/>')
    parts.append(f'<pause milliseconds="{hold_ms}"/>')
    parts.append(_send(_request("BYE", 2 + len(keys), number, caller), True))
    parts.append('<recv response="200" next="end"/>')
    # a flow that hangs up itself (`hangup`, a transfer that ends) sends its BYE while the
    # script still waits: SIPp jumps here with any request it did not expect and answers it
    parts.append('<label id="_unexp.main"/>')
    parts.append(_send("SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n"
                       "[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n"))
    parts.append('<label id="end"/>')
    parts.append("</scenario>")
    return "\n".join(parts) + "\n"


def _send(message: str, retrans: bool = False) -> str:
    attribute = ' retrans="500"' if retrans else ""
    return f"<send{attribute}><![CDATA[\n{message}]]></send>"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keys(text: str) -> list[str]:
    keys = [k for k in text.replace(",", "").replace(" ", "")]
    if len(keys) > MAX_KEYS or any(not KEY_RE.fullmatch(k) for k in keys):
        raise argparse.ArgumentTypeError(
            f"keys are 0-9, * and #, at most {MAX_KEYS} (e.g. --keys 1,2 or --keys 12#)")
    return keys


def _records(runtime_dir: Path) -> list[str]:
    path = runtime_dir / "records" / "calls.jsonl"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Call a number served by `ccc serve` with SIPp and press keys.",
        epilog="Example: python scripts/call.py 4008205678 --keys 1,1 --to 127.0.0.1:5060")
    parser.add_argument("number", help="the number to dial, as a caller dials it")
    parser.add_argument("--keys", type=_keys, default=[], help="keys to press, e.g. 1,2 or 12#")
    parser.add_argument("--to", default="127.0.0.1:5060", help="where `ccc serve` listens")
    parser.add_argument("--caller", default="13700000001", help="the calling number")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds before each key")
    parser.add_argument("--hold", type=float, default=3.0,
                        help="seconds on the line after the last key, then hang up")
    parser.add_argument("--runtime-dir", type=Path,
                        help="the served runtime directory: print this call's record")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\+?[0-9]{1,20}", args.number) or not re.fullmatch(
            r"\+?[0-9]{1,20}", args.caller):
        parser.error("the number and the caller are digits, with an optional leading +")
    if not 0 <= args.gap <= 60 or not 0 <= args.hold <= 3600:
        parser.error("--gap is 0-60 seconds and --hold 0-3600")
    if shutil.which("sipp") is None:
        print("call.py: sipp is not installed (Debian: apt-get install sip-tester)",
              file=sys.stderr)
        return 1
    before = len(_records(args.runtime_dir)) if args.runtime_dir else 0
    with tempfile.TemporaryDirectory(prefix="ccc-call-") as tmp:
        xml = Path(tmp) / "call.xml"
        xml.write_text(scenario(args.number, args.caller, args.keys,
                                int(args.gap * 1000), int(args.hold * 1000)), encoding="utf-8")
        limit = int(5 + args.gap * len(args.keys) + args.hold + 10)
        argv_sipp = ["sipp", "-sf", str(xml), args.to, "-m", "1", "-i", "127.0.0.1",
                     "-mi", "127.0.0.1", "-p", str(_free_port()), "-mp", str(_free_port()),
                     "-nostdin", "-timeout", f"{limit}s", "-timeout_error", "-trace_err"]
        try:
            done = subprocess.run(argv_sipp, cwd=tmp, capture_output=True, text=True,
                                  timeout=limit + 10, check=False)
        except subprocess.TimeoutExpired:
            print(f"call.py: SIPp did not finish within {limit + 10} s", file=sys.stderr)
            return 1
        if done.returncode != 0:
            errors = sorted(Path(tmp).glob("*_errors.log"))
            detail = errors[0].read_text(errors="replace")[-2000:] if errors else done.stderr
            print(f"call.py: the call failed (SIPp exit {done.returncode})\n{detail}",
                  file=sys.stderr)
            return 1
    pressed = ", ".join(args.keys) or "no keys"
    print(f"called {args.number} from {args.caller} at {args.to}, pressed {pressed}, hung up")
    if args.runtime_dir:
        for _ in range(40):  # the record is written as the call ends, just after the BYE
            if len(_records(args.runtime_dir)) > before:
                break
            time.sleep(0.05)
        for line in _records(args.runtime_dir)[before:]:
            record = json.loads(line)
            print(f"call record: {record.get('outcome')}; path {' '.join(record.get('path', []))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
