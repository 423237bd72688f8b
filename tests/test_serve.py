"""`make serve`: several daphne workers on one port, a call in whichever accepted it, Sautikit's
callbacks reaching it through Redis from any worker. Whole-server: real processes throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import websockets
from django.conf import settings
from django.db import connection

from agents.models import Agent
from bench.calls import free_port, wait_port
from calls.models import Call
from streaming.simulator import SUBPROTOCOL, post
from tests.live_stack import database_url, wait_until

ROOT = Path(__file__).resolve().parent.parent
NUMBER = "+254711000700"


def serve(**env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "voiceproject.serve"],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_it_refuses_several_workers_without_postgresql_and_redis(tmp_path):
    server = serve(WORKERS="2", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3", REDIS_URL="",
                   PORT=str(free_port()))  # fmt: skip
    _, err = server.communicate(timeout=60)
    assert server.returncode == 2
    assert "2 workers need PostgreSQL and Redis" in err
    assert "DATABASE_URL must point at PostgreSQL" in err
    assert "REDIS_URL must be set" in err


needs_services = pytest.mark.skipif(
    not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL: make test's second pass",
)


@needs_services
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_port_and_callbacks_reach_each_call():
    assert connection.vendor == "postgresql"
    Agent(name="Desk", phone_number=NUMBER, instructions="Help.").save()
    port, fake_port = free_port(), free_port()
    fake = subprocess.Popen(
        [sys.executable, "manage.py", "fake_realtime", "--port", str(fake_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = serve(
        WORKERS="2", PORT=str(port), DATABASE_URL=database_url(), REDIS_URL=settings.REDIS_URL,
        CHANNEL_LAYER_PREFIX=f"serve-test-{uuid.uuid4().hex[:8]}", OPENAI_API_KEY="sk-test",
        OPENAI_REALTIME_URL=f"ws://127.0.0.1:{fake_port}/v1/realtime", SAUTIKIT_SIGNING_SECRET="",
        PUBLIC_BASE_URL="", DJANGO_SETTINGS_MODULE="voiceproject.settings",
    )  # fmt: skip
    try:
        wait_port(port)
        wait_port(fake_port)
        asyncio.run(two_calls_on_two_workers(f"http://127.0.0.1:{port}"))
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0  # every worker stopped with it
    finally:
        for process in (server, fake):
            if process.poll() is None:
                process.kill()
                process.wait()


async def two_calls_on_two_workers(base_url: str) -> None:
    sockets: dict[str, websockets.ClientConnection] = {}
    held: dict[str, str] = {}  # process -> call id
    try:
        # Which worker accepts a socket is the kernel's choice: call until both hold one.
        for i in range(20):
            call_id = f"SERVE_{i}"
            fields = {"sessionId": call_id, "callerNumber": f"+2547001000{i:02d}",
                      "destinationNumber": NUMBER, "isActive": "1"}  # fmt: skip
            status, body = await post(f"{base_url}/sautikit/voice/", fields, "")
            assert status == 200, body
            url = body.decode().split('url="')[1].split('"')[0].replace("&amp;", "&")
            sockets[call_id] = await websockets.connect(url, subprotocols=[SUBPROTOCOL])
            process = await asyncio.to_thread(bridge_process, call_id)
            held.setdefault(process, call_id)
            if len(held) == 2:
                break
        assert len(held) == 2, f"all calls went to one worker: {held}"
        # Sautikit's stream status for each lands on any worker; each must reach its own call.
        for call_id in held.values():
            fields = {"sessionId": call_id, "callSessionState": "StreamStopped"}
            status, _ = await post(f"{base_url}/sautikit/stream-status/", fields, "")
            assert status == 200
        for call_id in held.values():
            ws = sockets[call_id]
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == 1000
            assert await asyncio.to_thread(end_reason, call_id) == "Sautikit: StreamStopped"
    finally:
        for ws in sockets.values():
            await ws.close()


# These run in threads of their own: each closes its connection, or the test database could not
# be dropped at the end.


def bridge_process(call_id: str) -> str:
    try:
        assert wait_until(
            lambda: Call.objects.filter(call_id=call_id).exclude(bridge_process="").exists()
        )
        return Call.objects.get(call_id=call_id).bridge_process
    finally:
        connection.close()


def end_reason(call_id: str) -> str:
    try:
        assert wait_until(lambda: Call.objects.get(call_id=call_id).bridge_ended_at is not None)
        return Call.objects.get(call_id=call_id).end_reason
    finally:
        connection.close()
