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

import pytest
import websockets

from agents.models import Agent
from calls.models import Call
from streaming.core.audio.pacing import JITTER_ALLOWANCE_S
from streaming.devtools.servers import Servers
from tests.live_stack import open_stream, start_stack, wait_until
from voiceproject.worker import WEBSOCKET_MAX_BYTES

NUMBER = "+254711000600"

RATE = 16000

FRAME = b"\x10\x00" * (RATE // 50)  # 20 ms, not silent

MODEL_RATE = 24000

SLACK_S = 0.5  # the stand-in's and the recorder's own rounding, and the socket's last frames


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
