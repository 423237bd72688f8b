"""Calls of a server process that died are marked failed by another ("server lost"), with a
real daphne process: the README's curl call ends by itself. In-process:
tests/app/test_liveness.py."""

from __future__ import annotations

import asyncio

import pytest

from agents.models import Agent
from calls import liveness
from calls.models import Call, Status

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_a_server_ends_the_readmes_curl_call_by_itself():
    """Through a real daphne: the voice webhook answered, the stream never opened."""
    from streaming.devtools.simulator import post
    from tests.live_stack import start_stack, wait_until

    Agent(name="Desk", phone_number="+254711000910", instructions="Help.").save()
    stack = start_stack(env={"SERVER_HEARTBEAT_S": "1", "STREAM_TOKEN_MAX_AGE": "2"}, fake_args=[])
    try:
        fields = {"sessionId": "CURL_1", "destinationNumber": "+254711000910"}
        assert asyncio.run(post(f"{stack.base_url}/sautikit/voice/", fields, ""))[0] == 200

        def ended() -> bool:
            return Call.objects.get(call_id="CURL_1").status == Status.FAILED

        assert wait_until(ended, 20)
    finally:
        stack.stop()
        stack.tmp.cleanup()
    assert Call.objects.get(call_id="CURL_1").end_reason == liveness.NEVER_CONNECTED
