"""Deploys drop no call: a process asked to stop lets its live calls finish first.

The server (voiceproject.worker) stops taking new sockets and calls `LIVE.drain()`: it waits for
the calls this process holds to end by themselves, up to the drain limit, then ends the rest
cleanly, each with its reason recorded. Plain asyncio; the consumer registers its calls here.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

# How often the drain looks whether the last call has ended.
POLL_S = 0.25
# Ending a call at the limit closes the caller's socket at once; recording its end may wait on
# the database, for at most this long, before the process goes.
END_TIMEOUT_S = 15.0


class LiveCall(Protocol):
    async def end_for_drain(self, reason: str) -> None: ...


class LiveCalls:
    def __init__(self) -> None:
        self._calls: set[LiveCall] = set()
        self.draining = False
        self.hurried = False

    def add(self, call: LiveCall) -> None:
        self._calls.add(call)

    def discard(self, call: LiveCall) -> None:
        self._calls.discard(call)

    def __len__(self) -> int:
        return len(self._calls)

    async def drain(self, limit_s: float) -> int:
        """Wait for the live calls to end, up to `limit_s` (or `hurry()`); end the rest.

        Returns how many were ended here rather than by themselves.
        """
        self.draining = True
        deadline = time.monotonic() + limit_s
        while self._calls and time.monotonic() < deadline and not self.hurried:
            await asyncio.sleep(POLL_S)
        left = list(self._calls)
        if not left:
            return 0
        why = ("server stopping: ended at once (asked twice)" if self.hurried
               else f"server stopping: drain limit reached ({int(limit_s)} s)")  # fmt: skip
        ending = [asyncio.ensure_future(call.end_for_drain(why)) for call in left]
        await asyncio.wait(ending, timeout=END_TIMEOUT_S)
        return len(left)

    def hurry(self) -> None:
        """Asked to stop again while draining: end what is left now."""
        self.hurried = True


# The calls this process holds.
LIVE = LiveCalls()
