"""`make serve`: several daphne workers on one port, a call in whichever accepted it, Sautikit's
callbacks reaching it through Redis from any worker. Whole-server: real processes throughout."""

from __future__ import annotations

import asyncio
import os
import signal

from streaming.devtools.servers import free_port
from streaming.devtools.simulator import post
from tests.live_stack import SERVE_NUMBER as NUMBER
from tests.live_stack import (
    alive,
    calls_on_both_workers,
    end_reason,
    ended_call,
    needs_services,
    serve,
    wait_until,
)


def test_it_refuses_several_workers_without_postgresql_and_redis(tmp_path):
    server = serve(WORKERS="2", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3", REDIS_URL="",
                   PORT=str(free_port()))  # fmt: skip
    _, err = server.communicate(timeout=60)
    assert server.returncode == 2
    assert "2 workers need PostgreSQL and Redis" in err
    assert "DATABASE_URL must point at PostgreSQL" in err
    assert "REDIS_URL must be set" in err


@needs_services
def test_two_workers_share_the_port_and_callbacks_reach_each_call(shape):
    server = shape()
    asyncio.run(status_callbacks_reach_each_worker(server.base_url))
    server.server.send_signal(signal.SIGTERM)
    assert server.server.wait(timeout=40) == 0  # every worker stopped with it


def test_each_worker_sets_aside_what_it_loaded_at_start(shape):
    # Otherwise every full garbage collection walks all of Django again: a 65-240 ms pause in
    # every call's audio (make bench: the worst gap, the slowest first audio).
    server = shape(WORKERS="1")
    [worker] = server.workers()
    said = f"worker {worker}: set aside "
    assert wait_until(lambda: any(said in line for line in server.errors)), server.errors
    line = next(line for line in server.errors if said in line)
    assert int(line.removeprefix(said).split()[0]) > 50_000


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
