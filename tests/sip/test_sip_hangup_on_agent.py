"""A caller who hangs up while talking to the agent, on a real call (issue 10 bug): the call
record keeps the transfer as its outcome (it said "caller hung up"), the survey that follows the
conversation in the example flow is not played to nobody, and no BYE is sent to the gone caller
(SIPp would fail on an unexpected request); the agent's leg is hung up and the agent freed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ccc_runtime.acd import AgentState
from sip_helpers import (
    Receiver,
    SippRun,
    call_records,
    caller_keys,
    install,
    make_repo,
    sipp,
    start_server,
)


def test_hanging_up_on_the_agent_keeps_the_queue_transfer_as_the_outcome(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[SippRun, SippRun, AgentState]:
        server = await start_server(runtime_dir)
        acd = server.acd()
        assert acd is not None
        acd.set_state("bob", AgentState.AVAILABLE)
        receiver = await Receiver.open()
        agent = asyncio.ensure_future(sipp("agent_waits_bye.xml", tmp_path,
                                           local_port=repo.agent_port, timeout_s=25))
        await asyncio.sleep(0.3)
        caller = await sipp("caller_leaves_agent.xml", tmp_path, remote_port=server.port,
                            keys=caller_keys(receiver.port), timeout_s=25)
        agent_run = await agent
        await server.drain()
        receiver.close()
        assert server.pool.in_use == 0 and not server.calls
        return caller, agent_run, acd.status("bob").state

    caller, agent, bob = asyncio.run(main())
    assert caller.rc == 0, caller.stderr + caller.log
    assert agent.rc == 0, agent.stderr + agent.log  # its leg got our BYE
    assert bob is not AgentState.BUSY
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "transferred to queue sales"
    assert record["agent"] == "bob"
    assert record["survey_score"] is None
