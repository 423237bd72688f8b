"""Deploys drop no call: a process asked to stop lets its live calls finish first.

The server (voiceproject.worker) stops taking new sockets and calls `LIVE.drain()`: it waits for
the calls this process holds to end by themselves, up to the drain limit, then ends the rest
cleanly, each with its reason recorded. Plain asyncio; the consumer registers its calls here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

# How often the drain looks whether the last call has ended.
POLL_S = 0.25
# Ending a call at the limit closes the caller's socket at once; recording its end may wait on
# the database, for at most this long, before the process goes.
END_TIMEOUT_S = 15.0


class LiveCall(Protocol):
    async def end_for_drain(self, reason: str) -> None: ...


@runtime_checkable
class TellsCall(Protocol):
    call_id: str

    async def said_over(self, state: str) -> None: ...


class LiveCalls:
    def __init__(self) -> None:
        self._calls: set[LiveCall] = set()
        self._arriving = 0
        self.draining = False
        self.hurried = False
        # Set once the drain ends what is left: a call whose set-up finishes later is ended too.
        self.ending = ""
        self._ended_late = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._telling: set[asyncio.Future[None]] = set()  # held, or asyncio may drop them

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """A stream socket being set up (checked, claimed, accepted): not yet a live call, but
        the caller is already on this process. A drain that begins meanwhile waits for it."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1

    def add(self, call: LiveCall) -> str:
        """Count `call` as live. Returns why it must end at once if this process is already
        ending its calls (its set-up outlasted the drain), else ""."""
        self._loop = asyncio.get_running_loop()
        self._calls.add(call)
        if self.ending:
            self._ended_late += 1
        return self.ending

    def discard(self, call: LiveCall) -> None:
        self._calls.discard(call)

    def tell_from_thread(self, over: dict[str, str]) -> None:
        """From another thread (the heartbeat): these calls are over, says the database; their
        bridges here end as if the status callback had reached them."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._tell, over)

    def _tell(self, over: dict[str, str]) -> None:
        for call in list(self._calls):
            if isinstance(call, TellsCall) and call.call_id in over:
                told = asyncio.ensure_future(call.said_over(over[call.call_id]))
                self._telling.add(told)
                told.add_done_callback(self._telling.discard)

    def __len__(self) -> int:
        return len(self._calls)

    async def drain(self, limit_s: float) -> int:
        """Wait for the live calls to end, up to `limit_s` (or `hurry()`); end the rest.

        Returns how many were ended here rather than by themselves.
        """
        self.draining = True
        deadline = time.monotonic() + limit_s
        while self._busy() and time.monotonic() < deadline and not self.hurried:
            await asyncio.sleep(POLL_S)
        if not self._busy():
            return 0
        self.ending = ("server stopping: ended at once (asked twice)" if self.hurried
                       else f"server stopping: drain limit reached ({int(limit_s)} s)")  # fmt: skip
        left = list(self._calls)
        if left:
            ending = [asyncio.ensure_future(call.end_for_drain(self.ending)) for call in left]
            await asyncio.wait(ending, timeout=END_TIMEOUT_S)
        # Calls still being set up end themselves as they are added; give them the same time.
        deadline = time.monotonic() + END_TIMEOUT_S
        while self._arriving and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        return len(left) + self._ended_late

    def _busy(self) -> bool:
        return bool(self._calls) or self._arriving > 0

    def hurry(self) -> None:
        """Asked to stop again while draining: end what is left now."""
        self.hurried = True


# The calls this process holds.
LIVE = LiveCalls()
