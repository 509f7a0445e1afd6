"""A converter cancelled at any moment (even while its child is starting, even by the loop's
shutdown) leaves no child behind and never keeps the event loop from closing (Python 3.11
hung there when asyncio's subprocess start was cancelled: `ccc serve` failing at start-up
during the prompt warm-up never exited)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import asyncio
from ccc_runtime.sip.prompts import _run

async def main() -> None:
    for delay in (0, 0.0005, 0.001, 0.003, 0.01, 0.05):
        task = asyncio.ensure_future(_run(["sleep", "30"], 60))
        await asyncio.sleep(delay)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    asyncio.ensure_future(_run(["sleep", "30"], 60))  # still starting when the loop shuts down
    await asyncio.sleep(0)

asyncio.run(main())
print("closed")
"""


def test_cancelled_converters_never_keep_the_loop_from_closing() -> None:
    # 30 s children, 60 s timeouts: only killing them on cancel lets this end well within 25 s
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=25, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed"
