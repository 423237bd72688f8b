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


class Shape:
    """`make serve` with two workers on the test's PostgreSQL and Redis, and the fake Realtime."""

    def __init__(self, **env: str) -> None:
        Agent(name="Desk", phone_number=NUMBER, instructions="Help.").save()
        self.port, fake_port = free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.fake = subprocess.Popen(
            [sys.executable, "manage.py", "fake_realtime", "--port", str(fake_port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.server = serve(
            WORKERS="2", PORT=str(self.port), DATABASE_URL=database_url(),
            REDIS_URL=settings.REDIS_URL, CHANNEL_LAYER_PREFIX=f"serve-{uuid.uuid4().hex[:8]}",
            OPENAI_API_KEY="sk-test", OPENAI_REALTIME_URL=f"ws://127.0.0.1:{fake_port}/v1/realtime",
            SAUTIKIT_SIGNING_SECRET="", PUBLIC_BASE_URL="",
            DJANGO_SETTINGS_MODULE="voiceproject.settings", **env,
        )  # fmt: skip
        wait_port(self.port)
        wait_port(fake_port)

    def close(self) -> None:
        for process in (self.server, self.fake):
            if process.poll() is None:
                process.terminate()  # the launcher stops its workers
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def shape(transactional_db):
    assert connection.vendor == "postgresql"
    made: list[Shape] = []

    def start(**env: str) -> Shape:
        made.append(Shape(**env))
        return made[-1]

    yield start
    for s in made:
        s.close()


@needs_services
def test_two_workers_share_the_port_and_callbacks_reach_each_call(shape):
    server = shape()
    asyncio.run(status_callbacks_reach_each_worker(server.base_url))
    server.server.send_signal(signal.SIGTERM)
    assert server.server.wait(timeout=40) == 0  # every worker stopped with it


def test_workers_do_not_outlive_a_killed_launcher(tmp_path):
    server = serve(WORKERS="1", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3", REDIS_URL="",
                   PORT=str(free_port()))  # fmt: skip
    try:
        first_line = server.stdout.readline()  # "serving on … with 1 worker(s): <pid>"
        worker = int(first_line.rsplit(":", 1)[1])
    finally:
        server.kill()
        server.wait()
    assert wait_until(lambda: not alive(worker), timeout=20), "the worker outlived the launcher"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited: it only waits for its (new) parent to reap it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


@needs_services
def test_a_killed_workers_calls_are_marked_lost_and_the_worker_replaced(shape):
    server = shape(SERVER_HEARTBEAT_S="1", SERVER_LOST_AFTER_S="3")
    asyncio.run(kill_one_worker(server.base_url))
    # The launcher started another in its place: the port still answers.
    after = {"sessionId": "AFTER", "destinationNumber": NUMBER}
    status, _ = asyncio.run(post(f"{server.base_url}/sautikit/voice/", after, ""))
    assert status == 200


async def kill_one_worker(base_url: str) -> None:
    sockets, held = await calls_on_both_workers(base_url)
    try:
        victim, survivor = held.items()
        os.kill(int(victim[0].rsplit(":", 1)[1]), signal.SIGKILL)
        # Within the heartbeat and the lost-after time (a minute in production): failed.
        lost = await asyncio.to_thread(ended_call, victim[1], timeout=30)
        assert lost.status == "failed"
        assert lost.failure_reason == f"server lost: process {victim[0]} stopped answering"
        alive = await asyncio.to_thread(ended_call, survivor[1], timeout=0.5)
        assert alive.bridge_ended_at is None and alive.status != "failed"
    finally:
        for ws in sockets.values():
            await ws.close()


async def calls_on_both_workers(base_url: str) -> tuple[dict, dict[str, str]]:
    """Open calls until each of the two workers holds one: (sockets, process -> call id)."""
    sockets: dict[str, websockets.ClientConnection] = {}
    held: dict[str, str] = {}
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
            return sockets, held
    raise AssertionError(f"all calls went to one worker: {held}")


async def status_callbacks_reach_each_worker(base_url: str) -> None:
    sockets, held = await calls_on_both_workers(base_url)
    try:
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
    return ended_call(call_id).end_reason


def ended_call(call_id: str, timeout: float = 10) -> Call:
    """The call once its bridge has ended (or as it is after `timeout`)."""
    try:
        wait_until(lambda: Call.objects.get(call_id=call_id).bridge_ended_at is not None, timeout)
        return Call.objects.get(call_id=call_id)
    finally:
        connection.close()
