"""The call simulator's media buffer behaves like mod_audio_fork's: back to back, killAudio
drops what has not played yet; and it tells answers apart by what the caller hears."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from streaming.core.call.stream_protocol import SUBPROTOCOL
from streaming.devtools.simulator import CallReport, _MediaBuffer, scripted_caller, stream_call

RATE = 16000
FRAME = np.full(320, 1000, dtype="<i2").tobytes()  # 20 ms


def test_it_plays_frames_back_to_back():
    media = _MediaBuffer(RATE, start=0.0)
    for _ in range(5):
        media.add(FRAME, now=0.0)  # a burst arrives at once
    heard = media.finish()
    assert len(heard) == 5 * 320
    assert (heard == 1000).all()


def test_it_drops_what_has_not_played_on_kill():
    media = _MediaBuffer(RATE, start=0.0)
    for _ in range(5):
        media.add(FRAME, now=0.0)
    media.kill(now=0.030)  # 30 ms in: half of the second frame has played
    media.add(FRAME, now=0.5)
    heard = media.finish()
    assert np.count_nonzero(heard[: RATE // 2]) == 480
    assert np.count_nonzero(heard[RATE // 2 :]) == 320


def test_the_scripted_caller_speaks_twice():
    audio, spans = scripted_caller(RATE)
    assert len(spans) == 2
    for start, end in spans:
        assert np.abs(audio[int(start * RATE) : int(end * RATE)]).max() > 3000
    assert np.abs(audio[: int(spans[0][0] * RATE)]).max() == 0


def test_it_counts_answers_by_what_is_heard_not_by_frames_arriving():
    """A GPT-Live track never stops: silence between answers arrives as frames of zeros."""
    silence, tone = np.zeros(320, dtype="<i2"), (3000 * np.sin(np.arange(320) / 3)).astype("<i2")
    track = [silence] * 25 + [tone] * 15 + [silence] * 25 + [tone] * 15 + [silence] * 10

    async def agent(ws: ServerConnection) -> None:
        await ws.recv()  # the metadata frame
        # Read the caller's audio as a real server does: frames left unread fill websockets'
        # queue, it stops reading the socket, and misses the caller's answer to its close.
        reading = asyncio.create_task(drain(ws))
        start = time.monotonic()
        for i, frame in enumerate(track):
            await asyncio.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
            await ws.send(frame.tobytes())
        reading.cancel()

    async def call() -> CallReport:
        async with serve(agent, "127.0.0.1", 0, subprotocols=[Subprotocol(SUBPROTOCOL)]) as srv:
            port = srv.sockets[0].getsockname()[1]
            report = CallReport("SIM_1", rate=RATE)
            caller = np.zeros(RATE * 2, dtype=np.int16)  # the caller listens for 2 s
            await stream_call(f"ws://127.0.0.1:{port}/", report, caller, [(0.0, 0.0)], {},
                              tail_s=0.5)  # fmt: skip
            return report

    report = asyncio.run(call())
    assert report.turns == 2
    assert report.first_audio_at is not None
    assert 0.45 < report.time_to_first_audio_ms / 1000 < 0.7  # after 0.5 s of silence
    assert report.answer_latencies_ms and 0.45 < report.answer_latencies_ms[0] / 1000 < 0.7
    assert 0.55 < report.agent_audio_s < 0.65  # two answers of 0.3 s


async def drain(ws: ServerConnection) -> None:
    async for _ in ws:
        pass
