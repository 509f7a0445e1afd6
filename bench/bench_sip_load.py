"""Benchmark: live SIP calls under load, our runtime against the stock pyVoIP IVR, in one run.

SIPp (`sip-tester`) places the same calls at each target on loopback: INVITE with PCMU and
telephone-event, ACK, three RFC 2833 digits (SIPp's bundled dtmf_2833_*.pcap) a few hundred
ms apart, then media until the caller's BYE. Two phases per target:

- latency: calls at a fixed rate (default 20/s), short calls; INVITE->200 p50/p99 from SIPp's
  per-call response times (`-trace_rtt`);
- load: `--calls N` calls at once (placed at `--ramp` calls/s, each held long enough that all N
  are up together); failed calls (SIPp's count), digits received by the IVR (its own call
  log), and CPU per call-second of media (utime+stime of the target process from
  /proc/PID/stat over the phase, divided by the answered call-seconds).

Targets: `ours` (`ccc serve` on a small generated repo: a menu per digit, then a long prompt
until the caller hangs up, so that media flows all call long as with pyVoIP), `pyvoip` (the
stock IVR from /work/shared/baselines, pyVoIP 1.6.8 with its 1 s answer timer) and
`pyvoip-fast` (the same with that timer removed). Everything is on 127.0.0.1, bounded in calls
and time (SIPp's global timeout, process timeouts), and every process started is stopped by
pid. Not part of CI (it takes about a minute).

    .venv/bin/python bench/bench_sip_load.py [--calls 100] [--targets ours,pyvoip]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINES = Path(os.environ.get("CCC_BASELINES", "/work/shared/baselines"))
PCAP_DIR = Path("/usr/share/sip-tester")
CALLED = "+864001234567"
CALLER = "+8613700000001"
DIGITS = "123"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_udp_bound(pid: int, port: int, timeout_s: float) -> bool:
    """Whether process `pid` listens on UDP `port` within the time (read from /proc)."""
    deadline = time.monotonic() + timeout_s
    hexport = f":{port:04X}"
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/udp").read_text().splitlines()[1:]:
                if line.split()[1].endswith(hexport):
                    return True
        time.sleep(0.1)
    return False


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s: by pid, only the process we started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ---- the SIPp scenario

def scenario(hold_ms: int) -> str:
    """A UAC: INVITE (PCMU, telephone-event), ACK, the digits 400 ms apart, media until
    `hold_ms` after the answer, BYE. The 200's response time is SIPp's rtd 1."""
    steps = []
    for digit in DIGITS:
        steps.append('<pause milliseconds="400"/>')
        steps.append(f'<nop><action><exec play_pcap_audio="{PCAP_DIR}/dtmf_2833_{digit}.pcap"/>'
                     "</action></nop>")
    rest = max(hold_ms - 400 * len(DIGITS), 100)
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ccc bench caller">
  <send retrans="500" start_rtd="1"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "bench" <sip:{CALLER}@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{CALLER}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=bench 1 1 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="1" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "bench" <sip:{CALLER}@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  {"".join(steps)}
  <pause milliseconds="{rest}"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "bench" <sip:{CALLER}@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
  <ResponseTimeRepartition value="5, 10, 20, 50, 100, 200, 500, 1000, 2000"/>
</scenario>
"""


@dataclass
class SippRun:
    """One SIPp run's results."""

    ok: int = 0
    failed: int = 0
    peak: int = 0
    rtd_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    returncode: int = 0


def run_sipp(work: Path, name: str, target_port: int, local_port: int, *, rate: float,
             limit: int, calls: int, hold_ms: int, pid: int, media_port: int) -> SippRun:
    """Place `calls` calls at `rate`/s (at most `limit` at once) and read SIPp's results."""
    folder = work / name
    folder.mkdir()
    scen = folder / "caller.xml"
    scen.write_text(scenario(hold_ms), encoding="ascii")
    budget = int(calls / rate + hold_ms / 1000 + 30)
    cmd = ["sipp", f"127.0.0.1:{target_port}", "-sf", str(scen), "-s", CALLED.lstrip("+"),
           "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(local_port), "-mp", str(media_port),
           "-r", f"{rate:g}", "-l", str(limit), "-m", str(calls), "-nostdin",
           "-timeout", f"{budget}s", "-timeout_error", "-max_recv_loops", "10000",
           "-trace_stat", "-stf", str(folder / "stat.csv"), "-fd", "1",
           "-trace_rtt", "-rtt_freq", "1", "-trace_err", "-error_file", str(folder / "err.log")]
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    done = subprocess.run(cmd, cwd=folder, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=budget + 30, check=False)
    result = SippRun(cpu_s=cpu_seconds(pid) - cpu0, wall_s=time.monotonic() - t0,
                     returncode=done.returncode)
    rows = list(csv.DictReader((folder / "stat.csv").open(), delimiter=";"))
    if rows:
        last = rows[-1]
        result.ok = int(last["SuccessfulCall(C)"])
        result.failed = int(last["FailedCall(C)"])
        result.peak = max(int(r["CurrentCall"]) for r in rows)
    for rtt in folder.glob("*_rtt.csv"):
        for row in csv.DictReader(rtt.open(), delimiter=";"):
            result.rtd_ms.append(float(row["response_time_ms"]))
    if done.returncode not in (0, 1):
        print(f"    sipp exit {done.returncode}: {done.stderr.decode()[-500:]}", file=sys.stderr)
    return result


# ---- targets

@dataclass
class Target:
    """A running IVR: its SIP port, its process and how to read the digits it heard."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    digits: Callable[[], list[str]]  # one string per finished call, in any order
    reply_port: int | None = None  # the port SIPp must listen on (pyVoIP replies there)


def make_prompt(work: Path) -> Path:
    """The README's prompt: espeak-ng "Welcome", 8 kHz mono 8-bit unsigned (pyVoIP's format)."""
    raw, out = work / "p.wav", work / "prompt_8k_u8.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "Welcome"], check=True, timeout=30)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "8", "-e",
                    "unsigned-integer", str(out)], check=True, timeout=30)
    return out


@contextlib.contextmanager
def pyvoip_target(work: Path, fast: bool) -> Iterator[Target]:
    name = "pyvoip-fast" if fast else "pyvoip"
    folder = work / name
    folder.mkdir()
    port, reply = free_udp_port(), free_udp_port()
    log = folder / "calls.jsonl"
    cmd = [sys.executable, str(BASELINES / "pyvoip_stock_ivr.py"), "--no-register",
           "--server", "127.0.0.1", "--server-port", str(reply), "--sip-port", str(port),
           "--hold", "60", "--digits", str(len(DIGITS)), "--wav", str(make_prompt(folder)),
           "--log", str(log)] + (["--fast"] if fast else [])
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=(folder / "stderr.log").open("wb"))
    try:
        if not wait_udp_bound(proc.pid, port, 20):
            raise RuntimeError(f"{name} didn't start: {(folder / 'stderr.log').read_text()}")

        def digits() -> list[str]:
            if not log.exists():
                return []
            return [str(json.loads(line).get("digits", ""))
                    for line in log.read_text().splitlines() if line.strip()]

        yield Target(name, proc, port, digits, reply_port=reply)
    finally:
        stop(proc)


BENCH_REPO = {
    "ccc.yaml": "ccc: 1\n",
    "callcenter.yaml": f"""\
instance:
  name: Bench
  domain: bench
  default_language: en
numbers:
  hotline: {{number: "{CALLED}", type: "400"}}
flow_bindings:
  hotline: {{number: hotline, flow: bench}}
prompts:
  welcome:
    default_language: en
    languages: {{en: {{file: prompts/welcome.wav}}}}
  hold:
    default_language: en
    languages: {{en: {{file: prompts/hold.wav}}}}
""",
    "flows/bench.ivr": """\
flow bench "Load bench: one menu per digit, then wait for the caller's BYE" {
  first: menu prompt "welcome" timeout 5s retries 1 {
    1 -> second
    noinput -> reprompt
    nomatch -> reprompt
    exhausted -> bye
  }
  second: menu prompt "welcome" timeout 5s retries 1 {
    2 -> third
    noinput -> reprompt
    nomatch -> reprompt
    exhausted -> bye
  }
  third: menu prompt "welcome" timeout 5s retries 1 {
    3 -> wait
    noinput -> reprompt
    nomatch -> reprompt
    exhausted -> bye
  }
  wait: menu prompt "hold" timeout 30s retries 3 {
    9 -> bye
    noinput -> reprompt
    nomatch -> reprompt
    exhausted -> bye
  }
  bye: hangup
}
""",
}


@contextlib.contextmanager
def ours_target(work: Path) -> Iterator[Target]:
    folder = work / "ours"
    repo = folder / "repo"
    for rel, text in BENCH_REPO.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
    (repo / "prompts").mkdir(exist_ok=True)
    welcome = make_prompt(folder)
    shutil.copy(welcome, repo / "prompts" / "welcome.wav")
    # media for the rest of the call, as pyVoIP sends (it never stops sending RTP)
    subprocess.run(["sox", str(welcome), str(repo / "prompts" / "hold.wav"), "repeat", "80"],
                   check=True, timeout=30)
    port = free_udp_port()
    rundir = folder / "runtime"
    ccc = Path(sys.executable).with_name("ccc")
    cmd = [str(ccc), "serve", str(repo), "--listen", f"127.0.0.1:{port}",
           "--runtime-dir", str(rundir), "--max-calls", "2000", "--rtp-ports", "41000-45000"]
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=(folder / "stderr.log").open("wb"))
    try:
        if not wait_udp_bound(proc.pid, port, 30):
            raise RuntimeError(f"ccc serve didn't start: {(folder / 'stderr.log').read_text()}")

        def digits() -> list[str]:
            """Per finished call, the keys its menus took (trace events `key K`)."""
            keys: dict[str, str] = {}
            for trace in rundir.rglob("trace.jsonl"):
                for line in trace.read_text().splitlines():
                    event = json.loads(line)
                    outcome = str(event.get("outcome", ""))
                    keys.setdefault(event["call_id"], "")
                    if outcome.startswith("key "):
                        keys[event["call_id"]] += outcome[4:]
            finished = {json.loads(line)["call_id"] for calls in rundir.rglob("calls.jsonl")
                        for line in calls.read_text().splitlines() if line.strip()}
            return [keys.get(call_id, "") for call_id in sorted(finished)]

        yield Target("ours", proc, port, digits)
    finally:
        stop(proc)


# ---- the run

def ms(value: float) -> str:
    """SIPp measures response times in whole milliseconds: 0 means under 1 ms."""
    return "<1 ms" if value < 1 else f"{value:.0f} ms"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Figures:
    target: str
    latency: SippRun
    load: SippRun
    digits_ok: int
    calls_logged: int
    hold_s: float

    def row(self) -> dict[str, str]:
        rtd = self.latency.rtd_ms
        call_s = self.load.ok * self.hold_s
        return {
            "target": self.target,
            "INVITE->200 p50": ms(percentile(rtd, 0.5)) if rtd else "-",
            "p99": ms(percentile(rtd, 0.99)) if rtd else "-",
            "latency calls ok/failed": f"{self.latency.ok}/{self.latency.failed}",
            "load: peak up": str(self.load.peak),
            "ok/failed": f"{self.load.ok}/{self.load.failed}",
            "all digits heard": f"{self.digits_ok}/{self.calls_logged}",
            "CPU ms per call-s": f"{1000 * self.load.cpu_s / call_s:.2f}" if call_s else "-",
        }


def settle(target: Target, count: int) -> list[str]:
    """The target's call log once it holds `count` calls (it writes a call when it has seen
    the BYE), or after 10 s."""
    deadline = time.monotonic() + 10
    heard = target.digits()
    while len(heard) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        heard = target.digits()
    return heard


def bench(target: Target, work: Path, args: argparse.Namespace) -> Figures:
    local = target.reply_port or free_udp_port()
    print(f"  {target.name}: latency, {args.latency_calls} calls at {args.rate:g}/s ...",
          flush=True)
    latency = run_sipp(work, f"{target.name}-latency", target.port, local, rate=args.rate,
                       limit=args.latency_calls, calls=args.latency_calls,
                       hold_ms=args.latency_hold_ms, pid=target.proc.pid, media_port=30000)
    settle(target, latency.ok)
    before = len(target.digits())
    hold_ms = int(1000 * args.calls / args.ramp) + args.extra_hold_ms
    print(f"  {target.name}: load, {args.calls} calls at once (held {hold_ms} ms) ...",
          flush=True)
    load = run_sipp(work, f"{target.name}-load", target.port, local, rate=args.ramp,
                    limit=args.calls, calls=args.calls, hold_ms=hold_ms,
                    pid=target.proc.pid, media_port=34000)
    heard = settle(target, before + load.ok)[before:]
    return Figures(target.name, latency, load, sum(1 for d in heard if d == DIGITS),
                   len(heard), hold_ms / 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="calls up at once (load phase)")
    parser.add_argument("--ramp", type=float, default=25.0, help="calls/s to reach --calls")
    parser.add_argument("--extra-hold-ms", type=int, default=4000,
                        help="each load call lasts calls/ramp s plus this")
    parser.add_argument("--rate", type=float, default=20.0, help="calls/s (latency phase)")
    parser.add_argument("--latency-calls", type=int, default=200)
    parser.add_argument("--latency-hold-ms", type=int, default=2000)
    parser.add_argument("--targets", default="ours,pyvoip",
                        help="comma-separated: ours, pyvoip, pyvoip-fast")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if args.calls < 1 or args.calls > 1000 or args.latency_calls < 1 or args.latency_calls > 5000:
        parser.error("--calls must be 1..1000 and --latency-calls 1..5000")
    for tool in ("sipp", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (scripts/setup.sh installs it)")
    starters: dict[str, Callable[[Path], contextlib.AbstractContextManager[Target]]] = {
        "ours": ours_target,
        "pyvoip": lambda w: pyvoip_target(w, fast=False),
        "pyvoip-fast": lambda w: pyvoip_target(w, fast=True),
    }
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in starters]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    work = Path(tempfile.mkdtemp(prefix="ccc-sip-bench-"))
    results: list[Figures] = []
    try:
        print(f"SIPp load on 127.0.0.1, {os.cpu_count()} CPUs; work folder {work}")
        for name in names:
            with starters[name](work) as target:
                results.append(bench(target, work, args))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows = [r.row() for r in results]
    if rows:
        keys = list(rows[0])
        widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
        print("\n| " + " | ".join(k.ljust(widths[k]) for k in keys) + " |")
        print("| " + " | ".join("-" * widths[k] for k in keys) + " |")
        for r in rows:
            print("| " + " | ".join(r[k].ljust(widths[k]) for k in keys) + " |")
    base = next((r for r in results if r.target.startswith("pyvoip")), None)
    ours = next((r for r in results if r.target == "ours"), None)
    if base and ours and base.latency.rtd_ms and ours.latency.rtd_ms:
        theirs, mine = (statistics.median(r.latency.rtd_ms) for r in (base, ours))
        bound = ">=" if mine < 1 else ""  # under SIPp's 1 ms resolution: a lower bound
        print(f"\nINVITE->200 median: {base.target} / ours = {bound}{theirs / max(mine, 1):.0f}x")
        if base.load.cpu_s and ours.load.cpu_s and base.load.ok and ours.load.ok:
            print(f"CPU per call-second: {base.target} / ours = "
                  f"{(base.load.cpu_s / base.load.ok) / (ours.load.cpu_s / ours.load.ok):.1f}x")
    clean = all(r.load.failed == 0 and r.latency.failed == 0 and r.digits_ok == r.load.ok
                for r in results if r.target == "ours")
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
