"""What a bridge is, whichever engine answers the call: built the same way (`CallParts` and the
engine's client), run the same way (start, feed, stop, wait_ended, result). The consumer knows a
call's bridge only as a `CallBridge`; streaming.core.engines picks and builds it.

The callables the consumer hands in are typed here, once, for both engines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from streaming.core.audio.recording import Recorder
from streaming.core.call.agent_settings import AgentSettings
from streaming.core.call.endings import CallEnd, EndedBy
from streaming.core.call.time_limits import Limits
from streaming.core.call.toolbox import ToolBox

# Writes to the caller's socket: a binary frame (S16LE at the call's rate), a text frame.
SendBytes = Callable[[bytes], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]
# Keeps one thing the call did, by kind (a transcript turn, usage, an event, its end): the
# consumer queues it for the database and never blocks the audio on it.
Report = Callable[[str, dict[str, Any]], None]
TURN = "turn"  # the kind of report a transcript turn is, for both engines


@dataclass(frozen=True)
class CallParts:
    """What the consumer gives a call's bridge, whichever the engine."""

    agent: AgentSettings
    send_audio: SendBytes
    send_text: SendText
    report: Report
    limits: Limits
    tools: ToolBox
    recorder: Recorder | None = None
    call_id: str = ""


class CallBridge(ABC):
    """One call between the caller's socket and an OpenAI session."""

    @abstractmethod
    async def start(self) -> None:
        """Open the session and greet the caller; raises UpstreamError when it cannot open."""

    @abstractmethod
    async def feed(self, data: bytes) -> None:
        """One binary frame from the caller: S16LE mono at the call's rate, any length."""

    @abstractmethod
    async def stop(
        self,
        reason: str,
        failed: bool = False,
        ended_by: EndedBy = EndedBy.UNKNOWN,
        hand_over: bool = False,
        transfer_to: str = "",
    ) -> None:
        """End the call's bridge once; the first reason given is the one kept. A failed call,
        or one ended with `hand_over`, goes to the agent's fallback number if it has one."""

    @abstractmethod
    async def wait_ended(self) -> None:
        """Until stop() is over and everything the bridge reports is reported."""

    @abstractmethod
    def result(self) -> CallEnd:
        """How the bridge ended and what it did; only once it has ended."""
