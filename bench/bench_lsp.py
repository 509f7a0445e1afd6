"""Benchmark `ccc lsp`: how long after an edit of a 200-line flow, in a repo of 10,000 resources,
the editor has the new diagnostics (didChange sent -> publishDiagnostics received, over stdio,
warm: the server has checked the repo once). Alternate edits make the flow valid and invalid,
so every measured check publishes something new. Prints the figures; not a timed test.

    python bench/bench_lsp.py [--repo DIR] [--edits 30]

Goal (issue 12): under 100 ms, warm.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_manifests import generate

STEPS = 28


def big_flow(counts: dict[str, int]) -> str:
    """A valid flow of about 200 lines over the generated repo's names (`counts` per kind, as
    gen_manifests made them): a menu to nine steps, then 28 steps that each play a prompt and
    queue, timeouts chained to the next step."""
    groups, prompts = counts["skill_groups"], counts["prompts"]
    keys = "\n".join(f"      {k} -> s{k}" for k in range(1, 10))
    lines = ['flow big "Two hundred lines" {', "  start:",
             '    menu prompt "prompt0" timeout 5s retries 2 {', keys,
             '      nomatch -> play "prompt1" then reprompt', "      exhausted -> hangup",
             "    }"]
    for k in range(1, STEPS + 1):
        after = f"s{k + 1}" if k < STEPS else "hangup"
        group = f"g{k % groups}"
        lines += ["", f"  s{k}:", f'    play "prompt{k % prompts}"',
                  f'    transfer queue "{group}" timeout 2m {{',
                  f'      busy -> voicemail "{group}"', f"      timeout -> {after}", "    }"]
    return "\n".join(lines) + "\n}\n"


async def measure(repo: Path, edits: int) -> tuple[float, list[float], int]:
    """(first check, per-edit latencies in seconds, lines of the flow)."""
    client = LanguageClient("bench", "1")
    published: asyncio.Queue[types.PublishDiagnosticsParams] = asyncio.Queue()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _diagnostics(params: types.PublishDiagnosticsParams) -> None:
        published.put_nowait(params)

    await client.start_io(sys.executable, "-m", "ccc_dsl", "lsp")
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=repo.as_uri()))
    client.initialized(types.InitializedParams())
    flow = repo / "flows" / "big.ivr"
    text = flow.read_text(encoding="utf-8")
    uri = flow.as_uri()

    async def published_for(target: str) -> types.PublishDiagnosticsParams:
        while True:
            params = await asyncio.wait_for(published.get(), 60)
            if params.uri == target:
                return params

    start = time.perf_counter()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri, "ivr", 1, text)))
    await published_for(uri)
    first = time.perf_counter() - start
    latencies = []
    for version in range(2, edits + 2):
        edited = text.replace('play "prompt', 'play "missing', 1) if version % 2 else text
        start = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version, uri),
            [types.TextDocumentContentChangeWholeDocument(edited)]))
        params = await published_for(uri)
        latencies.append(time.perf_counter() - start)
        expected = {"R501"} if version % 2 else set()
        assert {str(d.code) for d in params.diagnostics} == expected, params.diagnostics
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return first, latencies, text.count("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path,
                        help="where to generate the repo (default: a temporary folder)")
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = args.repo or Path(tmp) / "repo"
        counts = generate(repo, args.resources)  # the same files each time: their cache holds
        (repo / "flows" / "big.ivr").write_text(big_flow(counts), encoding="utf-8")
        first, latencies, lines = asyncio.run(measure(repo.resolve(), args.edits))
    ms = sorted(x * 1000 for x in latencies)
    print(f"repo: {args.resources:,} resources; flow: {lines} lines; {len(ms)} edits")
    print(f"first check (loads the manifests): {first * 1000:.0f} ms")
    print(f"edit -> diagnostics, warm: median {statistics.median(ms):.1f} ms, "
          f"min {ms[0]:.1f} ms, p90 {ms[int(len(ms) * 0.9) - 1]:.1f} ms, max {ms[-1]:.1f} ms "
          "(goal < 100 ms)")


if __name__ == "__main__":
    main()
