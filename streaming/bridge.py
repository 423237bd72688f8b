"""One live call: caller audio up to OpenAI Realtime, answers paced back down, barge-in.

Plain asyncio: the Channels consumer supplies the socket writers and records what the bridge
reports. Long-running loops (reading OpenAI, the playout clock, the limits) are tasks owned by
the bridge and cancelled when it stops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from streaming.audio import REALTIME_RATE, OddByteCarry, Resampler, bytes_to_ms
from streaming.playout import Playout
from streaming.realtime import RealtimeClient, SessionConfig, UpstreamError

log = logging.getLogger(__name__)

SendBytes = Callable[[bytes], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]
Report = Callable[[str, dict[str, Any]], None]

KILL_AUDIO = '{"type":"killAudio"}'
AUDIO_DELTAS = {"response.output_audio.delta", "response.audio.delta"}
AUDIO_DONE = {"response.output_audio.done", "response.audio.done"}
# OpenAI closes every Realtime session after 60 minutes with code 1001.
OPENAI_SESSION_LIMIT_S = 60 * 60


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
class BridgeStats:
    barge_ins: int = 0
    turns: int = 0


class Bridge:
    def __init__(
        self,
        config: SessionConfig,
        client: RealtimeClient,
        rate: int,
        send_audio: SendBytes,
        send_text: SendText,
        report: Report,
        limits: Limits | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.limits = limits or Limits()
        self._send_text = send_text
        self._report = report
        self._carry = OddByteCarry()
        self._up = Resampler(rate, REALTIME_RATE)
        self._down = Resampler(REALTIME_RATE, rate)
        self.playout = Playout(rate, send_audio)
        self._ready = asyncio.Event()
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._answers: dict[str, _Answer] = {}
        self._speaking: _Answer | None = None
        self._cancelled: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_activity = time.monotonic()
        self.stats = BridgeStats()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.failed = False

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect upstream and configure the session; raises UpstreamError on failure."""
        await self.client.connect()
        if self.ended.is_set():  # the caller hung up while we connected
            await self.client.close()
            return
        await self.client.send(self.config.session_update())
        greeting = self.config.greeting_request()
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

    async def stop(self, reason: str, failed: bool = False) -> None:
        """End the call's bridge once; the first reason given is the one kept."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.failed = failed
        self.ended.set()
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
        pcm = self._up.process(self._carry.push(data))
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
            if code == 1001:
                why = "OpenAI ended the session (60-minute limit)"
            else:
                why = f"OpenAI closed the session (code {code} {reason})".strip()
            await self.stop(why, failed=code not in (1000, 1001))

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        if kind in AUDIO_DELTAS:
            self._on_audio(event)
        elif kind in AUDIO_DONE:
            self._finish_answer(event.get("item_id", ""))
        elif kind == "input_audio_buffer.speech_started":
            self._last_activity = time.monotonic()
            await self._barge_in(event)
        elif kind == "response.done":
            response = event.get("response") or {}
            for answer in list(self._answers.values()):
                if not answer.done:
                    self._finish_answer(answer.item_id)
            self.stats.turns += 1
            self._report(
                "response.done",
                {
                    "status": response.get("status"),
                    "status_details": response.get("status_details"),
                    "usage": response.get("usage"),
                },
            )
        elif kind == "error":
            self._report("error", {"error": event.get("error")})
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._report("caller said", {"transcript": event.get("transcript", "")})
        elif kind == "response.output_audio_transcript.done":
            self._report("agent said", {"transcript": event.get("transcript", "")})

    def _on_audio(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id") or "item"
        if item_id in self._cancelled:
            return  # late audio of an answer the caller interrupted
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
        self.playout.clear()
        self._down.reset()
        await self._send_text(KILL_AUDIO)
        written = self.playout.written_ms(answer.item_id)
        sent = int(bytes_to_ms(answer.received, REALTIME_RATE))
        audio_end_ms = min(written, sent)
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

    # -- limits -------------------------------------------------------------------

    async def _watch_limits(self) -> None:
        started = time.monotonic()
        max_call = min(self.limits.max_call_s, OPENAI_SESSION_LIMIT_S)
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if now - started >= max_call:
                await self.stop(f"maximum call duration reached ({int(max_call)} s)")
                return
            quiet = now - self._last_activity
            if quiet >= self.limits.silence_timeout_s and not self.playout.is_playing():
                await self.stop(f"silence timeout ({int(self.limits.silence_timeout_s)} s)")
                return


__all__ = ["Bridge", "BridgeStats", "Limits", "UpstreamError"]
