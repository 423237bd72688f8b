"""Turns of a GPT-Live call, made from its two transcript streams.

GPT-Live has no turns: it sends `session.input_transcript.delta` (the caller) and
`session.output_transcript.delta` (the model) with `start_ms`/`end_ms` on the session's audio
clock. A turn here is a run of one side's deltas: it ends when the other side speaks, or after
`GAP_MS` without a word from it. A model's turn lasts as long as its voice does (word times are
coarse: the last word's delta may come well before the voice ends), and a model's turn that the
caller began speaking into is marked interrupted (the model stops by itself then; its words are
only what it said). Each turn is reported as the Realtime path reports its turns
(streaming/core/realtime/transcript.py: `item_id`, `role`, times in ms from when the stream
socket opened), once it is over, so the call's page looks the same whichever engine answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streaming.core.call.bridge import TURN, Report

GAP_MS = 1200  # longer without a word from the same side: a new turn
# The model's voice carries its turn on while it comes without a pause longer than this (so the
# start of the next answer never stretches the last one).
VOICE_JOIN_MS = 200
CALLER, AGENT = "caller", "agent"


@dataclass
class _Turn:
    item_id: str
    role: str
    started_ms: int
    ended_ms: int
    words: list[str] = field(default_factory=list)
    interrupted: bool = False


class LiveTranscript:
    def __init__(self, report: Report, offset_ms: int = 0) -> None:
        self._report = report
        self.offset_ms = offset_ms  # the session's 0 ms, on the call's clock (set at start)
        self._open: _Turn | None = None
        self._count = 0
        self._last_caller_end_ms: int | None = None
        self.agent_turns = 0

    def delta(self, role: str, event: dict[str, Any]) -> None:
        text = str(event.get("delta") or "")
        start = self._ms(event.get("start_ms"))
        end = max(start, self._ms(event.get("end_ms")))
        turn = self._open
        if turn is not None and (turn.role != role or start - turn.ended_ms > GAP_MS):
            # The caller's words began before the model's last ones ended: talked over.
            turn.interrupted = turn.role == AGENT and role == CALLER and start < turn.ended_ms
            self._close()
            turn = None
        if turn is None:
            self._count += 1
            turn = self._open = _Turn(f"live-{role}-{self._count}", role, start, end)
            if role == AGENT:
                self.agent_turns += 1
        turn.ended_ms = max(turn.ended_ms, end)
        turn.words.append(text)

    def agent_audible(self, start_ms: Any, end_ms: Any) -> None:
        """The model's track carried its voice from start_ms to end_ms (session clock)."""
        turn = self._open
        if (
            turn is not None
            and turn.role == AGENT
            and self._ms(start_ms) - turn.ended_ms <= VOICE_JOIN_MS
        ):
            turn.ended_ms = max(turn.ended_ms, self._ms(end_ms))

    def tool(self, function_call_id: str, name: str, arguments: Any, started_ms: int,
             ended_ms: int, ok: bool, result: Any) -> None:  # fmt: skip
        """A tool the backend called for the model, once it has answered."""
        self._report(TURN, {"item_id": function_call_id, "role": "tool", "text": name,
                            "started_ms": started_ms, "ended_ms": ended_ms, "tool_name": name,
                            "tool_arguments": arguments, "tool_ok": ok,
                            "tool_result": result})  # fmt: skip

    def flush(self) -> None:
        """The call is ending: the turn in progress as it stands."""
        self._close()

    def idle_since_ms(self) -> int | None:
        """When the last word was said (call clock), if anything was."""
        return self._open.ended_ms if self._open else None

    def _close(self) -> None:
        turn, self._open = self._open, None
        if turn is None:
            return
        said: dict[str, Any] = {"item_id": turn.item_id, "role": turn.role,
                                "started_ms": turn.started_ms, "ended_ms": turn.ended_ms,
                                "text": "".join(turn.words).strip()}  # fmt: skip
        if turn.interrupted:
            said["interrupted"] = True
        if turn.role == CALLER:
            self._last_caller_end_ms = turn.ended_ms
        elif self._last_caller_end_ms is not None:
            # From the end of the caller's words to the model's first: how long they waited.
            said["latency_ms"] = max(0, turn.started_ms - self._last_caller_end_ms)
            self._last_caller_end_ms = None
        self._report(TURN, said)

    def _ms(self, value: Any) -> int:
        ms = value if isinstance(value, int | float) and not isinstance(value, bool) else 0
        return max(0, round(ms) + self.offset_ms)
