"""The OpenAI session controls an operator sets on an agent, through the real consumer and the
Realtime stand-in: what the session is told, and what the caller then hears."""

from __future__ import annotations

import pytest_asyncio

from streaming.core.call.time_limits import Limits
from streaming.devtools.fake_realtime import Options, Voice
from streaming.devtools.signals import active_span, dominant_hz, samples
from tests.bridge_helpers import (
    THROUGH_THE_CONSUMER,
    bridge_ended,
    bridge_events,
    collect,
    communicator,
    get_call,
    start_call,
    wait_for,
    with_limits,
)

pytestmark = THROUGH_THE_CONSUMER


@pytest_asyncio.fixture
async def fake(fake_realtime):
    return await fake_realtime(Options(voice=Voice(tones=[(440.0, 0.3)], duration_ms=1500)))


async def session_update(fake, **agent_fields) -> dict:
    comm = communicator(await start_call(**agent_fields))
    await comm.connect()
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    [update] = fake.sessions[0].updates
    assert fake.sessions[0].errors == []  # the stand-in refuses what OpenAI would
    await comm.disconnect()
    return update


async def test_it_tells_the_session_each_control_the_agent_sets(fake):
    update = await session_update(
        fake,
        noise_reduction="far_field",
        transcription_language="sw",
        transcription_prompt="Dr Achieng, Kisumu",
        speaking_speed=0.9,
        longest_answer_seconds=10,
        idle_nudge_seconds=8,
    )
    listening, speaking = update["audio"]["input"], update["audio"]["output"]
    assert listening["noise_reduction"] == {"type": "far_field"}
    assert listening["transcription"] == {
        "model": "gpt-4o-mini-transcribe",
        "language": "sw",
        "prompt": "Dr Achieng, Kisumu",
    }
    assert listening["turn_detection"]["idle_timeout_ms"] == 8000
    assert speaking["speed"] == 0.9
    assert update["max_output_tokens"] == 240  # about 24 output tokens a second of speech


async def test_controls_left_at_their_defaults_are_not_sent(fake):
    update = await session_update(fake)
    listening, speaking = update["audio"]["input"], update["audio"]["output"]
    assert "noise_reduction" not in listening
    assert listening["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert "idle_timeout_ms" not in listening["turn_detection"]
    assert "speed" not in speaking
    assert "max_output_tokens" not in update


async def test_a_faster_voice_is_heard_for_less_time_at_the_same_pitch(fake):
    comm = communicator(await start_call(greeting="Say hello.", speaking_speed=1.5))
    await comm.connect()
    audio, _, _ = await collect(comm, seconds=5)
    x = samples(audio)
    start, end = active_span(x)
    assert abs((end - start) / 16 - 1000) <= 20  # 1500 ms of speech at 1.5 times the pace
    assert abs(dominant_hz(x[start + 1600 : end - 1600], 16000) - 440) < 3
    await comm.disconnect()


async def test_the_longest_answer_cuts_an_answer_short(fake):
    comm = communicator(await start_call(greeting="Say hello.", longest_answer_seconds=1))
    await comm.connect()
    audio, _, _ = await collect(comm, seconds=5)
    start, end = active_span(samples(audio))
    assert abs((end - start) / 16 - 1000) <= 20
    assert fake.sessions[0].responses[0]["status_details"]["reason"] == "max_output_tokens"
    # The cut answer is kept on the call's record, as every unusual response is.
    assert await wait_for(recorded("response.done"))
    await comm.disconnect()


def recorded(kind: str):
    async def among_the_calls_events() -> bool:
        return kind in [k for k, _ in await bridge_events()]

    return among_the_calls_events


async def test_a_quiet_caller_is_nudged_and_a_forgotten_phone_still_hung_up(fake, monkeypatch):
    fake.options.voice = Voice(tones=[(440.0, 0.3)], duration_ms=300)
    with_limits(monkeypatch, Limits(max_call_s=60, silence_timeout_s=3))
    comm = communicator(await start_call(greeting="Say hello.", idle_nudge_seconds=1))
    await comm.connect()
    _, texts, _ = await collect(comm, seconds=8, stop_after_quiet=7)
    assert texts[-1]["type"] == "closed"
    session = fake.sessions[0]
    assert session.idle_timeouts >= 1  # it spoke to the silence...
    assert len(session.responses) >= 2
    assert await wait_for(bridge_ended)  # the end is stored after the socket closes
    call = await get_call()
    assert call.end_reason.startswith("silence timeout")  # ...which still ended the call
    assert await wait_for(recorded("idle nudge"))
