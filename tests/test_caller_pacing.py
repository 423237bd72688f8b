"""Caller audio counts at real time at most: a socket that floods frames gets no more recorded,
resampled or billed than the call's length (plus the jitter allowance), and one that sends a
frame over the size cap is closed. Measured through a real daphne process and the Realtime
stand-in: what the stand-in heard, and the recording's length."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import websockets

from agents.models import Agent
from calls.models import Call
from streaming.core.audio.caller import CallerAudio
from streaming.core.audio.clock import CallClock
from streaming.core.audio.pacing import JITTER_ALLOWANCE_S, RealTimeBudget
from streaming.devtools.servers import Servers
from tests.live_stack import open_stream, start_stack, wait_until
from voiceproject.worker import WEBSOCKET_MAX_BYTES

NUMBER = "+254711000600"
RATE = 16000
FRAME = b"\x10\x00" * (RATE // 50)  # 20 ms, not silent
MODEL_RATE = 24000
SLACK_S = 0.5  # the stand-in's and the recorder's own rounding, and the socket's last frames


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


@pytest.fixture
def server(transactional_db, tmp_path, settings) -> Iterator[Servers]:
    settings.MEDIA_ROOT = str(tmp_path / "media")  # where the server keeps the recording
    Agent(name="Desk", phone_number=NUMBER, instructions="Help.", record_calls=True).save()
    stack = start_stack(env={"MEDIA_ROOT": str(tmp_path / "media")}, fake_args=[])
    yield stack
    stack.stop()
    stack.tmp.cleanup()


async def open_call(stack: Servers, call_id: str) -> websockets.ClientConnection:
    fields = {"sessionId": call_id, "destinationNumber": NUMBER}
    return await open_stream(stack.base_url, fields, max_size=None)


def heard_by_the_stand_in(stack: Servers) -> float:
    """Seconds of caller audio OpenAI's stand-in received (and would have billed)."""
    lines = Path(stack.stats_path).read_text().splitlines()
    received = json.loads(lines[-1])["received_at"]
    return (received[-1][1] if received else 0) / 2 / MODEL_RATE


def test_it_records_and_bills_no_more_than_the_calls_length(server):
    async def flood() -> float:
        ws = await open_call(server, "FLOOD_1")
        opened = time.monotonic()
        await asyncio.sleep(1.0)  # the session opens
        for _ in range(80 * 50):  # 80 s of audio, as fast as the socket takes it
            await ws.send(FRAME)
        await asyncio.sleep(2.0)
        await ws.close()
        return time.monotonic() - opened

    lasted = asyncio.run(flood())
    assert wait_until(lambda: bool(Call.objects.get(call_id="FLOOD_1").recording), 20)
    assert wait_until(lambda: Path(server.stats_path).exists(), 10)
    call = Call.objects.get(call_id="FLOOD_1")
    most = lasted + JITTER_ALLOWANCE_S + SLACK_S
    assert heard_by_the_stand_in(server) <= most
    assert call.recording_seconds() <= most
    assert call.metadata["bridge"]["caller_audio_dropped_s"] >= 80 - most


def test_it_closes_a_socket_that_sends_a_frame_over_the_cap(server):
    async def oversize() -> bool:
        ws = await open_call(server, "BIG_1")
        await ws.send(FRAME)
        await ws.send(b"\x00" * (WEBSOCKET_MAX_BYTES + 2))
        try:
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        except websockets.ConnectionClosed:
            return True  # autobahn drops the connection ("message too big") unread
        except TimeoutError:
            return False

    assert asyncio.run(oversize())
    assert wait_until(lambda: Call.objects.get(call_id="BIG_1").bridge_ended_at is not None)
