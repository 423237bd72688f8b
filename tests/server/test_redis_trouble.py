"""Redis restarted or stalled under a live call, through a real daphne process on a Redis of the
test's own: the call still hears that Sautikit ended it, and webhooks do not wait for Redis."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
import websockets

from agents.models import Agent
from calls.models import Call
from streaming.devtools.servers import Servers, free_port, wait_port
from streaming.devtools.simulator import post
from tests.live_stack import open_stream, start_stack, wait_until

REDIS_SERVER = shutil.which("redis-server")
NUMBER = "+254711000500"
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (CI has it)")


class OwnRedis:
    """A Redis for one test, which it may restart or freeze without touching anyone else's."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._start()

    def _start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_port(self.port)

    def restart(self) -> None:
        """As a Redis restart loses everything: it keeps nothing on disk."""
        self.process.terminate()
        self.process.wait(timeout=10)
        self._start()

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)  # connections stay open, nothing answers

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.thaw()
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def redis() -> Iterator[OwnRedis]:
    own = OwnRedis()
    yield own
    own.stop()


def stack_on(redis: OwnRedis, **env: str) -> Servers:
    Agent(name="Desk", phone_number=NUMBER, instructions="Help.").save()
    return start_stack(env={"REDIS_URL": redis.url, **env}, fake_args=[])


def run_on(stack: Servers, scenario: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(scenario)
    finally:
        stack.stop()
        stack.tmp.cleanup()


async def open_call(stack: Servers, call_id: str) -> websockets.ClientConnection:
    ws = await open_stream(stack.base_url, {"sessionId": call_id, "destinationNumber": NUMBER})
    assert await asyncio.to_thread(
        wait_until, lambda: Call.objects.get(call_id=call_id).bridge_started_at is not None
    )
    return ws


async def closed_within(ws: websockets.ClientConnection, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed:
        return True
    except TimeoutError:
        return False


def stream_stopped(call_id: str) -> dict[str, str]:
    return {"sessionId": call_id, "callSessionState": "StreamStopped", "streamSid": "MZ1"}


@pytest.mark.django_db(transaction=True)
def test_it_hears_its_status_callbacks_after_redis_restarts(redis):
    # No heartbeat here: this is the call joining its group again, on its own.
    stack = stack_on(redis, SERVER_HEARTBEAT_S="0", CHANNEL_GROUP_RENEW_S="1")
    run_on(stack, restart_then_stop(stack, redis))
    call = Call.objects.get(call_id="RESTART_1")
    assert call.end_reason == "Sautikit: StreamStopped"


async def restart_then_stop(stack: Servers, redis: OwnRedis) -> None:
    ws = await open_call(stack, "RESTART_1")
    await asyncio.to_thread(redis.restart)
    await asyncio.sleep(3)  # a renewal or two (CHANNEL_GROUP_RENEW_S=1)
    status, _ = await post(f"{stack.base_url}/sautikit/stream-status/",
                           stream_stopped("RESTART_1"), "")  # fmt: skip
    assert status == 200
    assert await closed_within(ws, 10), "the bridge never heard the stream stop"


@pytest.mark.django_db(transaction=True)
def test_it_answers_webhooks_and_ends_the_call_while_redis_is_frozen(redis):
    stack = stack_on(redis, SERVER_HEARTBEAT_S="1", CHANNEL_GROUP_RENEW_S="3600")
    run_on(stack, freeze_then_stop(stack, redis))
    assert Call.objects.get(call_id="FROZEN_1").end_reason == "Sautikit: StreamStopped"


async def freeze_then_stop(stack: Servers, redis: OwnRedis) -> None:
    ws = await open_call(stack, "FROZEN_1")
    redis.freeze()
    # Whatever happens, Redis answers again after this long: the test proves what is done
    # before then.
    thawed = threading.Event()
    watchdog = threading.Timer(12, lambda: (thawed.set(), redis.thaw()))
    watchdog.start()
    try:
        started = time.monotonic()
        status, _ = await post(f"{stack.base_url}/sautikit/stream-status/",
                               stream_stopped("FROZEN_1"), "")  # fmt: skip
        answered_after = time.monotonic() - started
        assert status == 200
        assert not thawed.is_set(), f"the webhook waited for Redis ({answered_after:.1f} s)"
        # The database said so: the process's heartbeat ends the bridge, Redis or not.
        assert await closed_within(ws, 8), "the bridge ran on while Redis was frozen"
        assert not thawed.is_set()
    finally:
        watchdog.cancel()
        redis.thaw()
