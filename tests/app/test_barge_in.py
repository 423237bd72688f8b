"""Barge-in through the real consumer and the Realtime stand-in: the caller talks over an
answer, playout stops (killAudio), and OpenAI is told how much was heard (truncate).

The parts alone: tests/unit/test_barge_in.py; in the recording: tests/app/test_recordings.py;
on GPT-Live: tests/app/test_live_bridge.py."""

from __future__ import annotations

import asyncio

import pytest_asyncio

from streaming.devtools.fake_realtime import Options, Voice
from streaming.devtools.signals import tone
from tests.bridge_helpers import (
    THROUGH_THE_CONSUMER,
    bridge_events,
    collect,
    communicator,
    start_call,
    wait_for,
)

pytestmark = THROUGH_THE_CONSUMER


@pytest_asyncio.fixture
async def fake(fake_realtime):
    return await fake_realtime(Options(voice=Voice(duration_ms=1500)))


async def test_it_stops_playout_and_truncates_on_barge_in(fake):
    fake.options.voice = Voice(duration_ms=4000)
    fake.options.speedup = 1.5  # still generating when the caller interrupts
    comm = communicator(await start_call(greeting="Tell a long story."))
    await comm.connect()
    # Let the greeting play for about a second.
    audio, _, _ = await collect(comm, seconds=1.0, stop_after_quiet=2)
    assert len(audio) > 2 * 16000 * 0.8
    # The caller talks over it: 300 ms of loud tone, sent in real time.
    talk = tone(300, 300, 16000, amp=0.5)
    for i in range(0, len(talk), 640):
        await comm.send_to(bytes_data=talk[i : i + 640])
        await asyncio.sleep(0.02)
    session = fake.sessions[0]
    assert await wait_for(lambda: session.speech_events)
    speech_at = session.speech_events[0][1]
    after, texts, times = await collect(comm, seconds=1.5, stop_after_quiet=0.6)
    assert {"type": "killAudio"} in texts
    # Audio written to the caller after OpenAI's signal (the media server drops what it
    # still buffers on killAudio, so this bounds the stale audio heard).
    heard_after_ms = 0.0
    last = 0
    for t, total in times:
        if t > speech_at:
            heard_after_ms += (total - last) / 2 / 16000 * 1000
        last = total
    assert heard_after_ms <= 150, heard_after_ms
    assert await wait_for(lambda: session.truncates)
    [truncate] = session.truncates
    item_id = truncate["item_id"]
    written_ms = (len(audio) + len(after)) / 2 / 16000 * 1000
    assert truncate["content_index"] == 0
    # Heard: everything written but what the media server still buffered (up to the 100 ms
    # playout lead), which killAudio dropped.
    assert written_ms - 125 <= truncate["audio_end_ms"] <= written_ms - 75
    assert truncate["audio_end_ms"] <= session.items[item_id]
    assert session.errors == []
    assert session.responses[0]["status"] == "cancelled"
    assert session.responses[0]["status_details"]["reason"] == "turn_detected"
    await comm.disconnect()
    kinds = [kind for kind, _ in await bridge_events()]
    assert "barge-in" in kinds


async def test_it_does_not_truncate_an_answer_already_heard(fake):
    fake.options.voice = Voice(duration_ms=300)
    comm = communicator(await start_call(greeting="Hi."))
    await comm.connect()
    await collect(comm, seconds=2, stop_after_quiet=0.4)
    await asyncio.sleep(0.2)
    talk = tone(300, 300, 16000, amp=0.5)
    for i in range(0, len(talk), 640):
        await comm.send_to(bytes_data=talk[i : i + 640])
    session = fake.sessions[0]
    assert await wait_for(lambda: session.speech_events)
    _, texts, _ = await collect(comm, seconds=0.3, stop_after_quiet=0.3)
    assert {"type": "killAudio"} not in texts
    assert session.truncates == [] and session.errors == []
    await comm.disconnect()


async def test_the_fake_checks_truncates_like_openai(fake):
    from streaming.core.realtime.client import RealtimeClient

    fake.options.voice = Voice(duration_ms=200)
    client = RealtimeClient(fake.url, "k", "gpt-realtime")
    await client.connect()
    await client.send({"type": "response.create"})
    item = None
    async for event in client.events():
        if event["type"] == "response.output_item.added":
            item = event["item"]["id"]
        if event["type"] == "response.done":
            break
    for end, expected in ((500, "already shorter than 500 ms"), (100, None)):
        await client.send(
            {"type": "conversation.item.truncate", "item_id": item, "content_index": 0,
             "audio_end_ms": end}
        )  # fmt: skip
        async for event in client.events():
            if expected:
                assert event["type"] == "error"
                assert expected in event["error"]["message"]
            else:
                assert event == {**event, "type": "conversation.item.truncated",
                                 "audio_end_ms": 100}  # fmt: skip
            break
    await client.close()
