"""One live call through GPT-Live: the caller's audio up continuously, the speech on the
model's continuous track paced down (its silence is not sent), shallow, so that when the model
stops (it stops by itself when talked over) the caller stops hearing it within a frame or two.

The same outside as the Realtime bridge (streaming.core.call.bridge.CallBridge: start, feed,
stop, wait_ended, result), so the consumer runs either. What differs: no VAD settings, no cancel
or truncate, no killAudio (the track itself goes quiet), turns made from the transcript streams
(transcript.py beside this), the silence limit
counting words (the track never stops, silence included), and the session's seconds instead of
tokens. Tools (the built-in hang-up and hand-over, and custom tools) go through GPT-Live's
delegation: a Responses backend calls them, we answer each call, then ask it to go on once
every open call has its output. docs/engines.md compares the two paths.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from streaming.core.audio.caller import CallerAudio
from streaming.core.audio.pcm import Resampler, audible
from streaming.core.audio.playout import Playout
from streaming.core.call.bridge import CallBridge, CallParts
from streaming.core.call.endings import CallEnd, EndedBy
from streaming.core.call.hangup import HANG_UP_WITHIN_S, HangUp
from streaming.core.call.life import CallLife
from streaming.core.call.toolbox import ToolOutcome, shown_arguments
from streaming.core.live.client import (
    FORMATS,
    LIVE_RATE,
    LiveClient,
    commentary,
    session_start,
    tool_output,
)
from streaming.core.live.transcript import AGENT, CALLER, LiveTranscript

log = logging.getLogger(__name__)

# The model's track is already real time: stay two frames ahead, no more; and, since audio at
# real-time pace never gets ahead by itself, start each stretch of speech with those two frames
# in hand, against the jitter of its coming.
LEAD_MS = 40
# soxr (LQ) takes 16 kHz down to 8 kHz in blocks of about 59 ms, one every two or three frames:
# an 8 kHz call starts each stretch with this much more in hand, or it would run dry between.
DOWN_BLOCK_MS = 40
# Each stretch of the model's speech is one playout item; its silence is not sent at all (the
# phone side plays silence when it has nothing). The track comes and plays in real time, so
# audio that came late and all at once (a stall here or on the way) would otherwise stay queued,
# here and on the phone side, for the rest of the call: both drain in every pause instead.
SPEECH = "live-speech"
QUIET_AFTER_S = 0.8  # no words from the model this long after its goodbye began: it is said
# session.closed reasons that end the call, and how.
CLOSED = {
    "expired": ("GPT-Live ended the session (its time limit)", EndedBy.LIMIT, False),
    "content": ("GPT-Live ended the session (a safety filter)", EndedBy.ERROR, True),
    "remote_hangup": ("GPT-Live ended the session", EndedBy.ERROR, True),
    "connection_lost": ("GPT-Live lost the connection", EndedBy.ERROR, True),
}


class LiveBridge(CallBridge):
    def __init__(self, parts: CallParts, client: LiveClient) -> None:
        agent = parts.agent
        self._agent = agent
        self._client = client
        self._report = parts.report
        self._tools = parts.tools
        self._recorder = parts.recorder
        self._call_id = parts.call_id
        self._life = CallLife(parts.limits, agent.fallback_number)
        self._clock = self._life.clock
        self._hang_up = HangUp(parts.tools)
        self._calls: list[ToolCall] = []  # the backend's calls not yet answered
        self._backend_tokens = {"input": 0, "cached": 0, "output": 0}
        self._stretches = 0  # of the model's speech so far
        self._speaking = False
        self._last_agent_word = 0.0
        rate = agent.sample_rate
        self._format = FORMATS[rate]
        self._caller = CallerAudio(rate, client, parts.limits.pending_audio_s, self._clock, None,
                                   parts.recorder, model_rate=LIVE_RATE)  # fmt: skip
        self._down = Resampler(LIVE_RATE, rate) if rate != LIVE_RATE else None
        prime_ms = LEAD_MS + (DOWN_BLOCK_MS if self._down else 0)
        self._playout = Playout(rate, parts.send_audio, lead_ms=LEAD_MS, prime_ms=prime_ms,
                                on_frame=self._on_frame)  # fmt: skip
        self._transcript = LiveTranscript(parts.report)

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        # The backend decides which tool to call: its own instructions, else the agent's.
        agent = self._agent
        first = session_start(agent.model, agent.instructions, agent.voice, self._format,
                              self._tools.definitions(),
                              backend_instructions=agent.backend_instructions or agent.instructions,
                              backend_model=agent.backend_model)  # fmt: skip
        await self._client.start(first)
        self._transcript.offset_ms = self._clock.ms()
        if self._life.stopping:  # the caller hung up while we connected
            await self._client.close()
            return
        if self._agent.greeting:
            await self._client.send(commentary(self._agent.greeting))
        await self._caller.session_opened()
        if self._life.stopping:
            return
        self._life.spawn(self._read_upstream(), "live-reader")
        self._life.spawn(self._playout.run(), "playout")
        # The track never stops (its silence included): the silence limit counts words.
        self._life.spawn(self._life.watch_limits(lambda: False, self._limit_reached), "limits")

    async def feed(self, data: bytes) -> None:
        if not self._life.stopping:
            await self._caller.feed(data)

    async def stop(
        self,
        reason: str,
        failed: bool = False,
        ended_by: EndedBy = EndedBy.UNKNOWN,
        hand_over: bool = False,
        transfer_to: str = "",
    ) -> None:
        if not self._life.begin_stop(reason, failed, ended_by, hand_over, transfer_to):
            # Another stop is under way: the end is not recorded before it has finished.
            await self._life.wait_ended()
            return
        try:
            await self._life.cancel_tasks()
            with contextlib.suppress(Exception):
                await self._client.finish()  # session.close, and the final seconds with it
            self._transcript.flush()
            self._report("live usage", {"seconds": self._client.usage_seconds,
                                        "closed": self._client.closed_reason,
                                        "backend_model": self._agent.backend_model,
                                        "backend_tokens": self._backend_tokens})  # fmt: skip
        finally:
            self._life.ended()

    async def wait_ended(self) -> None:
        await self._life.wait_ended()

    def result(self) -> CallEnd:
        played = self._playout.counts()
        return CallEnd(self._life.ending(), played.frames, played.underruns, 0,
                       self._transcript.agent_turns, self._caller.dropped_s)  # fmt: skip

    async def _limit_reached(self, why: str) -> None:
        await self.stop(why, ended_by=EndedBy.LIMIT)

    def _on_frame(self, item_id: str, frame: bytes, begins: float) -> None:
        """The playout wrote one of the agent's frames, heard from `begins`: it is recorded."""
        if self._recorder is not None:
            self._recorder.agent(frame, self._clock.seconds(begins))

    # -- GPT-Live to the caller -------------------------------------------------------

    async def _read_upstream(self) -> None:
        async for event in self._client.events():
            try:
                await self._handle(event)
            except Exception:
                log.exception("call %s: bad event %s", self._call_id, event.get("type"))
            if self._life.stopping:
                return
        await self._upstream_closed()

    async def _upstream_closed(self) -> None:
        """GPT-Live closed the session without our asking."""
        if not self._life.stopping:
            code, reason = self._client.closed_how()
            why = f"GPT-Live closed the session (code {code} {reason})".replace(" )", ")")
            await self.stop(why, failed=True)

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        if kind == "session.output_audio.delta":
            pcm = base64.b64decode(event.get("delta") or "")
            self._play(self._down.process(pcm) if self._down else pcm, event)
        elif kind == "session.input_transcript.delta":
            self._life.active()
            self._transcript.delta(CALLER, event)
        elif kind == "session.output_transcript.delta":
            self._life.active()
            self._last_agent_word = self._clock.now()
            self._transcript.delta(AGENT, event)
        elif kind == "response.event":
            self._on_backend(event.get("event") or {})
        elif kind == "session.closed":
            reason = str(event.get("reason") or "")
            why, ended_by, failed = CLOSED.get(reason, (f"GPT-Live closed ({reason})",
                                                        EndedBy.ERROR, True))  # fmt: skip
            self._spawn_stop(why, ended_by, failed)
        elif kind == "error":
            self._report("error", {"error": event.get("error") or {}})

    def _play(self, pcm: bytes, event: dict[str, Any]) -> None:
        """Speech to the caller, a stretch at a time; silence ends the stretch and is dropped."""
        if not pcm:
            return  # (the resampler holds it for now)
        if not audible(pcm):
            if self._speaking:
                self._speaking = False
                self._playout.end_item(self._stretch_id())
            return
        if not self._speaking:
            self._speaking = True
            self._stretches += 1
        self._transcript.agent_audible(event.get("start_ms"), event.get("end_ms"))
        self._playout.enqueue(self._stretch_id(), pcm)

    def _stretch_id(self) -> str:
        return f"{SPEECH}-{self._stretches}"

    # -- tools, through the Responses backend --------------------------------------------

    def _on_backend(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        item = event.get("item") or {}
        if kind == "response.output_item.done" and item.get("type") == "function_call":
            self._call_tool(item)
        elif kind == "response.completed":
            usage = (event.get("response") or {}).get("usage") or {}
            cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
            self._backend_tokens["input"] += int(usage.get("input_tokens") or 0)
            self._backend_tokens["cached"] += int(cached)
            self._backend_tokens["output"] += int(usage.get("output_tokens") or 0)
            if self._calls:
                calls, self._calls = self._calls, []
                self._life.spawn(self._answer(calls), "tools")

    def _call_tool(self, item: dict[str, Any]) -> None:
        function_call_id = str(item.get("call_id") or item.get("id") or "")
        name, arguments = str(item.get("name") or ""), str(item.get("arguments") or "")
        started = self._clock.ms()
        done: asyncio.Future[ToolOutcome] = asyncio.get_running_loop().create_future()
        builtin = self._hang_up.builtin(name)
        if builtin is not None:
            done.set_result(builtin)
        else:

            async def run() -> None:
                done.set_result(await self._tools.run(name, arguments, self._call_id))

            self._life.spawn(run(), f"tool-{name}")
        self._calls.append(ToolCall(function_call_id, name, arguments, started, done))

    async def _answer(self, calls: list[ToolCall]) -> None:
        """Every call's output, then one response.create: the backend goes on, the model says it."""
        for call in calls:
            outcome = await call.done
            self._transcript.tool(call.function_call_id, call.name, shown_arguments(call.arguments),
                                  call.started_ms, self._clock.ms(), outcome.ok,
                                  outcome.result)  # fmt: skip
            await self._client.send(tool_output(call.function_call_id, outcome.output()))
        if self._hang_up.requested() is not None:
            self._hang_up.goodbye_asked()
            self._life.spawn(self._hang_up_when_said(), "hang-up")
        await self._client.send({"type": "response.create"})

    async def _hang_up_when_said(self) -> None:
        """Close the line once the model has said its goodbye and gone quiet (or at most after
        HANG_UP_WITHIN_S): the track carries it, so quiet is no words for QUIET_AFTER_S."""
        asked = self._clock.now()
        request = self._hang_up.after_goodbye()
        while request is not None:
            await asyncio.sleep(0.1)
            now = self._clock.now()
            said = self._last_agent_word > asked and now - self._last_agent_word > QUIET_AFTER_S
            if said or now - asked > HANG_UP_WITHIN_S:
                reason = request.reason + ("" if said else " (no goodbye heard)")
                await self.stop(reason, ended_by=EndedBy.AGENT, transfer_to=request.transfer_to)
                return

    def _spawn_stop(self, why: str, ended_by: EndedBy, failed: bool) -> None:
        # Not awaited here: stop() cancels the reader, which is where this runs.
        asyncio.get_running_loop().create_task(self.stop(why, failed=failed, ended_by=ended_by))


@dataclass
class ToolCall:
    function_call_id: str
    name: str
    arguments: str
    started_ms: int
    done: asyncio.Future[ToolOutcome]


__all__ = ["LiveBridge"]
