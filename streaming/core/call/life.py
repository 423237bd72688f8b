"""A call's life, which each engine's bridge owns one of: the call's clock, ending once with the
first reason given, the long-running tasks cancelled then, and the watch over the time limits.

A helper the bridge calls, not a base class that calls the bridge (only the stop it is handed
for a limit): each engine's bridge reads top to bottom in its own file
(streaming/core/realtime/bridge.py, streaming/core/live/bridge.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from streaming.core.audio.clock import CallClock
from streaming.core.call.endings import EndedBy, Ending
from streaming.core.call.time_limits import Limits

LIMITS_EVERY_S = 0.5


class CallLife:
    def __init__(self, limits: Limits, fallback_number: str) -> None:
        self.clock = CallClock()
        self.stopping = False  # stop has begun: nothing new starts
        self._limits = limits
        self._fallback_number = fallback_number
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_activity = self.clock.now()  # someone said something (the silence limit)
        self._ended = asyncio.Event()  # the stop is over: everything reported, reported
        self._ending: Ending | None = None

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """A task the call owns: cancelled when it ends."""
        self._tasks.append(asyncio.create_task(coro, name=name))

    def active(self) -> None:
        """Someone said something: the silence limit counts from now."""
        self._last_activity = self.clock.now()

    def begin_stop(
        self, reason: str, failed: bool, ended_by: EndedBy, hand_over: bool, transfer_to: str
    ) -> bool:
        """Decide how the call ends, the first time only: False when a stop is under way."""
        if self.stopping:
            return False
        self.stopping = True
        self._ending = Ending.decide(reason, failed=failed, ended_by=ended_by,
                                     hand_over=hand_over, transfer_to=transfer_to,
                                     fallback_to=self._fallback_number)  # fmt: skip
        return True

    async def cancel_tasks(self) -> None:
        """Cancel the call's tasks (but the one stopping it) and wait until they are gone."""
        current = asyncio.current_task()
        others = [task for task in self._tasks if task is not current]
        for task in others:
            task.cancel()
        for task in others:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def ended(self) -> None:
        self._ended.set()

    async def wait_ended(self) -> None:
        await self._ended.wait()

    def ending(self) -> Ending:
        if self._ending is None:
            raise RuntimeError("the bridge has not ended")
        return self._ending

    async def watch_limits(
        self, playing: Callable[[], bool], stop: Callable[[str], Awaitable[None]]
    ) -> None:
        """Every LIMITS_EVERY_S: past the longest call or the longest silence (not counting
        while the agent is heard), `stop` with why."""
        started = self.clock.now()
        while True:
            await asyncio.sleep(LIMITS_EVERY_S)
            now = self.clock.now()
            why = self._limits.overrun(now - started, now - self._last_activity,
                                       playing=playing())  # fmt: skip
            if why is not None:
                await stop(why)
                return
