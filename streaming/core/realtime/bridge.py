"""One live call: caller audio up to OpenAI Realtime, answers paced back down, barge-in.

Plain asyncio: the Channels consumer supplies the socket writers and records what the bridge
reports. The bridge wires its parts together (pending audio, answers, playout, the transcript,
hang-up, limits) and owns the long-running loops (reading OpenAI, the playout clock, the limits)
as tasks it cancels when it stops. When it has ended, `result()` says how and what it did.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

from streaming.core.audio.caller import CallerAudio
from streaming.core.audio.pcm import REALTIME_RATE, Resampler
from streaming.core.audio.playout import Playout
from streaming.core.call import time_limits
from streaming.core.call.bridge import CallBridge, CallParts
from streaming.core.call.endings import CallEnd, EndedBy
from streaming.core.call.hangup import HANG_UP_WITHIN_S, HangUp
from streaming.core.call.life import CallLife
from streaming.core.call.stream_protocol import KILL_AUDIO
from streaming.core.call.toolbox import ToolOutcome, shown_arguments
from streaming.core.realtime.answers import Answers
from streaming.core.realtime.client import SESSION_UPDATE_EVENT_ID, RealtimeClient, turn_detection
from streaming.core.realtime.transcript import Transcript

log = logging.getLogger(__name__)

# A function call of the response in progress: (its id, the tool's outcome once known).
FunctionCall = asyncio.Future[tuple[str, ToolOutcome]]

AUDIO_DELTAS = {"response.output_audio.delta", "response.audio.delta"}
AUDIO_DONE = {"response.output_audio.done", "response.audio.done"}


class RealtimeBridge(CallBridge):
    def __init__(self, parts: CallParts, client: RealtimeClient) -> None:
        agent = parts.agent
        self._agent = agent
        self._client = client
        self._report = parts.report
        self._tools = parts.tools
        self._recorder = parts.recorder
        self._call_id = parts.call_id
        self._send_text = parts.send_text
        self._life = CallLife(parts.limits, agent.fallback_number)
        self._clock = self._life.clock
        self._transcript = Transcript(parts.report, turn_detection(agent), self._clock)
        rate = agent.sample_rate
        self._caller = CallerAudio(rate, client, parts.limits.pending_audio_s, self._clock,
                                   self._transcript, parts.recorder)  # fmt: skip
        self._down = Resampler(REALTIME_RATE, rate)
        self._playout = Playout(
            rate, parts.send_audio, on_frame=self._on_frame, on_item_end=self._on_item_end
        )
        self._answers = Answers()
        self._hang_up = HangUp(parts.tools)
        # Function calls of the response in progress, answered once it is done.
        self._function_calls: list[FunctionCall] = []
        # OpenAI is answering the caller's silence (the agent's idle nudge): what it says then
        # is not talk for the silence limit, or a forgotten phone would never be hung up.
        self._nudging = False
        self._session_opened = 0.0
        self._barge_ins = 0
        self._responses = 0

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        await self._client.connect()
        self._session_opened = self._clock.now()
        if self._life.stopping:  # the caller hung up while we connected
            await self._client.close()
            return
        await self._client.configure(self._agent, self._tools.definitions())
        await self._client.greet(self._agent)
        await self._caller.session_opened()
        if self._life.stopping:
            return
        self._life.spawn(self._read_upstream(), "realtime-reader")
        self._life.spawn(self._playout.run(), "playout")
        self._life.spawn(self._life.watch_limits(self._playout.is_playing, self._limit_reached),
                         "limits")  # fmt: skip

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
            self._transcript.flush()  # what was said so far, before the tasks go
            await self._life.cancel_tasks()
            with contextlib.suppress(Exception):
                await self._client.close()
        finally:
            self._life.ended()

    async def wait_ended(self) -> None:
        await self._life.wait_ended()

    def result(self) -> CallEnd:
        played = self._playout.counts()
        return CallEnd(self._life.ending(), played.frames, played.underruns, self._barge_ins,
                       self._responses, self._caller.dropped_s)  # fmt: skip

    async def _limit_reached(self, why: str) -> None:
        await self.stop(why, ended_by=EndedBy.LIMIT)

    # -- OpenAI to caller -----------------------------------------------------------

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
        """OpenAI closed the session without our asking."""
        if not self._life.stopping:
            code, reason = self._client.closed_how()
            lasted = self._clock.now() - self._session_opened
            if time_limits.is_openai_session_limit(code, lasted):
                await self.stop(
                    "OpenAI ended the session (60-minute limit)", ended_by=EndedBy.LIMIT
                )
                return
            # Any other close mid-call (a drop, a restart's 1001, even a clean 1000 that we did
            # not ask for) leaves the caller without an agent: a failure.
            why = f"OpenAI closed the session (code {code} {reason})".replace(" )", ")")
            await self.stop(why, failed=True)

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        if kind in AUDIO_DELTAS:
            self._on_audio(event)
        elif kind in AUDIO_DONE:
            self._finish_answer(event.get("item_id", ""))
        elif kind == "input_audio_buffer.speech_started":
            self._life.active()
            self._nudging = False
            self._transcript.speech_started(event)
            await self._barge_in()
        elif kind == "input_audio_buffer.speech_stopped":
            self._transcript.speech_stopped(event)
        elif kind == "response.output_audio_transcript.delta":
            self._transcript.agent_text_delta(event.get("item_id", ""),
                                              str(event.get("delta") or ""))  # fmt: skip
        elif kind == "response.output_audio_transcript.done":
            self._transcript.agent_said(event.get("item_id", ""),
                                        str(event.get("transcript") or ""))  # fmt: skip
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._transcript.caller_said(event)
        elif kind == "response.function_call_arguments.done":
            self._on_function_call(event)
        elif kind == "input_audio_buffer.timeout_triggered":
            self._nudging = True
            self._report("idle nudge", {"item_id": event.get("item_id")})
        elif kind == "response.done":
            self._nudging = False
            await self._on_response_done(event.get("response") or {})
        elif kind == "error":
            error = event.get("error") or {}
            self._report("error", {"error": error})
            if isinstance(error, dict) and error.get("event_id") == SESSION_UPDATE_EVENT_ID:
                # The session would run on OpenAI's defaults, not the agent's instructions.
                detail = f"{error.get('code') or error.get('type')}: {error.get('message', '')}"
                await self.stop(f"OpenAI refused the agent's settings ({detail.strip()})",
                                failed=True)  # fmt: skip

    async def _on_response_done(self, response: dict[str, Any]) -> None:
        for item_id in self._answers.unfinished():
            self._finish_answer(item_id)
        self._responses += 1
        self._report(
            "usage",
            {
                "response_id": response.get("id"),
                "status": response.get("status"),
                "status_details": response.get("status_details"),
                "usage": response.get("usage"),
            },
        )
        if self._function_calls:
            calls, self._function_calls = self._function_calls, []
            had_audio = self._answers.had_audio(str(response.get("id") or ""))
            self._life.spawn(self._answer_tools(calls, had_audio), "tool-answers")
        elif self._hang_up.after_goodbye() is not None:
            self._life.spawn(self._hang_up_when_heard(), "hang-up")

    def _on_audio(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id") or "item"
        pcm24 = base64.b64decode(event.get("delta") or "")
        if not self._answers.audio(item_id, str(event.get("response_id") or ""), len(pcm24)):
            return  # late audio of an answer the caller interrupted
        if not self._nudging:
            self._life.active()
        self._playout.enqueue(item_id, self._down.process(pcm24))

    def _finish_answer(self, item_id: str) -> None:
        if not self._answers.finish(item_id):
            return
        # The resampler holds the last few ms of the answer: release them.
        self._playout.enqueue(item_id, self._down.flush())
        self._playout.end_item(item_id)

    async def _barge_in(self) -> None:
        answer = self._answers.speaking(still_playing=self._playout.is_playing())
        if answer is None:
            return  # nothing is being said, or it was already heard in full
        self._barge_ins += 1
        self._answers.cut(answer)
        # What the media server still buffers is dropped by killAudio: the caller hears
        # everything written except that.
        unheard_s = self._playout.ahead_s()
        self._playout.clear()
        self._down.reset()
        await self._send_text(KILL_AUDIO)
        if self._recorder is not None:
            self._recorder.cut_agent(self._clock.seconds())
        written = self._playout.written_ms(answer.item_id)
        sent = answer.sent_ms()
        # Never more than OpenAI sent, or it refuses the truncate.
        audio_end_ms = max(0, min(sent, written - round(unheard_s * 1000)))
        self._transcript.agent_interrupted(answer.item_id, audio_end_ms, sent)
        if answer.received:
            await self._client.truncate(answer.item_id, audio_end_ms)
        self._report("barge-in", {"item_id": answer.item_id, "audio_end_ms": audio_end_ms})

    # -- what the caller heard ------------------------------------------------------------

    def _on_frame(self, item_id: str, frame: bytes, begins: float) -> None:
        """The playout wrote one of the agent's frames, heard from `begins`."""
        self._transcript.agent_frame(item_id, begins)
        if self._recorder is not None:
            self._recorder.agent(frame, self._clock.seconds(begins))

    def _on_item_end(self, item_id: str, heard_until: float) -> None:
        written = self._playout.written_ms(item_id)
        self._transcript.agent_played(item_id, heard_until, written,
                                      self._answers.sent_ms(item_id))  # fmt: skip

    # -- tools ---------------------------------------------------------------------------

    def _on_function_call(self, event: dict[str, Any]) -> None:
        function_call_id = str(event.get("call_id") or event.get("item_id") or "")
        name = str(event.get("name") or "")
        arguments = str(event.get("arguments") or "")
        self._transcript.tool_called(function_call_id, name, shown_arguments(arguments))
        done: FunctionCall = asyncio.get_running_loop().create_future()
        builtin = self._hang_up.builtin(name)
        if builtin is not None:
            done.set_result((function_call_id, builtin))
        else:

            async def run() -> None:
                outcome = await self._tools.run(name, arguments, self._call_id)
                done.set_result((function_call_id, outcome))

            self._life.spawn(run(), f"tool-{name}")
        self._function_calls.append(done)

    async def _answer_tools(self, calls: list[FunctionCall], had_audio: bool) -> None:
        """Give the model every result of a response, then let it speak (once)."""
        for done in calls:
            function_call_id, outcome = await done
            self._transcript.tool_answered(function_call_id, outcome.ok, outcome.result)
            await self._client.send_tool_output(function_call_id, outcome.output())
        hanging_up = self._hang_up.requested() is not None
        if hanging_up:
            self._hang_up.goodbye_asked()
        if hanging_up and had_audio and len(calls) == 1:
            # It already spoke with the call ("Goodbye!"): no second goodbye.
            await self._hang_up_when_heard()
            return
        if hanging_up:
            self._life.spawn(self._hang_up_anyway(), "hang-up-timer")
        await self._client.create_response()

    async def _hang_up_when_heard(self) -> None:
        """Close the line once the caller has heard everything written (and a moment more)."""
        request = self._hang_up.after_goodbye()
        if request is None:
            return
        while self._playout.is_playing() or not self._answers.all_finished():
            await asyncio.sleep(0.05)
        await self.stop(request.reason, ended_by=EndedBy.AGENT, transfer_to=request.transfer_to)

    async def _hang_up_anyway(self) -> None:
        await asyncio.sleep(HANG_UP_WITHIN_S)
        request = self._hang_up.requested()
        if request is not None:
            await self.stop(request.reason + " (no goodbye heard)", ended_by=EndedBy.AGENT,
                            transfer_to=request.transfer_to)  # fmt: skip


__all__ = ["RealtimeBridge"]
