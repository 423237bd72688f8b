"""The audio path through the real consumer, measured with tones whose right answer is known."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
import pytest_asyncio

from streaming.consumer import STORED_TEXT_FRAMES
from streaming.devtools.fake_realtime import Options, Voice
from streaming.devtools.signals import active_span, band_db, dominant_hz, samples, snr_db, tone
from tests.bridge_helpers import (
    THROUGH_THE_CONSUMER,
    bridge_events,
    collect,
    communicator,
    get_call,
    start_call,
    wait_for,
)

pytestmark = THROUGH_THE_CONSUMER


@pytest_asyncio.fixture
async def fake(fake_realtime):
    return await fake_realtime(Options(voice=Voice(tones=[(440.0, 0.3)])))


async def send_frames(comm, pcm: bytes, frame_bytes: int, pace: float = 0.0) -> None:
    for i in range(0, len(pcm), frame_bytes):
        await comm.send_to(bytes_data=pcm[i : i + frame_bytes])
        if pace:
            await asyncio.sleep(pace)


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_it_carries_a_caller_tone_to_openai_at_24khz(fake, rate):
    comm = communicator(await start_call(sample_rate=rate))
    connected, _ = await comm.connect()
    assert connected
    await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    await send_frames(comm, tone(1000, 1000, rate), rate // 50 * 2)
    session = fake.sessions[0]
    assert await wait_for(lambda: len(session.received) >= 2 * 24000 * 0.95)
    await asyncio.sleep(0.2)
    received = samples(bytes(session.received))
    steady = received[2400:-2400]
    assert abs(dominant_hz(steady, 24000) - 1000) < 5
    assert snr_db(steady, 24000, 1000) >= 60
    # 1 s in is 1 s out, less what the filter still holds: soxr releases in blocks of up
    # to 900 samples (37.5 ms) at 8 kHz; never more out than in.
    missing_s = 1.0 - len(received) / 24000
    assert 0 <= missing_s < 0.040
    await comm.disconnect()


async def test_it_carries_odd_length_frames_without_damage(fake):
    comm = communicator(await start_call())
    await comm.connect()
    await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    pcm = tone(1000, 1000, 16000)
    sizes = [641, 639, 1, 333, 1000, 7]  # odd byte counts split samples across frames
    i = 0
    for n in sizes * 100:
        if i >= len(pcm):
            break
        await comm.send_to(bytes_data=pcm[i : i + n])
        i += n
    session = fake.sessions[0]
    assert await wait_for(lambda: len(session.received) >= 2 * 24000 * 0.95)
    steady = samples(bytes(session.received))[2400:-2400]
    assert snr_db(steady, 24000, 1000) >= 60
    await comm.disconnect()


async def test_it_plays_the_reply_at_the_call_rate_with_the_right_duration(fake):
    fake.options.voice = Voice(tones=[(440.0, 0.3)], duration_ms=1500)
    comm = communicator(await start_call(greeting="Say hello."))
    await comm.connect()
    audio, _texts, _ = await collect(comm, seconds=5)
    x = samples(audio)
    start, end = active_span(x)
    duration_ms = (end - start) / 16000 * 1000
    assert abs(duration_ms - 1500) <= 20, duration_ms
    steady = x[start + 1600 : end - 1600]
    assert abs(dominant_hz(steady, 16000) - 440) < 3
    assert snr_db(steady, 16000, 440) >= 60
    # The greeting was asked for with its text as instructions.
    assert fake.sessions[0].responses[0]["status"] == "completed"
    await comm.disconnect()


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_it_keeps_a_10khz_component_out_of_the_call(fake, rate):
    fake.options.voice = Voice(tones=[(440.0, 0.3), (10000.0, 0.3)], duration_ms=1000)
    comm = communicator(await start_call(greeting="Hi.", sample_rate=rate))
    await comm.connect()
    audio, _, _ = await collect(comm, seconds=4)
    x = samples(audio)
    start, end = active_span(x)
    steady = x[start + rate // 10 : end - rate // 10]
    alias = abs(rate - 10000) if rate == 16000 else 10000 - rate  # where 10 kHz would fold to
    assert band_db(steady, rate, alias, 440) <= -60
    await comm.disconnect()


async def test_it_sends_a_ga_session_update(fake):
    comm = communicator(
        await start_call(
            instructions="Be kind.", voice="cedar", turn_detection="semantic_vad", eagerness="low"
        )
    )
    await comm.connect()
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    session = fake.sessions[0]
    assert session.path == "/v1/realtime?model=gpt-realtime"
    assert session.headers["Authorization"] == "Bearer sk-test"
    [update] = session.updates
    assert update["type"] == "realtime"
    assert update["instructions"] == "Be kind."
    assert update["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert update["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert update["audio"]["output"]["voice"] == "cedar"
    assert update["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "low",
        "create_response": True,
        "interrupt_response": True,
    }
    assert update["audio"]["input"]["transcription"]["model"]
    assert session.errors == []
    await comm.disconnect()


async def test_it_paces_playout_in_real_time(fake):
    fake.options.voice = Voice(duration_ms=2000)
    fake.options.speedup = 20  # OpenAI sends far faster than real time
    comm = communicator(await start_call(greeting="Hi."))
    await comm.connect()
    audio, _, times = await collect(comm, seconds=6)
    assert len(audio) >= 2 * 16000 * 1.99
    first_t = times[0][0]
    for t, total in times:
        played_s = total / 2 / 16000
        # Never more than ~100 ms (+ one frame) ahead of the wall clock.
        assert played_s - (t - first_t) <= 0.100 + 0.020 + 0.015
    frame_sizes = {b - a for (_, a), (_, b) in itertools.pairwise(times)}
    assert max(frame_sizes) == 640  # 20 ms frames at 16 kHz
    await comm.disconnect()


async def test_it_keeps_the_metadata_frame_and_ignores_text_that_is_not_json(fake):
    comm = communicator(await start_call())
    await comm.connect()
    meta = {"callSid": "call-1", "headers": json.dumps({"X-Customer": "42"}), "open": "abc"}
    await comm.send_to(text_data=json.dumps(meta))
    await comm.send_to(text_data="this is not json")
    await comm.send_to(bytes_data=b"\x00\x00" * 320)

    async def stored() -> bool:
        return "stream" in (await get_call()).metadata

    assert await wait_for(stored)
    stream = (await get_call()).metadata["stream"]
    assert stream["headers"] == {"X-Customer": "42"}
    assert stream["open"] == "abc"
    await comm.disconnect()


async def test_it_counts_text_frames_past_the_first_few_instead_of_storing_each(fake):
    comm = communicator(await start_call())
    await comm.connect()
    # Nothing Python's parser chokes on may end the call: deep nesting (in the metadata's
    # headers too), NaN, a huge frame.
    await comm.send_to(text_data=json.dumps({"callSid": "call-1", "headers": "[" * 9000}))
    await comm.send_to(text_data="[" * 50_000 + "]" * 50_000)
    await comm.send_to(text_data='{"level": NaN}')
    await comm.send_to(text_data=json.dumps({"pad": "x" * 100_000}))
    for i in range(200):
        await comm.send_to(text_data=json.dumps({"event": "dtmf", "dtmf": str(i % 10)}))
    await comm.send_to(bytes_data=tone(440, 200, 16000))
    assert await wait_for(lambda: fake.sessions and len(fake.sessions[0].received) > 0)
    await comm.disconnect()
    call = await get_call()
    assert call.end_reason == "caller hung up"
    assert call.metadata["bridge"]["text_frames"] == 1 + 3 + 200
    stored = [kind for kind, _ in await bridge_events() if kind == "stream text"]
    assert 0 < len(stored) <= STORED_TEXT_FRAMES


async def test_it_keeps_caller_audio_in_order_while_openai_connects(fake):
    fake.options.open_delay_ms = 300
    comm = communicator(await start_call())
    await comm.connect()
    # The caller talks at once, in real time, while the session is still opening.
    await send_frames(comm, tone(1000, 1000, 16000), 640, pace=0.02)
    session = fake.sessions[0]
    assert await wait_for(lambda: len(session.received) >= 2 * 24000 * 0.95)
    await asyncio.sleep(0.2)
    steady = samples(bytes(session.received))[2400:-2400]
    # Any frame out of order or lost would break the sine and the SNR with it.
    assert snr_db(steady, 24000, 1000) >= 60
    assert len(session.received) / 2 / 24000 > 0.98
    await comm.disconnect()
