"""Live calls end to end: SIPp as the caller and as the agent against `Server` on loopback."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import pytest
from ccc_runtime.acd import AgentState
from ccc_runtime.digest import manifest_bytes
from ccc_runtime.sip import g711
from sip_helpers import (
    EXAMPLES,
    Receiver,
    Repo,
    call_records,
    caller_keys,
    install,
    make_repo,
    sipp,
    start_server,
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return make_repo(tmp_path_factory.mktemp("sip-repo"))


def _wav_pcm(path: Path) -> bytes:
    with wave.open(str(path)) as wav:
        return wav.readframes(wav.getnframes())


def test_caller_hears_the_menu_presses_keys_talks_to_the_agent_and_takes_the_survey(
        repo: Repo, tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[object, object, Receiver]:
        server = await start_server(runtime_dir)
        acd = server.acd()
        assert acd is not None
        acd.set_state("bob", AgentState.AVAILABLE)
        receiver = await Receiver.open()
        agent = asyncio.ensure_future(sipp("agent.xml", tmp_path, local_port=repo.agent_port,
                                           ))
        await asyncio.sleep(0.3)
        caller = await sipp("caller_menu.xml", tmp_path, remote_port=server.port,
                            keys=caller_keys(receiver.port))
        agent_run = await agent
        await server.drain()
        receiver.close()
        return caller, agent_run, receiver

    caller, agent, receiver = asyncio.run(main())
    assert caller.rc == 0, caller.stderr + caller.log  # type: ignore[attr-defined]
    assert agent.rc == 0, agent.stderr + agent.log  # type: ignore[attr-defined]
    assert "FROM=+8613700000001" in agent.log  # type: ignore[attr-defined]
    [record] = call_records(runtime_dir)
    assert record["caller"] == "+8613700000001"
    assert record["called"] == "+864008205678"
    assert record["outcome"] == "transferred to queue sales"
    assert record["agent"] == "bob"
    assert record["survey_score"] == 4
    assert any(step.startswith("survey@") for step in record["path"])
    # the zh main greeting arrived as the prompt's own samples, u-law encoded
    heard = receiver.audio(0)
    expected = g711.encode(_wav_pcm(EXAMPLES / "prompts/zh/main-greeting.wav"), alaw=False)
    start = heard.find(expected[:1600])
    assert start >= 0, "the main greeting's audio never arrived"
    got = g711.decode(heard[start:start + len(expected)], alaw=False)
    assert got == g711.decode(expected, alaw=False)


def test_a_caller_waits_on_hold_music_until_the_agent_is_free(repo: Repo,
                                                               tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[object, object, Receiver]:
        server = await start_server(runtime_dir)
        acd = server.acd()
        assert acd is not None
        acd.set_state("bob", AgentState.BUSY)  # logged in, on another call: the caller queues
        asyncio.get_running_loop().call_later(
            2.7, acd.set_state, "bob", AgentState.AVAILABLE)
        receiver = await Receiver.open()
        agent = asyncio.ensure_future(sipp("agent.xml", tmp_path, local_port=repo.agent_port))
        await asyncio.sleep(0.3)
        caller = await sipp("caller_menu.xml", tmp_path, remote_port=server.port,
                            keys=caller_keys(receiver.port))
        agent_run = await agent
        await server.drain()
        receiver.close()
        return caller, agent_run, receiver

    caller, agent, receiver = asyncio.run(main())
    assert caller.rc == 0, caller.stderr + caller.log  # type: ignore[attr-defined]
    assert agent.rc == 0, agent.stderr + agent.log  # type: ignore[attr-defined]
    [record] = call_records(runtime_dir)
    assert record["agent"] == "bob" and record["queue"] == "sales"
    assert record["queue_wait_ms"] >= 100  # it did wait
    assert record["survey_score"] == 4
    music = g711.encode(_wav_pcm(EXAMPLES / "prompts/hold-music.wav"), alaw=False)
    assert receiver.audio(0).find(music[:1600]) >= 0, "no hold music was heard"


def test_an_agent_without_an_address_is_rung_where_they_registered(repo: Repo,
                                                                   tmp_path: Path) -> None:
    config = json.loads(repo.files["bundle.json"])
    config["agents"]["bob"]["address"] = None  # found through the registrar
    files = {**repo.files, "bundle.json": json.dumps(config).encode()}
    files["manifest.json"] = manifest_bytes(files)
    runtime_dir = install(tmp_path, files)

    async def main() -> tuple[object, object]:
        server = await start_server(runtime_dir)
        acd = server.acd()
        assert acd is not None
        acd.set_state("bob", AgentState.AVAILABLE)
        assert not acd.reachable("bob")
        server.presence.register("bob", f"sip:bob@127.0.0.1:{repo.agent_port}", 60)
        agent = asyncio.ensure_future(sipp("agent.xml", tmp_path, local_port=repo.agent_port))
        await asyncio.sleep(0.3)
        caller = await sipp("caller_menu.xml", tmp_path, remote_port=server.port,
                            keys=caller_keys(9))
        agent_run = await agent
        await server.drain()
        return caller, agent_run

    caller, agent = asyncio.run(main())
    assert caller.rc == 0, caller.stderr + caller.log  # type: ignore[attr-defined]
    assert agent.rc == 0, agent.stderr + agent.log  # type: ignore[attr-defined]
    [record] = call_records(runtime_dir)
    assert record["agent"] == "bob" and record["survey_score"] == 4
