"""What the stream sockets need from the call records, and nothing more.

`streaming` is the lowest app: it knows no Call or Agent model. The consumer asks a
`CallRecords` for a call's setup and hands it what the call reported; calls.stream_records
answers on Django's ORM, and voiceproject.asgi wires the two together (see streaming.routing).
A test can wire another.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Protocol

from streaming.core.audio.recording import Recorder
from streaming.core.call.agent_settings import AgentSettings
from streaming.core.call.time_limits import Limits
from streaming.core.call.toolbox import ToolBox
from streaming.core.engines import OpenAI

# Which server process holds a call: several daphne workers (make serve) share one port.
PROCESS = f"{socket.gethostname()}:{os.getpid()}"[:80]


@dataclass(frozen=True)
class CallSetup:
    """What the bridge needs from a call, read once when the socket opens."""

    call_id: str
    pk: int  # the call's row, to which its reports go
    agent: AgentSettings  # as the call's revision saved them; secrets read now
    limits: Limits
    tools: ToolBox
    openai: OpenAI


class CallRecords(Protocol):
    async def claim_call(self, call_id: str) -> CallSetup | None:
        """The call's setup if it exists, has an agent, is not over and has no bridge yet (at
        most one socket claims it); None refuses the socket."""

    async def may_talk(self, user: Any, call_id: str) -> bool:
        """Whether this logged-in user may open the browser's socket of this test call."""

    def ending_words(self, reason: str) -> str:
        """How a call's ending reads to the staff member talking from the browser."""

    async def apply_reports(
        self, call_pk: int, batch: list[tuple[str, dict[str, Any]]], rows: dict[str, Any]
    ) -> None:
        """Store what the call reported, in order, all or none. `rows` is the call's own, kept
        between batches (the transcript rows written so far)."""

    async def keep_transfer(self, call_id: str, number: str) -> None:
        """The number Sautikit is to <Dial> once the stream closes."""

    def store_recording(self, call_id: str, recorder: Recorder) -> str:
        """Keep the call's recording (blocking: run in a thread); returns its storage name."""
