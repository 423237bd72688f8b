from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from calls.models import Call, Status
from streaming.groups import call_group
from tests.helpers import load, post_form, post_json

URL = "/sautikit/stream-status/"
CALL_ID = "ATVId_5f0c2b1e9a7d4c3b8e21"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def call(client, agent) -> Call:
    post_form(client, "/sautikit/voice/", load("voice_incoming"))
    return Call.objects.get(call_id=CALL_ID)


def listen(group: str) -> tuple[str, object]:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel, layer


def receive(layer, channel: str) -> dict:
    async def get() -> dict:
        import asyncio

        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    return async_to_sync(get)()


def test_it_records_stream_started(client, call):
    response = post_json(client, URL, load("stream_started"))
    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == Status.IN_PROGRESS
    assert call.stream_sid == "MZ7a9d2c41e0b84f6f"
    assert call.stream_started_at is not None
    assert call.session_state == "StreamStarted"
    event = call.events.get(source="stream_status")
    assert event.kind == "StreamStarted"
    assert event.payload == load("stream_started")


def test_it_records_stream_stopped_and_errors(client, call):
    post_form(client, URL, load("stream_started"))
    post_form(client, URL, load("stream_error"))
    call.refresh_from_db()
    assert call.stream_stopped_at is not None
    assert "websocket connection refused" in call.stream_error
    assert [e.kind for e in call.events.filter(source="stream_status")] == [
        "StreamStarted",
        "StreamError",
    ]


def test_it_understands_stream_event_without_session_state(client, call):
    response = post_form(client, URL, {"sessionId": CALL_ID, "streamEvent": "stream-stopped"})
    assert response.status_code == 200
    call.refresh_from_db()
    assert call.session_state == "StreamStopped"
    assert call.stream_stopped_at is not None


@pytest.mark.parametrize("name", ["stream_stopped", "stream_error"])
def test_it_tells_the_live_bridge(client, call, name):
    channel, layer = listen(call_group(CALL_ID))
    post_form(client, URL, load(name))
    message = receive(layer, channel)
    assert message["type"] == "stream.status"
    assert message["call_id"] == CALL_ID
    assert message["state"] == load(name)["callSessionState"]
    assert message["stream_sid"] == "MZ7a9d2c41e0b84f6f"


def test_it_tells_the_bridge_of_stream_stopped_sent_to_the_voice_url(client, call):
    channel, layer = listen(call_group(CALL_ID))
    post_form(
        client, "/sautikit/voice/", {**load("voice_incoming"), "callSessionState": "StreamStopped"}
    )
    message = receive(layer, channel)
    assert message["state"] == "StreamStopped"


def test_it_keeps_a_status_callback_that_comes_before_the_voice_callback(client, agent):
    response = post_form(client, URL, load("stream_started"))
    assert response.status_code == 202
    assert b"not seen yet" in response.content
    early = Call.objects.get(call_id=CALL_ID)
    assert early.agent is None
    assert early.events.count() == 1

    voice = post_form(client, "/sautikit/voice/", load("voice_incoming"))
    # Sautikit already says a stream runs for this call: do not fork another.
    assert b"<Stream" not in voice.content
    call = Call.objects.get(call_id=CALL_ID)
    assert call.agent == agent
    assert call.agent_revision == agent.current_revision
    assert call.caller_number == "+254700000001"
    assert [e.kind for e in call.events.all()] == ["StreamStarted", "incoming"]


def test_it_ignores_repeats_with_the_same_delivery_id(client, call):
    for _ in range(2):
        response = post_form(client, URL, load("stream_started"), HTTP_X_SAUTIKIT_EVENT_ID="d-1")
        assert response.status_code == 200
    assert call.events.filter(source="stream_status").count() == 1
