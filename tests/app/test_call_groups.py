"""One call's status callbacks never reach another call: each call id has a group of its own,
and a bridge acts only on messages that name its own call."""

from __future__ import annotations

import asyncio
import hashlib
from functools import partial

import pytest
import pytest_asyncio
from channels.layers import get_channel_layer

from streaming.devtools.fake_realtime import Options, Voice
from streaming.groups import call_group
from tests.bridge_helpers import (
    THROUGH_THE_CONSUMER,
    bridge_ended,
    communicator,
    get_call,
    start_call,
    wait_for,
)

VICTIM = "victim:call-42"  # has a ':', so its group name is a hash


def spelled_as_a_hash(call_id: str) -> str:
    """The ordinary id that main hashed `call_id`'s group name from."""
    return "h" + hashlib.sha256(call_id.encode()).hexdigest()[:40]


@pytest.mark.parametrize(
    "call_id", [VICTIM, "a" * 81, "HD_1", "call.1", "x" * 80, "ünï", "a b"]
)  # fmt: skip
def test_it_gives_no_other_id_the_same_group(call_id):
    others = {spelled_as_a_hash(call_id), call_id + "_", call_id.upper(), "h" + call_id}
    assert all(call_group(other) != call_group(call_id) for other in others - {call_id})


def test_it_names_groups_as_channels_allows():
    for call_id in [VICTIM, "a" * 500, "HD_1", "ATVId_5f0c2b1e9a7d4c3b8e21", "ünï\n"]:
        name = call_group(call_id)
        assert len(name) < 100 and name.isascii()
        assert all(c.isalnum() or c in "-_." for c in name)


@pytest_asyncio.fixture
async def fake(fake_realtime):
    return await fake_realtime(Options(voice=Voice(duration_ms=300)))


def through_the_consumer(test):
    for mark in THROUGH_THE_CONSUMER:
        test = mark(test)
    return test


@through_the_consumer
async def test_it_ignores_a_message_for_another_call_in_its_group(fake):
    comm = communicator(await start_call(VICTIM))
    assert (await comm.connect())[0]
    assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
    layer = get_channel_layer()
    # A stopped stream for another id, sent straight to the victim's group.
    for other in (spelled_as_a_hash(VICTIM), "someone-else"):
        await layer.group_send(call_group(VICTIM), {"type": "stream.status", "call_id": other,
                                                    "state": "StreamStopped"})  # fmt: skip
        await layer.group_send(call_group(VICTIM), {"type": "call.ended", "call_id": other,
                                                    "kind": "call.completed"})  # fmt: skip
    await asyncio.sleep(0.3)
    assert (await get_call(VICTIM)).bridge_ended_at is None
    # Its own still ends it.
    await layer.group_send(call_group(VICTIM), {"type": "stream.status", "call_id": VICTIM,
                                                "state": "StreamStopped"})  # fmt: skip
    assert await wait_for(partial(bridge_ended, VICTIM))
    await comm.disconnect()
