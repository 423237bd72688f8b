"""One live call through GPT-Live: the caller's audio up continuously, the model's continuous
track paced down, shallow, so that when the model stops (it stops by itself when talked over)
the caller stops hearing it within a frame or two.

The same outside as bridge.Bridge (start, feed, stop, wait_ended, result), so the consumer runs
either. What differs: no VAD settings, no cancel or truncate, no killAudio (the track itself
goes quiet), turns made from the transcript streams (live_transcript.py), and the session's
seconds instead of tokens. Not yet: tools (GPT-Live's delegation), so agents cannot choose this
engine yet (issue 13).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

from streaming.core.agent_settings import AgentSettings
from streaming.core.audio import OddByteCarry, Resampler
from streaming.core.bridge import Report, SendBytes, SendText
from streaming.core.clock import CallClock
from streaming.core.endings import CallEnd, EndedBy, Ending
from streaming.core.limits import Limits
from streaming.core.live import FORMATS, LiveClient, commentary, session_start
from streaming.core.live_transcript import AGENT, CALLER, LiveTranscript
from streaming.core.pending import PendingAudio
from streaming.core.playout import Playout
from streaming.core.recording import Recorder

log = logging.getLogger(__name__)

LIVE_RATE = 16000  # what GPT-Live hears and says (live.FORMATS)
LEAD_MS = 40  # the model's track is already real time: stay two frames ahead, no more
LIMITS_EVERY_S = 0.5
TRACK = "live"  # the playout's one item: the model's continuous track
# session.closed reasons that end the call, and how.
CLOSED = {
    "expired": ("GPT-Live ended the session (its time limit)", EndedBy.LIMIT, False),
    "content": ("GPT-Live ended the session (a safety filter)", EndedBy.ERROR, True),
    "remote_hangup": ("GPT-Live ended the session", EndedBy.ERROR, True),
    "connection_lost": ("GPT-Live lost the connection", EndedBy.ERROR, True),
}


class LiveBridge:
    def __init__(
        self,
        agent: AgentSettings,
        client: LiveClient,
        send_audio: SendBytes,
        send_text: SendText,
        report: Report,
        limits: Limits,
        recorder: Recorder | None = None,
        call_id: str = "",
    ) -> None:
        self._agent = agent
        self._client = client
        self._report = report
        self._limits = limits
        self._recorder = recorder
        self._call_id = call_id
        self._clock = CallClock()
        rate = agent.sample_rate
        self._format = FORMATS[rate]
        self._up = Resampler(rate, LIVE_RATE) if rate != LIVE_RATE else None
        self._down = Resampler(LIVE_RATE, rate) if rate != LIVE_RATE else None
        self._carry = OddByteCarry()
        self._pending = PendingAudio(int(limits.pending_audio_s * LIVE_RATE) * 2)
        self._open = asyncio.Event()
        self._playout = Playout(rate, send_audio, lead_ms=LEAD_MS, on_frame=self._on_frame)
        self._transcript = LiveTranscript(report)
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_activity = self._clock.now()
        self._ended = asyncio.Event()
        self._ending: Ending | None = None
        self._session_opened = 0.0

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start the session (raises UpstreamError), greet, and send what came meanwhile."""
        first = session_start(self._agent.model, self._agent.instructions, self._agent.voice,
                              self._format)  # fmt: skip
        await self._client.start(first)
        self._session_opened = self._clock.now()
        self._transcript.offset_ms = self._clock.ms()
        if self._ended.is_set():  # the caller hung up while we connected
            await self._client.close()
            return
        if self._agent.greeting:
            await self._client.send(commentary(self._agent.greeting))
        while (pcm := self._pending.take()) is not None:
            await self._client.append_audio(pcm)
        self._open.set()
        self._tasks = [
            asyncio.create_task(self._read_upstream(), name="live-reader"),
            asyncio.create_task(self._playout.run(), name="playout"),
            asyncio.create_task(self._watch_limits(), name="limits"),
        ]

    async def stop(
        self,
        reason: str,
        failed: bool = False,
        ended_by: EndedBy = EndedBy.UNKNOWN,
        hand_over: bool = False,
        transfer_to: str = "",
    ) -> None:
        """End the call's bridge once; the first reason given is the one kept."""
        if self._ended.is_set():
            return
        self._ending = Ending.decide(reason, failed=failed, ended_by=ended_by,
                                     hand_over=hand_over, transfer_to=transfer_to,
                                     fallback_to=self._agent.fallback_number)  # fmt: skip
        self._ended.set()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self._client.finish()  # session.close, and the final seconds with it
        self._transcript.flush()
        self._report("live usage", {"seconds": self._client.usage_seconds,
                                    "closed": self._client.closed_reason})  # fmt: skip

    async def wait_ended(self) -> None:
        await self._ended.wait()

    def result(self) -> CallEnd:
        if self._ending is None:
            raise RuntimeError("the bridge has not ended")
        played = self._playout.counts()
        return CallEnd(self._ending, played.frames, played.underruns, 0,
                       self._transcript.agent_turns)  # fmt: skip

    # -- caller to GPT-Live: everything, silence included ------------------------------

    async def feed(self, data: bytes) -> None:
        if self._ended.is_set():
            return
        even = self._carry.push(data)
        if not even:
            return
        if self._recorder is not None:
            self._recorder.caller(even, self._clock.seconds())
        pcm = self._up.process(even) if self._up is not None else even
        if not pcm:
            return
        if not self._open.is_set():
            self._pending.add(pcm)
            return
        try:
            await self._client.append_audio(pcm)
        except Exception as e:  # the reader notices the close and ends the call
            log.debug("append failed: %s", e)

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

    # -- limits -------------------------------------------------------------------

    async def _watch_limits(self) -> None:
        started = self._clock.now()
        while True:
            await asyncio.sleep(LIMITS_EVERY_S)
            now = self._clock.now()
            # The model's track never stops (silence included): activity is words, either side.
            why = self._limits.overrun(now - started, now - self._last_activity, playing=False)
            if why is not None:
                await self.stop(why, ended_by=EndedBy.LIMIT)
                return


__all__ = ["LiveBridge"]
