"""Driving the real stream consumer with Channels' WebsocketCommunicator and the fake Realtime."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from agents.models import Agent
from calls import stream_records as store
from calls.models import Call, Turn
from streaming.core.call.stream_protocol import SUBPROTOCOL
from streaming.core.call.time_limits import Limits
from streaming.devtools.signals import tone
from streaming.records import CallSetup
from tests.helpers import DEMO_NUMBER, post_form
from voiceproject.asgi import application

# What a test driving the consumer in-process needs: a database its threads share, an event
# loop whose clock skips the waits (streaming.devtools.virtual_time), and the calls it left
# open hung up afterwards (conftest.hang_up_leftovers).
THROUGH_THE_CONSUMER = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.virtual_time,
    pytest.mark.usefixtures("hang_up_leftovers"),
]


@database_sync_to_async
def start_call(call_id: str = "call-1", **agent_fields: Any) -> str:
    """Create the agent, play the voice webhook, and return the stream path with its token."""
    fields = {"name": "Clinic", "instructions": "Be brief.", "greeting": "", **agent_fields}
    agent = Agent.objects.for_number(DEMO_NUMBER)
    if agent is None:
        agent = Agent(phone_number=DEMO_NUMBER, **fields)
    for name, value in agent_fields.items():
        setattr(agent, name, value)
    agent.save()
    agent.publish("tests")  # as set up here: phone calls get it
    response = post_form(
        Client(), "/sautikit/voice/", {"sessionId": call_id, "destinationNumber": DEMO_NUMBER}
    )
    url = response.content.decode().split('url="')[1].split('"')[0]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@database_sync_to_async
def post_voice(fields: dict[str, Any]) -> int:
    """Sautikit calling the voice URL again (a lifecycle edge) for a call under way."""
    return post_form(Client(), "/sautikit/voice/", fields).status_code


@database_sync_to_async
def get_call(call_id: str = "call-1") -> Call:
    return Call.objects.get(call_id=call_id)


async def bridge_ended(call_id: str = "call-1") -> bool:
    """Whether the call's end is stored (that happens after its socket closes)."""
    return (await get_call(call_id)).bridge_ended_at is not None


def with_limits(monkeypatch: Any, limits: Limits) -> None:
    """Calls set up from now on run under `limits` instead of their agent's."""
    original = store.call_setup

    def setup_with_limits(*args: Any) -> CallSetup:
        return dataclasses.replace(original(*args), limits=limits)

    monkeypatch.setattr(store, "call_setup", setup_with_limits)


@database_sync_to_async
def bridge_events(call_id: str = "call-1") -> list[tuple[str, dict[str, Any]]]:
    call = Call.objects.get(call_id=call_id)
    return [(e.kind, e.payload) for e in call.events.filter(source="bridge").order_by("id")]


@database_sync_to_async
def call_turns(call_id: str = "call-1") -> list[Turn]:
    return list(Turn.objects.filter(call__call_id=call_id))


class Communicator(WebsocketCommunicator):
    """Waits for the consumer to finish on disconnect: it stores the end of the call then, and
    a test database torn down under those writes can deadlock (seen on PostgreSQL). Waits on
    the loop's clock."""

    async def disconnect(self, code: int = 1000, timeout: float = 10) -> None:
        await super().disconnect(code, timeout)

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        """asgiref's, timed on the loop's clock: its own reads time.monotonic() between sleeps,
        which under a VirtualTimeLoop lets the call run on for minutes while it waits."""
        if self.future.done():
            self.future.result()  # the consumer's error, if it failed
        arrived = await wait_for(lambda: not self.output_queue.empty(), timeout, interval)
        return not arrived and self.output_queue.empty()


_made: list[Communicator] = []


def communicator(
    path: str, subprotocols: list[str] | None = None, headers: list[tuple[bytes, bytes]] = ()
) -> Communicator:
    comm = Communicator(
        application,
        path,
        headers=list(headers),
        subprotocols=[SUBPROTOCOL] if subprotocols is None else subprotocols,
    )
    _made.append(comm)
    return comm


async def hang_up_all() -> None:
    """Hang up the calls a test left open and let their consumers finish."""
    while _made:
        comm = _made.pop()
        if not comm.future.done():
            with contextlib.suppress(Exception):
                await comm.disconnect()


async def collect(comm: WebsocketCommunicator, seconds: float, stop_after_quiet: float = 0.5):
    """Audio and text frames the caller receives, until `seconds` pass or it goes quiet."""
    audio = bytearray()
    texts: list[dict[str, Any]] = []
    times: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        # receive_output(timeout) would cancel the application on a timeout: peek first.
        if await comm.receive_nothing(timeout=stop_after_quiet, interval=0.005):
            if audio:
                break
            continue
        message = await comm.receive_output()
        if message["type"] == "websocket.close":
            texts.append({"type": "closed", "code": message.get("code")})
            break
        if message.get("bytes") is not None:
            audio += message["bytes"]
            times.append((loop.time(), len(audio)))
        elif message.get("text") is not None:
            texts.append(json.loads(message["text"]))
    return bytes(audio), texts, times


async def wait_for(predicate, timeout: float = 5.0, step: float = 0.02) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate() if asyncio.iscoroutinefunction(predicate) else predicate():
            return True
        await asyncio.sleep(step)
    return False


async def speak(comm, ms: int = 400) -> None:
    """The caller says something (a loud tone) and falls quiet long enough for the VAD."""
    talk = tone(300, ms, 16000, amp=0.5) + bytes(2 * 16000 * 700 // 1000)
    for i in range(0, len(talk), 640):
        await comm.send_to(bytes_data=talk[i : i + 640])
        await asyncio.sleep(0.02)
