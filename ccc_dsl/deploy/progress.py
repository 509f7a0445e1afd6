"""Deploy progress on a terminal: one bar per host, redrawn in place while hosts work in
parallel (rich). Off a terminal (CI logs, pipes) or with NO_COLOR there are no bars: the
caller's log lines are what a reader needs there, and animation would only garble them.

A target reports each step as `progress(host, message)` (targets/base.py); a message starting
with "done" or "failed" ends that host's bar.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from ccc_dsl.deploy.targets.base import Progress
from ccc_dsl.views.terminal import use_color

_MESSAGE_WIDTH = 72


@contextmanager
def host_bars(hosts: Sequence[str], stream: TextIO) -> Iterator[Progress | None]:
    """A progress callback drawing a bar per host on `stream` while the block runs; None when
    `stream` is not a terminal or colour is off (NO_COLOR: plain lines, as use_color says)."""
    if not stream.isatty() or not use_color(stream):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    console = Console(file=stream, force_terminal=True, highlight=False)
    columns = (SpinnerColumn(), TextColumn("{task.fields[host]}", markup=False),
               BarColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}", markup=False))
    with Bars(*columns, console=console) as bars:
        tasks = {host: bars.add_task("waiting", total=None, host=host) for host in hosts}

        def progress(host: str, message: str) -> None:
            task = tasks.get(host)
            if task is None:
                return
            finished = message.startswith(("done", "failed"))
            text = " ".join(message.split())
            if len(text) > _MESSAGE_WIDTH:
                text = text[:_MESSAGE_WIDTH - 1] + "…"
            bars.update(task, description=text, total=1 if finished else None,
                        completed=1 if finished else 0)

        yield progress
