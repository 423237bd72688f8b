"""One server process: daphne (same arguments), except that being told to stop drains it.

Stock daphne stops on SIGTERM at once and cuts every live call. Here SIGTERM or SIGINT:
1. stops accepting connections (on a socket shared by `make serve`'s workers the kernel then
   gives new calls to the others, or to the replacement the launcher starts) and tells the
   launcher so, through the pipe it passed in SERVE_NOTIFY_FD;
2. lets this process's live calls finish, for up to DRAIN_LIMIT_S (15 minutes by default);
3. ends what is left cleanly (the caller's socket closed, handed to the agent's fallback number
   if it has one, the reason recorded), waits for the records to be stored, and exits 0.
A second signal skips the wait: the calls left are ended at once, as in 3. `/readyz` answers
503 from the first signal on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server  # installs Twisted's asyncio reactor: before the next import
from django.conf import settings
from twisted.internet import reactor as _reactor

from streaming.core.call import reports
from streaming.drain import LIVE
from streaming.ground.heap import set_aside_start_up

# The asyncio reactor daphne installed: Twisted types the module attribute as a bare interface.
reactor: Any = _reactor

# After the calls, what their consumers still have to store gets this long at least.
SETTLE_S = 15.0


# The largest WebSocket frame and message taken (daphne's default is 1 MiB): a caller's frame is
# 20 ms of audio (640 bytes at 16 kHz), a text frame a few hundred bytes. A larger one makes
# autobahn drop the connection before anything reads it; the call ends and is recorded.
WEBSOCKET_MAX_BYTES = 64 * 1024


class DrainingServer(Server):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["signal_handlers"] = False  # ours, below, instead of Twisted's stop-at-once
        kwargs["websocket_max_message_size"] = WEBSOCKET_MAX_BYTES
        kwargs["websocket_max_frame_size"] = WEBSOCKET_MAX_BYTES
        super().__init__(*args, **kwargs)
        self.ports: list[Any] = []
        self.draining: asyncio.Task[None] | None = None

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def run(self) -> None:
        loop = reactor._asyncioEventloop
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.asked_to_stop)
        _say(f"set aside {set_aside_start_up()} objects loaded at start")
        super().run()

    def asked_to_stop(self) -> None:
        if self.draining is None:
            self.draining = asyncio.get_running_loop().create_task(self.drain())
        else:
            LIVE.hurry()

    async def drain(self) -> None:
        # The socket's only copy in this process (Twisted closed the one handed in by fd): once
        # every process sharing it has let go, new connections are refused at once.
        for port in self.ports:
            port.stopListening()
        _tell_launcher()
        limit = settings.DRAIN_LIMIT_S
        _say(f"stopping: no new calls; {len(LIVE)} live call(s) may go on for up to {limit} s "
             "(signal again to end them now)")  # fmt: skip
        try:
            ended = await LIVE.drain(limit)
            if ended:
                _say(f"ended {ended} call(s) still live")
            unsaved = await reports.settle(SETTLE_S)
            if unsaved:
                _say(f"{unsaved} call record(s) not completely stored (database unavailable)")
        finally:
            _say("stopped")
            reactor.stop()


def _tell_launcher() -> None:
    """`make serve` starts a replacement as soon as a worker begins to drain."""
    fd = os.environ.get("SERVE_NOTIFY_FD", "")
    if fd.isdigit():
        with contextlib.suppress(OSError):
            os.write(int(fd), f"{os.getpid()}\n".encode())


def _say(text: str) -> None:
    print(f"worker {os.getpid()}: {text}", file=sys.stderr, flush=True)


class WorkerCommandLine(CommandLineInterface):
    server_class = DrainingServer


if __name__ == "__main__":
    WorkerCommandLine.entrypoint()
