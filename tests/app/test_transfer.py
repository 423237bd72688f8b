"""The transfer_call tool through the real consumer: the stream ends and Sautikit is told to
dial the agent's transfer number, once.

How the ending is chosen: tests/unit/test_transfer.py; the fallback number when OpenAI
fails: tests/server/test_no_dead_air.py; calls handed over at the drain limit:
tests/server/test_drain.py."""

from __future__ import annotations

import pytest_asyncio
from channels.db import database_sync_to_async
from django.test import Client

from calls.models import Status
from streaming.core.call.endings import EndedBy
from streaming.devtools.fake_realtime import Options, Voice
from tests.bridge_helpers import (
    THROUGH_THE_CONSUMER,
    bridge_ended,
    collect,
    communicator,
    get_call,
    speak,
    start_call,
    wait_for,
)
from tests.helpers import DEMO_NUMBER, post_form

pytestmark = THROUGH_THE_CONSUMER


@pytest_asyncio.fixture
async def fake(fake_realtime):
    return await fake_realtime(Options(voice=Voice(duration_ms=600)))


async def test_a_transfer_ends_the_stream_and_dials_the_number(fake):
    fake.options.tool_calls = {1: ("transfer_call", {"reason": "wants a nurse"})}
    comm = communicator(await start_call(transfer_number="0722 000 111"))
    await comm.connect()
    await speak(comm)
    audio, texts, _ = await collect(comm, seconds=5, stop_after_quiet=1.5)
    assert len(audio) >= 2 * 16000 * 0.55  # "putting you through", heard in full
    assert texts[-1] == {"type": "closed", "code": 1000}
    assert await wait_for(bridge_ended)
    call = await get_call()
    assert call.transfer_to == "+254722000111"
    assert call.ended_by == EndedBy.AGENT
    # Not over: a person takes the call from here, and Sautikit's events will end it.
    assert call.status in {Status.CONNECTING, Status.IN_PROGRESS}
    # Sautikit asks the voice URL what next; it gets the <Dial>, once.
    first, again = await _reinvoke(), await _reinvoke()
    assert '<Dial phoneNumbers="+254722000111" />' in first
    assert "<Dial" not in again


@database_sync_to_async
def _reinvoke() -> str:
    response = post_form(
        Client(),
        "/sautikit/voice/",
        {"sessionId": "call-1", "destinationNumber": DEMO_NUMBER, "isActive": "1",
         "callSessionState": "StreamStopped"},
    )  # fmt: skip
    assert response.status_code == 200
    return response.content.decode()
