"""Paced playout alone: real-time pacing, the lead, item boundaries, clearing."""

from __future__ import annotations

import asyncio

import pytest

from streaming.core.audio.clock import loop_now
from streaming.core.audio.playout import Playout

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]
RATE = 16000
FRAME = 640  # 20 ms at 16 kHz


async def run_for(playout: Playout, seconds: float) -> None:
    task = asyncio.create_task(playout.run())
    await asyncio.sleep(seconds)
    task.cancel()


async def test_it_sends_20ms_frames_at_real_time_pace_with_a_100ms_lead():
    sent: list[tuple[float, int]] = []

    async def send(frame: bytes) -> None:
        sent.append((loop_now(), len(frame)))

    playout = Playout(RATE, send)
    playout.enqueue("a", b"\x01\x00" * RATE)  # one second, all at once
    playout.end_item("a")
    start = loop_now()
    await run_for(playout, 1.6)
    assert sum(n for _, n in sent) == 2 * RATE
    assert {n for _, n in sent} == {FRAME}
    total = 0
    for t, n in sent:
        total += n
        ahead = total / 2 / RATE - (t - start)
        assert ahead <= 0.100 + 0.020 + 0.010
    # Never faster than real time: a second of audio takes at least a second less the lead
    # (no upper bound: a loaded machine may be late, which the lead check already covers).
    assert sent[-1][0] - start >= 0.85
    assert playout.written_ms("a") == 1000
    assert playout.counts().underruns == 0


async def test_it_never_mixes_two_answers_in_one_frame():
    frames: list[bytes] = []

    async def send(frame: bytes) -> None:
        frames.append(frame)

    playout = Playout(RATE, send)
    playout.enqueue("a", b"\x01\x00" * 500)  # 31.25 ms
    playout.end_item("a")
    playout.enqueue("b", b"\x02\x00" * 320)
    playout.end_item("b")
    await run_for(playout, 0.2)
    assert [len(f) for f in frames] == [640, 360, 640]
    assert set(frames[1]) == {1, 0} and set(frames[2]) == {2, 0}
    assert playout.written_ms("a") == 31 and playout.written_ms("b") == 20


async def test_it_waits_for_a_full_frame_while_an_answer_is_still_coming():
    frames: list[bytes] = []

    async def send(frame: bytes) -> None:
        frames.append(frame)

    playout = Playout(RATE, send)
    task = asyncio.create_task(playout.run())
    playout.enqueue("a", b"\x00\x01" * 100)
    await asyncio.sleep(0.05)
    assert frames == []
    playout.enqueue("a", b"\x00\x01" * 220)
    await asyncio.sleep(0.05)
    assert [len(f) for f in frames] == [640]
    task.cancel()


async def test_it_drops_what_is_not_written_on_clear():
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    playout = Playout(RATE, send)
    playout.enqueue("a", b"\x01\x00" * RATE)
    task = asyncio.create_task(playout.run())
    await asyncio.sleep(0.2)
    dropped = playout.clear()
    written = sum(len(f) for f in sent)
    await asyncio.sleep(0.1)
    task.cancel()
    assert sum(len(f) for f in sent) == written
    assert dropped + written == 2 * RATE
    assert playout.written_ms("a") == written // 2 * 1000 // RATE


async def test_it_starts_with_a_cushion_in_hand_and_gathers_it_again_after_running_dry():
    """Audio that comes at real-time pace never gets ahead by itself: with prime_ms, nothing
    plays until that much is here, at the start and after an underrun (counted once)."""
    sent: list[float] = []

    async def send(frame: bytes) -> None:
        sent.append(loop_now())

    async def sent_count(n: int) -> int:
        for _ in range(100):  # a loaded machine may be slow to run the playout
            if len(sent) >= n:
                break
            await asyncio.sleep(0.01)
        return len(sent)

    playout = Playout(RATE, send, lead_ms=40, prime_ms=40)
    task = asyncio.create_task(playout.run())
    playout.enqueue("a", b"\x01\x00" * 320)  # 20 ms: not enough to start
    await asyncio.sleep(0.1)
    assert sent == []
    playout.enqueue("a", b"\x01\x00" * 320)  # 40 ms: both frames go at once
    assert await sent_count(2) == 2
    await asyncio.sleep(0.1)  # the caller has heard them: dry
    playout.enqueue("a", b"\x01\x00" * 320)
    await asyncio.sleep(0.1)
    assert len(sent) == 2  # waiting for a cushion again
    playout.enqueue("a", b"\x01\x00" * 320)
    assert await sent_count(4) == 4
    playout.end_item("a")
    await asyncio.sleep(0.05)
    task.cancel()
    assert playout.counts().underruns == 1
