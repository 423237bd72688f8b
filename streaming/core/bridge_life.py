"""What the bridges of both engines share (bridge.Bridge for Realtime, live_bridge.LiveBridge
for GPT-Live): ending once, with the first reason given; the long-running tasks they own and
cancel then; and the watch over the call's time limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from streaming.core.agent_settings import AgentSettings
from streaming.core.caller_audio import CallerAudio
from streaming.core.clock import CallClock
from streaming.core.endings import EndedBy, Ending
from streaming.core.limits import Limits
from streaming.core.recording import Recorder
from streaming.core.tools import ToolBox
from streaming.core.upstream import UpstreamSocket

log = logging.getLogger(__name__)

Report = Callable[[str, dict[str, Any]], None]

LIMITS_EVERY_S = 0.5


class BridgeLife:
    _caller: CallerAudio  # set by each bridge
    _client: UpstreamSocket

    def __init__(
        self,
        agent: AgentSettings,
        report: Report,
        limits: Limits,
        tools: ToolBox,
        recorder: Recorder | None,
        call_id: str,
    ) -> None:
        self._agent = agent
        self._report = report
        self._limits = limits
        self._tools = tools
        self._recorder = recorder
        self._call_id = call_id
        self._clock = CallClock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_activity = self._clock.now()  # someone said something (the silence limit)
        self._stopping = False  # stop() has begun: nothing new starts
        self._ended = asyncio.Event()  # stop() is over: everything the bridge reports, reported
        self._ending: Ending | None = None

    async def stop(
        self,
        reason: str,
        failed: bool = False,
        ended_by: EndedBy = EndedBy.UNKNOWN,
        hand_over: bool = False,
        transfer_to: str = "",
    ) -> None:
        """End the call's bridge once; the first reason given is the one kept.

        A failed call, or one ended with `hand_over`, goes to the fallback number if any.
        """
        if self._stopping:
            # Another stop is under way: the end is not recorded before it has finished.
            await self._ended.wait()
            return
        self._stopping = True
        self._ending = Ending.decide(reason, failed=failed, ended_by=ended_by,
                                     hand_over=hand_over, transfer_to=transfer_to,
                                     fallback_to=self._agent.fallback_number)  # fmt: skip
        try:
            self._before_tasks_end()
            current = asyncio.current_task()
            for task in self._tasks:
                if task is not current:
                    task.cancel()
            for task in self._tasks:
                if task is not current:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            await self._after_tasks_end()
        finally:
            self._ended.set()

    # -- the two directions --------------------------------------------------------------

    async def feed(self, data: bytes) -> None:
        """One binary frame from the caller: S16LE mono at the call's rate, any length."""
        if not self._stopping:
            await self._caller.feed(data)

    async def _read_upstream(self) -> None:
        async for event in self._client.events():
            try:
                await self._handle(event)
            except Exception:
                log.exception("call %s: bad event %s", self._call_id, event.get("type"))
            if self._stopping:
                return
        if not self._stopping:
            await self._upstream_closed()

    async def _handle(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    async def _upstream_closed(self) -> None:
        """OpenAI closed the session without our asking."""
        raise NotImplementedError

    def _before_tasks_end(self) -> None:
        """What to keep before the tasks are cancelled."""

    async def _after_tasks_end(self) -> None:
        """Closing upstream, once nothing else uses it."""

    async def wait_ended(self) -> None:
        await self._ended.wait()

    def _final(self) -> Ending:
        if self._ending is None:
            raise RuntimeError("the bridge has not ended")
        return self._ending

    def _on_frame(self, item_id: str, frame: bytes, begins: float) -> None:
        """The playout wrote one of the agent's frames, heard from `begins`: it is recorded."""
        if self._recorder is not None:
            self._recorder.agent(frame, self._clock.seconds(begins))

    def _playing(self) -> bool:
        """Whether the agent is being heard (the silence limit waits for it)."""
        return False

    async def _watch_limits(self) -> None:
        started = self._clock.now()
        while True:
            await asyncio.sleep(LIMITS_EVERY_S)
            now = self._clock.now()
            why = self._limits.overrun(now - started, now - self._last_activity,
                                       playing=self._playing())  # fmt: skip
            if why is not None:
                await self.stop(why, ended_by=EndedBy.LIMIT)
                return
