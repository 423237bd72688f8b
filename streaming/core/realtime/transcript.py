"""Turns of a live call, as the bridge sees them, turned into reports the consumer stores.

A turn is reported once it is over (the caller stopped, the answer was played or cut, the tool
answered), with everything known of it, and again only if its words come later: one or two
database writes a turn, so a crash loses at most the turn in progress. Every report carries
`item_id` and `role`; the call records (calls.stream_records) fold reports for one item into
one turn, in whatever order they come. Times are milliseconds from when the stream socket opened.
"""

from __future__ import annotations

from typing import Any

from streaming.core.audio.clock import CallClock
from streaming.core.call.bridge import TURN, Report


class Transcript:
    """The turns of one live call (who spoke when, what was said, which tools ran)."""

    def __init__(self, report: Report, turn_detection: dict[str, Any], clock: CallClock) -> None:
        self._report = report
        self._clock = clock
        # OpenAI's speech times include the padding it keeps before speech and the silence
        # it waits for after; the transcript shows when the caller actually spoke.
        self._padding_ms = int(turn_detection.get("prefix_padding_ms") or 0)
        self._silence_ms = int(turn_detection.get("silence_duration_ms") or 0)
        # OpenAI's audio_start_ms/audio_end_ms count from the first caller sample it got.
        self._caller_offset_ms: int | None = None
        self._speech_stopped_at: float | None = None
        self._agent_started: set[str] = set()
        self._agent_text: dict[str, str] = {}
        self._open: dict[str, dict[str, Any]] = {}  # what is known of turns not yet over
        self._over: set[str] = set()

    def _turn(self, item_id: str, role: str, over: bool = False, **values: Any) -> None:
        if item_id in self._over:
            self._report(TURN, {"item_id": item_id, "role": role, **values})
            return
        known = self._open.setdefault(item_id, {"item_id": item_id, "role": role})
        known.update(values)
        if over:
            self._over.add(item_id)
            self._report(TURN, self._open.pop(item_id))

    def flush(self) -> None:
        """The call is ending: report the turns still open as they stand."""
        for item_id in list(self._open):
            self._over.add(item_id)
            self._report(TURN, self._open.pop(item_id))

    # -- the caller ---------------------------------------------------------------------

    def caller_audio_started(self) -> None:
        if self._caller_offset_ms is None:
            self._caller_offset_ms = self._clock.ms()

    def _caller_ms(self, audio_ms: Any, adjust_ms: int) -> int | None:
        if not isinstance(audio_ms, int | float) or isinstance(audio_ms, bool):
            return None
        return max(0, round(audio_ms) + adjust_ms + (self._caller_offset_ms or 0))

    def speech_started(self, event: dict[str, Any]) -> None:
        started = self._caller_ms(event.get("audio_start_ms"), self._padding_ms)
        self._turn(event.get("item_id") or f"speech-{self._clock.ms()}", "caller",
                   started_ms=started if started is not None else self._clock.ms())  # fmt: skip

    def speech_stopped(self, event: dict[str, Any]) -> None:
        self._speech_stopped_at = self._clock.now()
        ended = self._caller_ms(event.get("audio_end_ms"), -self._silence_ms)
        if event.get("item_id"):
            self._turn(event["item_id"], "caller", over=True,
                       ended_ms=ended if ended is not None else self._clock.ms())  # fmt: skip

    def caller_said(self, event: dict[str, Any]) -> None:
        if event.get("item_id"):
            self._turn(event["item_id"], "caller", text=str(event.get("transcript") or ""))

    # -- the agent ---------------------------------------------------------------------

    def agent_frame(self, item_id: str, begins: float) -> None:
        """A frame of `item_id` was written; the first one starts the turn."""
        if item_id in self._agent_started:
            return
        self._agent_started.add(item_id)
        values: dict[str, Any] = {"started_ms": self._clock.ms(begins)}
        if self._speech_stopped_at is not None:
            # The caller waited from the end of their speech to this first frame.
            latency = round((self._clock.now() - self._speech_stopped_at) * 1000)
            values["latency_ms"] = latency
            self._speech_stopped_at = None
        self._turn(item_id, "agent", **values)

    def agent_text_delta(self, item_id: str, delta: str) -> None:
        self._agent_text[item_id] = self._agent_text.get(item_id, "") + delta

    def agent_said(self, item_id: str, transcript: str) -> None:
        self._agent_text[item_id] = transcript
        self._turn(item_id, "agent", text=transcript)

    def agent_played(self, item_id: str, heard_until: float, heard_ms: int, audio_ms: int) -> None:
        self._turn(item_id, "agent", over=True, ended_ms=self._clock.ms(heard_until),
                   heard_ms=heard_ms, audio_ms=audio_ms)  # fmt: skip

    def agent_interrupted(self, item_id: str, heard_ms: int, audio_ms: int) -> None:
        values: dict[str, Any] = {"interrupted": True, "heard_ms": heard_ms,
                                  "audio_ms": audio_ms, "ended_ms": self._clock.ms()}  # fmt: skip
        if item_id in self._agent_text:
            values["text"] = self._agent_text[item_id]  # so far; a later .done replaces it
        if item_id not in self._agent_started:
            values["started_ms"] = self._clock.ms()
        self._turn(item_id, "agent", over=True, **values)

    # -- tools ---------------------------------------------------------------------------

    def tool_called(self, function_call_id: str, name: str, arguments: Any) -> None:
        self._turn(function_call_id, "tool", started_ms=self._clock.ms(), tool_name=name,
                   tool_arguments=arguments)  # fmt: skip

    def tool_answered(self, function_call_id: str, ok: bool, result: Any) -> None:
        self._turn(function_call_id, "tool", over=True, ended_ms=self._clock.ms(), tool_ok=ok,
                   tool_result=result)  # fmt: skip
