"""Limits against burning credits at the stream socket of a real daphne process: a call over its
limit is refused there too. The limits themselves: tests/app/test_limits.py."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest
import websockets

from agents.models import Agent
from calls.models import BlockedNumber, Call, Status
from streaming.core.call.stream_protocol import SUBPROTOCOL
from streaming.devtools.simulator import post
from tests.live_stack import start_stack

CALLER = "+254700000001"


@pytest.mark.django_db(transaction=True)
def test_the_stream_socket_refuses_a_call_over_its_limit(transactional_db):
    """A stream URL handed out before the number was blocked opens nothing once it is."""
    Agent(name="Desk", phone_number="+254711000500", instructions="Help.").save()
    stack = start_stack(env={}, fake_args=[])
    try:
        fields = {"sessionId": "S1", "callerNumber": CALLER, "destinationNumber": "+254711000500",
                  "isActive": "1"}  # fmt: skip
        status, body = asyncio.run(post(f"{stack.base_url}/sautikit/voice/", fields, ""))
        assert status == 200
        url = ET.fromstring(body).find("Stream").get("url")
        BlockedNumber.objects.create(number=CALLER)
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(open_stream(url))
    finally:
        stack.stop()
        stack.tmp.cleanup()
    assert refused.value.response.status_code == 403
    call = Call.objects.get(call_id="S1")
    assert call.status == Status.REJECTED
    assert call.bridge_started_at is None
    assert call.end_reason == f"refused: {CALLER} is blocked"
    assert call.events.filter(kind="stream.refused").exists()


async def open_stream(url: str) -> None:
    async with websockets.connect(url, subprotocols=[SUBPROTOCOL]):
        pass
