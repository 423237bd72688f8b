"""One live call: caller audio up to OpenAI Realtime, answers paced back down, barge-in.

Plain asyncio: the Channels consumer supplies the socket writers and records what the bridge
reports. Long-running loops (reading OpenAI, the playout clock, the limits) are tasks owned by
the bridge and cancelled when it stops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from streaming.core.agent_settings import AgentSettings
from streaming.core.audio import REALTIME_RATE, OddByteCarry, Resampler, bytes_to_ms
from streaming.core.endings import EndedBy
from streaming.core.playout import Playout
from streaming.core.realtime import (
    SESSION_UPDATE_EVENT_ID,
    RealtimeClient,
    UpstreamError,
    greeting_request,
    session_update,
    turn_detection,
)
from streaming.core.recording import Recorder
from streaming.core.stream_protocol import KILL_AUDIO
from streaming.core.tools import END_CALL, TRANSFER_CALL, ToolBox, ToolOutcome
from streaming.core.transcript import TurnTracker

log = logging.getLogger(__name__)

SendBytes = Callable[[bytes], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]
Report = Callable[[str, dict[str, Any]], None]

AUDIO_DELTAS = {"response.output_audio.delta", "response.audio.delta"}
AUDIO_DONE = {"response.output_audio.done", "response.audio.done"}
# OpenAI closes every Realtime session after 60 minutes with code 1001. Its clock starts a
# moment before ours, so a 1001 this close to the hour is that limit; earlier, OpenAI went away.
OPENAI_SESSION_LIMIT_S = 60 * 60
OPENAI_LIMIT_SLACK_S = 60
# After end_call/transfer_call the line closes once the goodbye is heard, or after this anyway.
HANG_UP_WITHIN_S = 15.0


@dataclass
class Limits:
    max_call_s: float = 15 * 60
    silence_timeout_s: float = 60
    # Caller audio kept while OpenAI is still connecting (then dropped oldest first).
    pending_audio_s: float = 5


@dataclass
class _Answer:
    """An assistant item being spoken: what OpenAI sent and whether it is over."""

    item_id: str
    received: int = 0  # bytes of 24 kHz audio OpenAI sent for it
    done: bool = False


@dataclass
class _HangUp:
    """The agent asked to end or transfer the call: what to say when it is done."""

    reason: str
    transfer_to: str = ""
    goodbye_asked: bool = False


@dataclass
class BridgeStats:
    barge_ins: int = 0
    turns: int = 0


class Bridge:
    def __init__(
        self,
        agent: AgentSettings,
        client: RealtimeClient,
        rate: int,
        send_audio: SendBytes,
        send_text: SendText,
        report: Report,
        limits: Limits | None = None,
        tools: ToolBox | None = None,
        recorder: Recorder | None = None,
        call_id: str = "",
        fallback_to: str = "",
    ) -> None:
        self.agent = agent
        self.client = client
        self.limits = limits or Limits()
        self.tools = tools or ToolBox(end_call=False)
        self.recorder = recorder
        self.call_id = call_id
        # Where the caller goes when OpenAI fails them (at connect or mid-call), if anywhere.
        self.fallback_to = fallback_to
        self._send_text = send_text
        self._report = report
        self.turns = TurnTracker(report, turn_detection(agent))
        self._carry = OddByteCarry()
        self._up = Resampler(rate, REALTIME_RATE)
        self._down = Resampler(REALTIME_RATE, rate)
        self.playout = Playout(
            rate, send_audio, on_frame=self._on_frame, on_item_end=self._on_item_end
        )
        self._ready = asyncio.Event()
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._answers: dict[str, _Answer] = {}
        self._speaking: _Answer | None = None
        self._cancelled: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_activity = time.monotonic()
        self._session_opened = 0.0
        self.stats = BridgeStats()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.ended_by = EndedBy.UNKNOWN
        self.transfer_to = ""
        self.failed = False
        # Function calls of the response in progress, answered once it is done.
        self._tool_calls: list[asyncio.Future[tuple[str, ToolOutcome]]] = []
        self._responses_with_audio: set[str] = set()
        self._hang_up: _HangUp | None = None

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect upstream and configure the session; raises UpstreamError on failure."""
        await self.client.connect()
        self._session_opened = time.monotonic()
        if self.ended.is_set():  # the caller hung up while we connected
            await self.client.close()
            return
        await self.client.send(session_update(self.agent, self.tools.definitions()))
        greeting = greeting_request(self.agent)
        if greeting:
            await self.client.send(greeting)
        # Caller audio that came while connecting goes first, in order; frames arriving
        # meanwhile join the queue. No await between the last check and _ready: nothing can
        # overtake.
        while self._pending:
            pcm = self._pending.popleft()
            self._pending_bytes -= len(pcm)
            await self.client.append_audio(pcm)
        if self.ended.is_set():
            return
        self._ready.set()
        self._tasks = [
            asyncio.create_task(self._read_upstream(), name="realtime-reader"),
            asyncio.create_task(self.playout.run(), name="playout"),
            asyncio.create_task(self._watch_limits(), name="limits"),
        ]

    async def stop(
        self,
        reason: str,
        failed: bool = False,
        ended_by: EndedBy = EndedBy.UNKNOWN,
        hand_over: bool = False,
    ) -> None:
        """End the call's bridge once; the first reason given is the one kept.

        A failed call, or one ended with `hand_over`, goes to the fallback number if any.
        """
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.failed = failed
        self.ended_by = EndedBy.ERROR if failed else ended_by
        if (failed or hand_over) and self.fallback_to and not self.transfer_to:
            self.transfer_to = self.fallback_to
            self.end_reason = f"{reason}; handed over to {self.fallback_to}"
        self.ended.set()
        self.turns.flush()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self.client.close()

    # -- caller to OpenAI -----------------------------------------------------------

    async def feed(self, data: bytes) -> None:
        """One binary frame from Sautikit: S16LE mono at the call's rate, any length."""
        if self.ended.is_set():
            return
        even = self._carry.push(data)
        if not even:
            return
        self.turns.caller_audio_started()
        if self.recorder is not None:
            self.recorder.caller(even, time.monotonic() - self.turns.t0)
        pcm = self._up.process(even)
        if not pcm:
            return
        if not self._ready.is_set():
            self._keep_pending(pcm)
            return
        try:
            await self.client.append_audio(pcm)
        except Exception as e:  # the reader notices the close and ends the call
            log.debug("append failed: %s", e)

    def _keep_pending(self, pcm: bytes) -> None:
        self._pending.append(pcm)
        self._pending_bytes += len(pcm)
        limit = int(self.limits.pending_audio_s * REALTIME_RATE) * 2
        while self._pending_bytes > limit and self._pending:
            self._pending_bytes -= len(self._pending.popleft())

    # -- OpenAI to caller -----------------------------------------------------------

    async def _read_upstream(self) -> None:
        async for event in self.client.events():
            try:
                await self._handle(event)
            except Exception:
                log.exception("bad Realtime event %s", event.get("type"))
        if not self.ended.is_set():
            code, reason = self.client.close_code, self.client.close_reason
            lasted = time.monotonic() - self._session_opened
            if code == 1001 and lasted >= OPENAI_SESSION_LIMIT_S - OPENAI_LIMIT_SLACK_S:
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
            self._last_activity = time.monotonic()
            self.turns.speech_started(event)
            await self._barge_in(event)
        elif kind == "input_audio_buffer.speech_stopped":
            self.turns.speech_stopped(event)
        elif kind == "response.output_audio_transcript.delta":
            self.turns.agent_text_delta(event.get("item_id", ""), str(event.get("delta") or ""))
        elif kind == "response.output_audio_transcript.done":
            self.turns.agent_said(event.get("item_id", ""), str(event.get("transcript") or ""))
        elif kind == "conversation.item.input_audio_transcription.completed":
            self.turns.caller_said(event)
        elif kind == "response.function_call_arguments.done":
            self._on_function_call(event)
        elif kind == "response.done":
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
        for answer in list(self._answers.values()):
            if not answer.done:
                self._finish_answer(answer.item_id)
        self.stats.turns += 1
        self._report(
            "usage",
            {
                "response_id": response.get("id"),
                "status": response.get("status"),
                "status_details": response.get("status_details"),
                "usage": response.get("usage"),
            },
        )
        if self._tool_calls:
            calls, self._tool_calls = self._tool_calls, []
            had_audio = response.get("id") in self._responses_with_audio
            self._spawn(self._answer_tools(calls, had_audio), "tool-answers")
        elif self._hang_up is not None and self._hang_up.goodbye_asked:
            self._spawn(self._hang_up_when_heard(), "hang-up")

    def _on_audio(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id") or "item"
        if item_id in self._cancelled:
            return  # late audio of an answer the caller interrupted
        if event.get("response_id"):
            self._responses_with_audio.add(event["response_id"])
        pcm24 = base64.b64decode(event.get("delta") or "")
        answer = self._answers.get(item_id)
        if answer is None:
            answer = self._answers[item_id] = _Answer(item_id)
        answer.received += len(pcm24)
        self._speaking = answer
        self._last_activity = time.monotonic()
        self.playout.enqueue(item_id, self._down.process(pcm24))

    def _finish_answer(self, item_id: str) -> None:
        answer = self._answers.get(item_id)
        if answer is None or answer.done or item_id in self._cancelled:
            return
        answer.done = True
        # The resampler holds the last few ms of the answer: release them.
        self.playout.enqueue(item_id, self._down.flush())
        self.playout.end_item(item_id)

    async def _barge_in(self, event: dict[str, Any]) -> None:
        answer = self._speaking
        if answer is None or answer.item_id in self._cancelled:
            return
        if answer.done and not self.playout.is_playing():
            return  # the answer was already heard in full
        self.stats.barge_ins += 1
        self._cancelled.add(answer.item_id)
        answer.done = True  # nothing more of it will be played
        # What the media server still buffers is dropped by killAudio: the caller hears
        # everything written except that.
        unheard_s = self.playout.ahead_s()
        self.playout.clear()
        self._down.reset()
        await self._send_text(KILL_AUDIO)
        if self.recorder is not None:
            self.recorder.cut_agent(time.monotonic() - self.turns.t0)
        written = self.playout.written_ms(answer.item_id)
        sent = int(bytes_to_ms(answer.received, REALTIME_RATE))
        # Never more than OpenAI sent, or it refuses the truncate.
        audio_end_ms = max(0, min(sent, written - round(unheard_s * 1000)))
        self.turns.agent_interrupted(answer.item_id, audio_end_ms, sent)
        if answer.received:
            await self.client.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": answer.item_id,
                    "content_index": 0,
                    "audio_end_ms": audio_end_ms,
                }
            )
        self._report("barge-in", {"item_id": answer.item_id, "audio_end_ms": audio_end_ms})
        self._speaking = None

    # -- what the caller heard ------------------------------------------------------------

    def _on_frame(self, item_id: str, frame: bytes, begins: float) -> None:
        self.turns.agent_frame(item_id, begins)
        if self.recorder is not None:
            self.recorder.agent(frame, begins - self.turns.t0)

    def _on_item_end(self, item_id: str, heard_until: float) -> None:
        answer = self._answers.get(item_id)
        sent = int(bytes_to_ms(answer.received, REALTIME_RATE)) if answer else 0
        self.turns.agent_played(item_id, heard_until, self.playout.written_ms(item_id), sent)

    # -- tools ---------------------------------------------------------------------------

    def _on_function_call(self, event: dict[str, Any]) -> None:
        call_id = str(event.get("call_id") or event.get("item_id") or "")
        name = str(event.get("name") or "")
        arguments = str(event.get("arguments") or "")
        try:
            shown: Any = json.loads(arguments or "{}")
        except ValueError:
            shown = arguments
        self.turns.tool_called(call_id, name, shown)
        done: asyncio.Future[tuple[str, ToolOutcome]] = asyncio.get_running_loop().create_future()
        builtin = self._builtin_tool(name)
        if builtin is not None:
            done.set_result((call_id, builtin))
        else:

            async def run() -> None:
                outcome = await self.tools.run(name, arguments, self.call_id)
                done.set_result((call_id, outcome))

            self._spawn(run(), f"tool-{name}")
        self._tool_calls.append(done)

    def _builtin_tool(self, name: str) -> ToolOutcome | None:
        if name == END_CALL and self.tools.end_call:
            self._hang_up = self._hang_up or _HangUp("the agent ended the call")
            return ToolOutcome(True, {"ok": True, "next": "Say a short goodbye; the line "
                                      "closes after it."})  # fmt: skip
        if name == TRANSFER_CALL and self.tools.transfer_to:
            number = self.tools.transfer_to
            self._hang_up = self._hang_up or _HangUp(f"the agent transferred the call to {number}",
                                                     transfer_to=number)  # fmt: skip
            return ToolOutcome(True, {"ok": True, "next": "Tell the caller in one sentence that "
                                      "you are putting them through to a person now."})  # fmt: skip
        return None

    async def _answer_tools(
        self, calls: list[asyncio.Future[tuple[str, ToolOutcome]]], had_audio: bool
    ) -> None:
        """Give the model every result of a response, then let it speak (once)."""
        for done in calls:
            call_id, outcome = await done
            self.turns.tool_answered(call_id, outcome.ok, outcome.result)
            await self.client.send(
                {
                    "type": "conversation.item.create",
                    "item": {"type": "function_call_output", "call_id": call_id,
                             "output": outcome.output()},
                }
            )  # fmt: skip
        hang_up = self._hang_up
        if hang_up is not None and had_audio and len(calls) == 1:
            # It already spoke with the call ("Goodbye!"): no second goodbye.
            hang_up.goodbye_asked = True
            await self._hang_up_when_heard()
            return
        if hang_up is not None:
            hang_up.goodbye_asked = True
            self._spawn(self._hang_up_anyway(), "hang-up-timer")
        await self.client.send({"type": "response.create"})

    async def _hang_up_when_heard(self) -> None:
        """Close the line once the caller has heard everything written (and a moment more)."""
        hang_up = self._hang_up
        if hang_up is None:
            return
        while self.playout.is_playing() or any(not a.done for a in self._answers.values()):
            await asyncio.sleep(0.05)
        self.transfer_to = hang_up.transfer_to
        await self.stop(hang_up.reason, ended_by=EndedBy.AGENT)

    async def _hang_up_anyway(self) -> None:
        await asyncio.sleep(HANG_UP_WITHIN_S)
        if self._hang_up is not None:
            self.transfer_to = self._hang_up.transfer_to
            await self.stop(self._hang_up.reason + " (no goodbye heard)", ended_by=EndedBy.AGENT)

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    # -- limits -------------------------------------------------------------------

    async def _watch_limits(self) -> None:
        started = time.monotonic()
        max_call = min(self.limits.max_call_s, OPENAI_SESSION_LIMIT_S)
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if now - started >= max_call:
                await self.stop(
                    f"maximum call duration reached ({int(max_call)} s)", ended_by=EndedBy.LIMIT
                )
                return
            quiet = now - self._last_activity
            if quiet >= self.limits.silence_timeout_s and not self.playout.is_playing():
                await self.stop(
                    f"silence timeout ({int(self.limits.silence_timeout_s)} s)",
                    ended_by=EndedBy.LIMIT,
                )
                return


__all__ = ["Bridge", "BridgeStats", "Limits", "UpstreamError"]
