"""One live call through GPT-Live: the caller's audio up continuously, the model's continuous
track paced down, shallow, so that when the model stops (it stops by itself when talked over)
the caller stops hearing it within a frame or two.

The same outside as bridge.Bridge (start, feed, stop, wait_ended, result), so the consumer runs
either. What differs: no VAD settings, no cancel or truncate, no killAudio (the track itself
goes quiet), turns made from the transcript streams (live_transcript.py), the silence limit
counting words (the track never stops, silence included), and the session's seconds instead of
tokens. Not yet: tools (GPT-Live's delegation), so agents cannot choose this
engine yet (issue 13).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

from streaming.core.agent_settings import AgentSettings
from streaming.core.audio import Resampler
from streaming.core.bridge import Report, SendBytes
from streaming.core.bridge_life import BridgeLife
from streaming.core.caller_audio import CallerAudio
from streaming.core.endings import CallEnd, EndedBy
from streaming.core.limits import Limits
from streaming.core.live import FORMATS, LiveClient, commentary, session_start
from streaming.core.live_transcript import AGENT, CALLER, LiveTranscript
from streaming.core.playout import Playout
from streaming.core.recording import Recorder

log = logging.getLogger(__name__)

LIVE_RATE = 16000  # what GPT-Live hears and says (live.FORMATS)
LEAD_MS = 40  # the model's track is already real time: stay two frames ahead, no more
TRACK = "live"  # the playout's one item: the model's continuous track
# session.closed reasons that end the call, and how.
CLOSED = {
    "expired": ("GPT-Live ended the session (its time limit)", EndedBy.LIMIT, False),
    "content": ("GPT-Live ended the session (a safety filter)", EndedBy.ERROR, True),
    "remote_hangup": ("GPT-Live ended the session", EndedBy.ERROR, True),
    "connection_lost": ("GPT-Live lost the connection", EndedBy.ERROR, True),
}


class LiveBridge(BridgeLife):
    def __init__(
        self,
        agent: AgentSettings,
        client: LiveClient,
        send_audio: SendBytes,
        report: Report,
        limits: Limits,
        recorder: Recorder | None = None,
    ) -> None:
        super().__init__(agent, limits)
        self._client = client
        self._report = report
        self._recorder = recorder
        rate = agent.sample_rate
        self._format = FORMATS[rate]
        self._caller = CallerAudio(rate, client, limits.pending_audio_s, self._clock, None,
                                   recorder, model_rate=LIVE_RATE)  # fmt: skip
        self._down = Resampler(LIVE_RATE, rate) if rate != LIVE_RATE else None
        self._playout = Playout(rate, send_audio, lead_ms=LEAD_MS, on_frame=self._on_frame)
        self._transcript = LiveTranscript(report)

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start the session (raises UpstreamError), greet, and send what came meanwhile."""
        first = session_start(self._agent.model, self._agent.instructions, self._agent.voice,
                              self._format)  # fmt: skip
        await self._client.start(first)
        self._transcript.offset_ms = self._clock.ms()
        if self._ended.is_set():  # the caller hung up while we connected
            await self._client.close()
            return
        if self._agent.greeting:
            await self._client.send(commentary(self._agent.greeting))
        await self._caller.session_opened()
        if self._ended.is_set():
            return
        self._tasks = [
            asyncio.create_task(self._read_upstream(), name="live-reader"),
            asyncio.create_task(self._playout.run(), name="playout"),
            asyncio.create_task(self._watch_limits(), name="limits"),
        ]

    async def _after_tasks_end(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.finish()  # session.close, and the final seconds with it
        self._transcript.flush()
        self._report("live usage", {"seconds": self._client.usage_seconds,
                                    "closed": self._client.closed_reason})  # fmt: skip

    def result(self) -> CallEnd:
        played = self._playout.counts()
        return CallEnd(self._final(), played.frames, played.underruns, 0,
                       self._transcript.agent_turns)  # fmt: skip

    # -- caller to GPT-Live: everything, silence included ------------------------------

    async def feed(self, data: bytes) -> None:
        if not self._ended.is_set():
            await self._caller.feed(data)

    # -- GPT-Live to the caller -------------------------------------------------------

    async def _read_upstream(self) -> None:
        async for event in self._client.events():
            try:
                await self._handle(event)
            except Exception:
                log.exception("bad GPT-Live event %s", event.get("type"))
            if self._ended.is_set():
                return
        if not self._ended.is_set():
            code, reason = self._client.closed_how()
            why = f"GPT-Live closed the session (code {code} {reason})".replace(" )", ")")
            await self.stop(why, failed=True)

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        if kind == "session.output_audio.delta":
            pcm = base64.b64decode(event.get("delta") or "")
            self._playout.enqueue(TRACK, self._down.process(pcm) if self._down else pcm)
        elif kind == "session.input_transcript.delta":
            self._last_activity = self._clock.now()
            self._transcript.delta(CALLER, event)
        elif kind == "session.output_transcript.delta":
            self._last_activity = self._clock.now()
            self._transcript.delta(AGENT, event)
        elif kind == "session.closed":
            reason = str(event.get("reason") or "")
            why, ended_by, failed = CLOSED.get(reason, (f"GPT-Live closed ({reason})",
                                                        EndedBy.ERROR, True))  # fmt: skip
            self._spawn_stop(why, ended_by, failed)
        elif kind == "error":
            self._report("error", {"error": event.get("error") or {}})

    def _spawn_stop(self, why: str, ended_by: EndedBy, failed: bool) -> None:
        # Not awaited here: stop() cancels the reader, which is where this runs.
        asyncio.get_running_loop().create_task(self.stop(why, failed=failed, ended_by=ended_by))

    def _on_frame(self, item_id: str, frame: bytes, begins: float) -> None:
        if self._recorder is not None:
            self._recorder.agent(frame, self._clock.seconds(begins))


__all__ = ["LiveBridge"]
