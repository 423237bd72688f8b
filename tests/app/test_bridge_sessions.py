"""Who may open a stream and every way a call ends, through the real consumer (barge-in:
tests/app/test_barge_in.py; the transfer tool: tests/app/test_transfer.py)."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from channels.layers import get_channel_layer

from calls.models import Status
from streaming import consumer as consumer_module
from streaming.consumer import CLOSE_UPSTREAM_FAILED
from streaming.core.call import time_limits as limits_module
from streaming.core.call.time_limits import Limits
from streaming.devtools.fake_realtime import Options, Voice
from streaming.devtools.signals import samples
from streaming.groups import call_group
from tests.bridge_helpers import (
    THROUGH_THE_CONSUMER,
    bridge_ended,
    bridge_events,
    call_turns,
    collect,
    communicator,
    get_call,
    post_voice,
    start_call,
    wait_for,
    with_limits,
)

pytestmark = THROUGH_THE_CONSUMER


@pytest_asyncio.fixture
async def fake(fake_realtime):
    return await fake_realtime(Options(voice=Voice(duration_ms=1500)))


async def test_it_accepts_the_drachtio_subprotocol(fake):
    comm = communicator(await start_call())
    connected, subprotocol = await comm.connect()
    assert connected
    assert subprotocol == "audio.drachtio.org"
    assert (await get_call()).bridge_started_at is not None
    await comm.disconnect()


@pytest.mark.parametrize("offered", [[], ["audio.other.org"]])
async def test_it_refuses_a_client_without_the_subprotocol(fake, offered):
    comm = communicator(await start_call(), subprotocols=offered)
    connected, _ = await comm.connect()
    assert not connected
    await asyncio.sleep(0.05)
    assert fake.sessions == []


async def test_it_refuses_bad_tokens_without_opening_upstream(fake):
    path = await start_call()
    base, token = path.split("?token=")
    for bad in (f"{base}?token={token[:-2]}xx", f"{base}?token=", base):
        comm = communicator(bad)
        connected, _ = await comm.connect()
        assert not connected, bad
    other = communicator(path.replace("/call-1/", "/call-2/"))
    assert not (await other.connect())[0]
    await asyncio.sleep(0.05)
    assert fake.sessions == []
    assert (await get_call()).bridge_started_at is None


async def test_it_refuses_an_expired_token(fake, settings):
    path = await start_call()
    settings.STREAM_TOKEN_MAX_AGE = 0
    await asyncio.sleep(1.1)
    comm = communicator(path)
    assert not (await comm.connect())[0]
    assert fake.sessions == []


async def test_it_refuses_a_second_bridge_for_one_call(fake):
    path = await start_call()
    first = communicator(path)
    assert (await first.connect())[0]
    second = communicator(path)
    assert not (await second.connect())[0]
    await asyncio.sleep(0.1)
    assert len(fake.sessions) == 1
    await first.disconnect()


async def test_it_refuses_a_call_that_is_already_over(fake):
    path = await start_call()
    await post_voice({"sessionId": "call-1", "isActive": "0", "callSessionState": "Completed"})
    # The token is still within its lifetime, but the call is over: no bridge, no OpenAI session.
    assert not (await communicator(path).connect())[0]
    await asyncio.sleep(0.1)
    assert fake.sessions == []
    assert (await get_call()).bridge_started_at is None


async def test_it_ends_the_bridge_when_sautikit_says_the_call_is_over(fake):
    comm = communicator(await start_call())
    await comm.connect()
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    await post_voice({"sessionId": "call-1", "isActive": "0", "callSessionState": "Completed"})
    _, texts, _ = await collect(comm, seconds=3, stop_after_quiet=2)
    assert texts[-1] == {"type": "closed", "code": 1000}
    assert await wait_for(bridge_ended)
    assert (await get_call()).end_reason == "Sautikit: Completed"
    # OpenAI's session is not left running (and billed) for a call that is over.
    assert await wait_for(lambda: fake.sessions[0].ws.close_code is not None)


async def test_it_records_a_caller_hangup(fake):
    comm = communicator(await start_call())
    await comm.connect()
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    await comm.disconnect()
    call = await get_call()
    assert call.end_reason == "caller hung up"
    assert call.status == Status.COMPLETED
    assert call.bridge_ended_at is not None
    # OpenAI's side is closed too.
    assert await wait_for(lambda: fake.sessions[0].ws.close_code is not None)


@pytest.mark.parametrize("state", ["StreamStopped", "StreamError", "STREAM_STOPPED"])
async def test_it_ends_on_stream_status_from_the_channel_layer(fake, state):
    comm = communicator(await start_call())
    await comm.connect()
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    await get_channel_layer().group_send(
        call_group("call-1"), {"type": "stream.status", "call_id": "call-1", "state": state}
    )
    _, texts, _ = await collect(comm, seconds=3, stop_after_quiet=2)
    assert texts[-1]["type"] == "closed"
    assert await wait_for(bridge_ended)
    assert (await get_call()).end_reason == f"Sautikit: {state}"
    assert await wait_for(lambda: fake.sessions[0].ws.close_code is not None)


async def test_it_ends_at_openais_60_minute_close(fake, monkeypatch):
    # OpenAI's clock runs a little ahead of ours: its close comes just before our own limit.
    monkeypatch.setattr(limits_module, "OPENAI_SESSION_LIMIT_S", 1.2)
    monkeypatch.setattr(limits_module, "OPENAI_LIMIT_SLACK_S", 0.5)
    fake.options.max_session_s = 0.9
    comm = communicator(await start_call())
    await comm.connect()
    _, texts, _ = await collect(comm, seconds=3, stop_after_quiet=2)
    assert texts[-1] == {"type": "closed", "code": 1000}
    assert await wait_for(bridge_ended)
    call = await get_call()
    assert call.end_reason == "OpenAI ended the session (60-minute limit)"
    assert call.status == Status.COMPLETED
    assert call.ended_by == "limit"


async def test_it_fails_the_call_when_openai_goes_away_early(fake):
    fake.options.max_session_s = 0.5  # a 1001 long before the hour: OpenAI went away
    comm = communicator(await start_call())
    await comm.connect()
    _, texts, _ = await collect(comm, seconds=3, stop_after_quiet=2)
    assert texts[-1] == {"type": "closed", "code": CLOSE_UPSTREAM_FAILED}
    assert await wait_for(bridge_ended)
    call = await get_call()
    assert call.status == Status.FAILED
    assert "code 1001" in call.failure_reason


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (Limits(max_call_s=0.6, silence_timeout_s=60), "maximum call duration reached"),
        (Limits(max_call_s=60, silence_timeout_s=0.6), "silence timeout"),
    ],
)
async def test_it_ends_at_the_agent_limits(fake, monkeypatch, limits, reason):
    with_limits(monkeypatch, limits)
    comm = communicator(await start_call())
    await comm.connect()
    _, texts, _ = await collect(comm, seconds=4, stop_after_quiet=3)
    assert texts[-1]["type"] == "closed"
    assert await wait_for(bridge_ended)
    assert (await get_call()).end_reason.startswith(reason)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"api_key": "sk-the-right-one"}, "invalid_api_key"),
        ({"refuse_status": 503}, "HTTP 503"),
    ],
)
async def test_it_fails_the_call_when_openai_refuses(fake, options, error):
    for key, value in options.items():
        setattr(fake.options, key, value)
    comm = communicator(await start_call())
    connected, _ = await comm.connect()
    assert connected
    _, texts, _ = await collect(comm, seconds=3, stop_after_quiet=2)
    assert texts[-1] == {"type": "closed", "code": CLOSE_UPSTREAM_FAILED}
    assert await wait_for(bridge_ended)  # recorded after the caller's socket is closed
    call = await get_call()
    assert call.status == Status.FAILED
    assert error in call.failure_reason
    assert "OpenAI" in call.end_reason


async def test_it_fails_the_call_when_openai_is_unreachable(fake, settings):
    settings.OPENAI_REALTIME_URL = "ws://127.0.0.1:9/v1/realtime"
    comm = communicator(await start_call())
    await comm.connect()
    _, texts, _ = await collect(comm, seconds=3, stop_after_quiet=2)
    assert texts[-1]["type"] == "closed"
    assert await wait_for(bridge_ended)
    call = await get_call()
    assert call.status == Status.FAILED
    assert "unreachable" in call.failure_reason


async def test_it_refuses_the_beta_shape_like_openai(fake):
    # The fake is faithful: a beta-shaped session.update is refused with close 4000.
    from streaming.core.realtime.client import RealtimeClient

    client = RealtimeClient(fake.url, "k", "gpt-realtime")
    await client.connect()
    await client.send({"type": "session.update", "session": {"modalities": ["audio"]}})
    events = [event async for event in client.events()]
    assert events[-1]["error"]["code"] == "beta_api_shape_disabled"
    assert client.closed_how()[0] == 4000


async def test_it_records_transcripts_and_usage(fake):
    comm = communicator(await start_call(greeting="Hi."))
    await comm.connect()
    audio, _, _ = await collect(comm, seconds=4)
    assert samples(audio).size
    await comm.disconnect()

    async def has_usage() -> bool:
        return (await get_call()).tokens_output_audio > 0

    assert await wait_for(has_usage)
    call = await get_call()
    assert call.responses == 1
    assert call.openai_cost_usd > 0
    [turn] = await call_turns()
    assert (turn.role, turn.text) == ("agent", "Hi.")


async def test_it_records_openai_errors_and_goes_on(fake):
    fake.options.voice = Voice(duration_ms=400)
    comm = communicator(await start_call())
    await comm.connect()
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    session = fake.sessions[0]
    await session.error("rate_limit_exceeded", "Slow down.")
    await session.start_response({"instructions": "Still here."})
    audio, texts, _ = await collect(comm, seconds=3)
    assert len(audio) > 2 * 16000 * 0.3
    assert not any(t.get("type") == "closed" for t in texts)
    await comm.disconnect()
    errors = [p for kind, p in await bridge_events() if kind == "error"]
    assert errors[0]["error"]["code"] == "rate_limit_exceeded"
    assert (await get_call()).end_reason == "caller hung up"


async def test_a_call_goes_on_when_the_channel_layer_is_down(fake, monkeypatch):
    layer = get_channel_layer()

    async def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(layer, "group_add", down)
    monkeypatch.setattr(layer, "group_discard", down)
    fake.options.voice = Voice(duration_ms=300)
    comm = communicator(await start_call(greeting="Hi."))
    assert (await comm.connect())[0]
    audio, _, _ = await collect(comm, seconds=3)
    assert len(audio) > 0  # the greeting plays: the caller is not left in silence
    await comm.disconnect()
    assert (await get_call()).end_reason == "caller hung up"


async def test_a_call_outlives_a_failed_read_of_the_channel_layer(fake, monkeypatch):
    # Redis timing out (or dropping the connection) while the consumer waits for its next
    # status callback used to raise inside the consumer: the caller's socket was closed with
    # 1011. The call goes on, and the next callback still reaches it.
    monkeypatch.setattr(consumer_module, "LAYER_RETRY_S", 0.05)
    layer = get_channel_layer()
    receive = layer.receive
    failures = []

    async def flaky(channel):
        if not failures:
            failures.append(channel)
            raise TimeoutError("Timeout reading from 127.0.0.1:6379")
        return await receive(channel)

    monkeypatch.setattr(layer, "receive", flaky)
    comm = communicator(await start_call())
    await comm.connect()
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    assert await wait_for(lambda: failures)
    await asyncio.sleep(0.2)
    assert (await get_call()).bridge_ended_at is None
    await layer.group_send(
        call_group("call-1"),
        {"type": "stream.status", "call_id": "call-1", "state": "StreamStopped"},
    )
    _, texts, _ = await collect(comm, seconds=3, stop_after_quiet=2)
    assert texts[-1] == {"type": "closed", "code": 1000}
    assert await wait_for(bridge_ended)
    assert (await get_call()).end_reason == "Sautikit: StreamStopped"
