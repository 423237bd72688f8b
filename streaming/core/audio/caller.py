"""The caller's side on its way to OpenAI: whole samples, recorded, resampled to the rate the
model hears (24 kHz for Realtime, 16 kHz for GPT-Live; none when the call already has it), and
held while the session opens (see pending.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from streaming.core.audio.clock import CallClock
from streaming.core.audio.pacing import RealTimeBudget
from streaming.core.audio.pcm import REALTIME_RATE, OddByteCarry, Resampler
from streaming.core.audio.pending import PendingAudio
from streaming.core.audio.recording import Recorder


class Upstream(Protocol):
    async def append_audio(self, pcm: bytes) -> None: ...


class Listener(Protocol):
    """Told when the caller's audio starts (the Realtime transcript times turns from it)."""

    def caller_audio_started(self) -> None: ...


log = logging.getLogger(__name__)


class CallerAudio:
    def __init__(
        self,
        rate: int,
        client: Upstream,
        pending_s: float,
        clock: CallClock,
        transcript: Listener | None,
        recorder: Recorder | None,
        model_rate: int = REALTIME_RATE,
    ) -> None:
        self._client = client
        self._clock = clock
        self._transcript = transcript
        self._recorder = recorder
        self._budget = RealTimeBudget(rate, clock)
        self._carry = OddByteCarry()
        self._up = Resampler(rate, model_rate) if rate != model_rate else None
        self._pending = PendingAudio(int(pending_s * model_rate) * 2)
        self._open = asyncio.Event()

    async def feed(self, data: bytes) -> None:
        """One binary frame from Sautikit: S16LE mono at the call's rate, any length. Beyond
        real time (and its allowance for jitter) it is dropped here, before it costs anything."""
        # Whole samples first: a frame of odd length cut short would put every later one out
        # of step. The socket caps a frame at 64 KiB, so the copy is small.
        even = self._budget.take(self._carry.push(data))
        if not even:
            return
        if self._transcript is not None:
            self._transcript.caller_audio_started()
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
        except Exception as e:  # the bridge's reader notices the close and ends the call
            log.debug("append failed: %s", e)

    @property
    def dropped_s(self) -> float:
        """Seconds of audio the caller's side sent beyond real time, dropped."""
        return self._budget.dropped_s

    async def session_opened(self) -> None:
        """Send what came while connecting, in order, then the rest as it comes. Frames that
        arrive meanwhile join the queue; nothing awaits between its last check and the switch,
        so nothing can overtake."""
        while (pcm := self._pending.take()) is not None:
            await self._client.append_audio(pcm)
        self._open.set()
