"""A status callback handled in one process reaches the live bridge listening in another.

Only Redis proves this: the in-memory layer cannot cross a process boundary, so
this runs when REDIS_URL is set (make test does so when Redis answers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from streaming.groups import call_group
from tests.helpers import load, post_form

ROOT = Path(__file__).resolve().parents[2]
CALL_ID = "ATVId_5f0c2b1e9a7d4c3b8e21"

LISTENER = """
import asyncio, json, sys, django
django.setup()
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(sys.argv[1], channel)
    print("ready", flush=True)
    message = await asyncio.wait_for(layer.receive(channel), timeout=20)
    print(json.dumps(message), flush=True)

asyncio.run(main())
"""

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (a real Redis)"),
]


def test_it_reaches_a_bridge_in_another_process(client, agent):
    post_form(client, "/sautikit/voice/", load("voice_incoming"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voiceproject.settings"}
    listener = subprocess.Popen(
        [sys.executable, "-c", LISTENER, call_group(CALL_ID)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout.readline().strip() == "ready", listener.stderr.read()
        response = post_form(client, "/sautikit/stream-status/", load("stream_stopped"))
        assert response.status_code == 200
        out, err = listener.communicate(timeout=20)
    finally:
        listener.kill()
    assert listener.returncode == 0, err
    message = json.loads(out.strip().splitlines()[-1])
    assert message["type"] == "stream.status"
    assert message["state"] == "StreamStopped"
    assert message["call_id"] == CALL_ID


PUBLISHER = """
import asyncio, sys, django
django.setup()
from channels.layers import get_channel_layer

asyncio.run(get_channel_layer().group_send(
    sys.argv[1], {"type": "stream.status", "call_id": sys.argv[2], "state": "StreamStopped"}
))
"""


@pytest.mark.asyncio
async def test_stream_stopped_from_another_process_closes_the_bridge(settings):
    import asyncio

    from streaming.devtools.fake_realtime import FakeRealtimeServer
    from tests.bridge_helpers import collect, communicator, get_call, start_call, wait_for

    fake = await FakeRealtimeServer().start()
    settings.OPENAI_REALTIME_URL = fake.url
    try:
        comm = communicator(await start_call("xproc-1"))
        assert (await comm.connect())[0]
        assert await wait_for(lambda: fake.sessions and fake.sessions[0].updates)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voiceproject.settings"}
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, call_group("xproc-1"), "xproc-1", cwd=ROOT, env=env
        )
        assert await publisher.wait() == 0
        _, texts, _ = await collect(comm, seconds=10, stop_after_quiet=5)
        assert texts[-1]["type"] == "closed"

        async def ended() -> bool:
            return (await get_call("xproc-1")).bridge_ended_at is not None

        assert await wait_for(ended)
        assert (await get_call("xproc-1")).end_reason == "Sautikit: StreamStopped"
    finally:
        await fake.stop()
