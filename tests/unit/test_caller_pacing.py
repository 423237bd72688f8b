"""Caller audio counts at real time at most, the parts alone: the real-time budget with its
jitter allowance, whole samples only, frames of odd lengths. Through a real daphne process
(what the Realtime stand-in heard, the recording's length, the frame size cap):
tests/server/test_caller_pacing.py."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from streaming.core.audio.caller import CallerAudio
from streaming.core.audio.clock import CallClock
from streaming.core.audio.pacing import JITTER_ALLOWANCE_S, RealTimeBudget

RATE = 16000

FRAME = b"\x10\x00" * (RATE // 50)  # 20 ms, not silent


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_it_lets_real_time_and_its_allowance_through_and_drops_the_rest():
    clock = Clock()
    budget = RealTimeBudget(RATE, CallClock(clock))
    second = b"\x00\x00" * RATE
    assert budget.take(second * 2) == second * 2  # the allowance: a stall's backlog
    assert budget.take(FRAME) == b""
    clock.t = 0.5
    assert len(budget.take(second)) == RATE  # half a second's worth, in whole samples
    clock.t = 100.0  # silent for a long time: credit never grows past the allowance
    assert len(budget.take(second * 10)) == 2 * RATE * JITTER_ALLOWANCE_S
    assert budget.dropped_s == pytest.approx(0.02 + 0.5 + 8)


def test_it_passes_whole_samples_only():
    clock = Clock()
    budget = RealTimeBudget(RATE, CallClock(clock), allowance_s=1.0)
    budget.take(b"\x00" * 2 * RATE)  # the allowance spent
    clock.t = 3.5 / (2 * RATE)  # three and a half bytes of credit: one whole sample
    assert budget.take(b"\x01\x02\x03\x04") == b"\x01\x02"
    assert budget.dropped_bytes % 2 == 0


class Upstream:
    def __init__(self) -> None:
        self.heard = bytearray()

    async def append_audio(self, pcm: bytes) -> None:
        self.heard += pcm


def test_it_keeps_odd_frames_to_real_time_and_in_step():
    """A ramp of samples in frames of odd lengths, sent far faster than real time, through the
    caller's audio path: what goes up is no more than the allowance, and every sample of it is
    a sample of the ramp (bytes out of step would make other values)."""
    clock = Clock()
    upstream = Upstream()
    caller = CallerAudio(RATE, upstream, 5.0, CallClock(clock), None, None, model_rate=RATE)
    ramp = np.tile(np.arange(0, 30000, 3, dtype="<i2"), 12).tobytes()  # 7.5 s

    async def send() -> None:
        await caller.session_opened()
        sizes, i, n = [333, 641, 1, 7, 640, 65535], 0, 0
        while i < len(ramp):
            size = sizes[n % len(sizes)]
            await caller.feed(ramp[i : i + size])
            i, n = i + size, n + 1
            clock.t += 0.0001

    asyncio.run(send())
    heard = np.frombuffer(bytes(upstream.heard), "<i2").astype(int)
    assert 0 < len(heard) * 2 <= 2 * RATE * (JITTER_ALLOWANCE_S + clock.t) + 2
    assert np.all(heard % 3 == 0) and heard.min() >= 0 and heard.max() < 30000
    assert caller.dropped_s > 0


def test_it_gives_frames_of_odd_lengths_no_way_past_it():
    """Back-to-back frames of 4,097 bytes once passed whole, but a byte, with no credit left."""
    clock = Clock()
    upstream = Upstream()
    caller = CallerAudio(RATE, upstream, 5.0, CallClock(clock), None, None, model_rate=RATE)

    async def send() -> None:
        await caller.session_opened()
        for _ in range(3000):
            await caller.feed(b"\x10\x00" * 2048 + b"\x10")

    asyncio.run(send())
    assert len(upstream.heard) <= 2 * RATE * JITTER_ALLOWANCE_S
