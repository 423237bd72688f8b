"""The GPT-Live client against the stand-in: everything it sends is one of OpenAI's published
client events (tests/live_types.py judges them all), and what it hears it keeps."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from streaming.core.call.upstream import UpstreamError
from streaming.core.live.client import FORMATS, LiveClient, commentary, session_start
from streaming.devtools import g711
from streaming.devtools.fake_live import FakeLiveServer, LiveOptions
from streaming.devtools.signals import tone
from tests.live_types import check_client_event, check_server_event

pytestmark = pytest.mark.asyncio


async def with_stand_in(**options):
    return await FakeLiveServer(LiveOptions(**options)).start()


@pytest.mark.parametrize(
    "audio_format",
    [{"type": "audio/pcm", "rate": 16000}, {"type": "audio/pcm", "rate": 24000},
     {"type": "audio/pcmu", "rate": 8000}],
)  # fmt: skip
async def test_it_starts_talks_and_closes_with_published_events_only(audio_format):
    rate = audio_format["rate"]
    server = await with_stand_in(answers=["Karibu."])
    client = LiveClient(server.url, "sk-test", open_timeout=5)
    try:
        started = await client.start(
            session_start("gpt-live-1.1", "You answer the clinic's phone.", "marin", audio_format)
        )
        check_server_event(started)
        assert client.session["audio"]["format"] == audio_format
        await client.send(commentary("Greet the caller."))
        pcm = tone(300, 400, rate, amp=0.5) + bytes(2 * rate * 700 // 1000)
        frame = rate // 50 * 2
        for at in range(0, len(pcm), frame):
            chunk = pcm[at : at + frame]
            await client.append_audio(g711.ulaw_encode(chunk) if rate == 8000 else chunk)
        heard: list[dict] = []
        async with asyncio.timeout(10):
            async for event in client.events():
                heard.append(event)
                if (
                    event["type"] == "session.output_transcript.delta"
                    and "Karibu." in event["delta"]
                ):
                    break
        await client.finish()
    finally:
        await server.stop()

    [session] = server.sessions
    assert session.got, "nothing reached the stand-in"
    for event in session.got:
        check_client_event(event)
    kinds = [e["type"] for e in session.got]
    assert kinds[0] == "session.start" and kinds[-1] == "session.close"
    assert session.caller_turns == 1
    audio = np.frombuffer(bytes(session.received), "<i2")
    assert len(audio) == len(pcm) // 2  # every frame, silence included, reached the model
    assert client.closed_reason == "close_requested"
    assert client.usage_seconds > 0
    assert any(e["type"] == "session.input_transcript.delta" for e in heard)


async def test_a_refused_start_is_an_upstream_error():
    server = await with_stand_in()
    try:
        client = LiveClient(server.url, "sk-test", open_timeout=5)
        with pytest.raises(UpstreamError, match="invalid_value"):
            await client.start(session_start("gpt-realtime", "", "marin", FORMATS[16000]))
    finally:
        await server.stop()


async def test_a_wrong_key_is_an_upstream_error():
    server = await with_stand_in(api_key="sk-right")
    try:
        client = LiveClient(server.url, "sk-wrong", open_timeout=5)
        with pytest.raises(UpstreamError, match="invalid_api_key"):
            await client.start(session_start("gpt-live-1", "", "marin", FORMATS[16000]))
    finally:
        await server.stop()


async def test_nobody_listening_is_an_upstream_error():
    from streaming.devtools.servers import free_port

    client = LiveClient(f"ws://127.0.0.1:{free_port()}/v1/live/sessions", "sk", open_timeout=2)
    with pytest.raises(UpstreamError, match="unreachable"):
        await client.start(session_start("gpt-live-1", "", "marin", FORMATS[16000]))
