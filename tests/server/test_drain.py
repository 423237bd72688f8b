"""Deploys drop no call: a server process told to stop lets its live calls finish, takes no new
ones, and ends only what outlasts the drain limit, cleanly and on the record. Whole-server:
`make serve`'s launcher and workers as real processes, calls from the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading

from django.db import connection, transaction

from agents.models import Agent
from agents.tools import Tool
from calls.models import Call, Turn
from streaming.devtools.simulator import CallReport, simulate_call
from tests.live_stack import SERVE_NUMBER as NUMBER
from tests.live_stack import (
    ToolEndpoint,
    alive,
    bridge_process,
    ended_call,
    http_get,
    needs_services,
    wait_until,
)

# About eleven seconds of conversation: long enough to restart a worker in the middle.
LONG = [(2.0, 1.2), (2.0, 1.0), (4.0, 0.0)]

# A call that would go on for a minute: only the drain limit ends it.
ENDLESS = [(2.0, 1.0), (60.0, 0.0)]


def place(base_url: str, call_id: str, plan: list[tuple[float, float]]) -> asyncio.Task[CallReport]:
    caller = f"+2547003{abs(hash(call_id)) % 100000:05d}"
    return asyncio.create_task(
        simulate_call(base_url, NUMBER, caller=caller, out=None, call_id=call_id, plan=plan)
    )


def streaming(call_id: str) -> str:
    """Wait until the call's stream is live (its metadata stored: the consumer is past its
    set-up); returns the process that holds it. A stop that lands during the set-up has a test
    of its own (test_it_serves_a_call_still_being_set_up_when_told_to_stop)."""
    try:
        live = Call.objects.filter(call_id=call_id, metadata__has_key="stream")
        assert wait_until(live.exists, 20)
        return Call.objects.get(call_id=call_id).bridge_process
    finally:
        connection.close()


async def stopping_said(server, worker: int) -> bool:
    """Whether the launcher said the worker is stopping (it drains from then on)."""
    said = f"worker {worker} is stopping"
    return await asyncio.to_thread(wait_until, lambda: any(said in x for x in server.lines))


def assert_completed(report: CallReport) -> None:
    assert not report.refused, report.refused
    assert report.turns >= 1, f"{report.call_id}: no answer heard"
    assert report.close_code is None, f"{report.call_id}: the server closed the stream"
    call = ended_call(report.call_id)
    assert call.status != "failed", call.failure_reason
    assert "server stopping" not in call.end_reason


def ready(base_url: str) -> int:
    return http_get(base_url, "/readyz")[0]


@needs_services
def test_it_restarts_a_worker_without_dropping_a_call(shape):
    server = shape()
    asyncio.run(restart_mid_call(server, whole=False))


@needs_services
def test_a_rolling_restart_of_every_worker_drops_no_call(shape):
    server = shape()
    asyncio.run(restart_mid_call(server, whole=True))


async def restart_mid_call(server, whole: bool) -> None:
    """Calls in progress; one worker told to stop (SIGTERM), or every worker replaced (SIGHUP
    to the launcher: a deploy); new calls placed meanwhile."""
    base, workers = server.base_url, server.workers()
    first = [place(base, f"ROLL_{i}", LONG) for i in range(4)]
    held = [await asyncio.to_thread(streaming, f"ROLL_{i}") for i in range(4)]
    if whole:
        stopping = workers
        server.server.send_signal(signal.SIGHUP)
    else:
        # The worker holding the most calls is restarted; the other keeps serving.
        victim = max(set(held), key=held.count)
        stopping = [int(victim.rsplit(":", 1)[1])]
        os.kill(stopping[0], signal.SIGTERM)
    for pid in stopping:
        assert await asyncio.to_thread(
            wait_until, lambda pid=pid: any(f"worker {pid} " in x for x in server.lines[1:])
        ), server.lines
    # New calls placed while they drain are answered, by the other worker or a replacement.
    later = [place(base, f"NEW_{i}", LONG) for i in range(3)]
    for report in await asyncio.gather(*first, *later):
        await asyncio.to_thread(assert_completed, report)
    for i in range(3):
        process = await asyncio.to_thread(bridge_process, f"NEW_{i}")
        assert int(process.rsplit(":", 1)[1]) not in stopping
    # Their calls done, the drained workers are gone; the launcher has its two.
    for pid in stopping:
        assert await asyncio.to_thread(wait_until, lambda pid=pid: not alive(pid), 20)
    assert server.server.poll() is None
    assert ready(base) == 200


def test_it_ends_calls_left_at_the_drain_limit_and_hands_them_over(shape):
    server = shape(WORKERS="1", DRAIN_LIMIT_S="2", fallback_to="+254722000999")
    report = asyncio.run(stop_during_an_endless_call(server))
    # The caller was not left on a dead line: the stream closed cleanly, at the limit, and
    # Sautikit's next question (answered by the replacement worker) got the hand-over.
    assert report.close_code == 1000
    assert report.transferred_to == "+254722000999"
    call = ended_call("ENDLESS")
    assert call.end_reason == (
        "server stopping: drain limit reached (2 s); handed over to +254722000999"
    )
    assert call.ended_by == "limit"
    assert call.transfer_to == "+254722000999"


async def stop_during_an_endless_call(server) -> CallReport:
    call = place(server.base_url, "ENDLESS", ENDLESS)
    await asyncio.to_thread(streaming, "ENDLESS")
    [worker] = server.workers()
    os.kill(worker, signal.SIGTERM)
    report = await call
    # At the drain limit: not at once, nor at the call's own end a minute in.
    assert report.server_closed_s is not None
    assert 1.9 < report.server_closed_s < 30, "\n".join(server.lines + server.errors)
    assert await asyncio.to_thread(wait_until, lambda: not alive(worker), 20)
    return report


def test_it_ends_its_calls_at_once_when_told_twice(shape):
    server = shape(WORKERS="1", DRAIN_LIMIT_S="600")
    asyncio.run(stop_twice(server))
    call = ended_call("TWICE")
    assert call.end_reason == "server stopping: ended at once (asked twice)"
    # Its replacement took over the port.
    assert ready(server.base_url) == 200


async def stop_twice(server) -> None:
    call = place(server.base_url, "TWICE", ENDLESS)
    await asyncio.to_thread(streaming, "TWICE")
    [worker] = server.workers()
    # Told directly, as a process manager would: it drains, and the launcher replaces it.
    os.kill(worker, signal.SIGTERM)
    assert await stopping_said(server, worker), server.lines
    await asyncio.sleep(1)
    assert alive(worker), "it dropped its call instead of draining"
    os.kill(worker, signal.SIGTERM)
    report = await call
    assert report.close_code == 1000
    assert await asyncio.to_thread(wait_until, lambda: not alive(worker), 20)


@needs_services
def test_it_serves_a_call_still_being_set_up_when_told_to_stop(shape):
    server = shape(WORKERS="1")
    report = asyncio.run(stop_during_set_up(server))
    assert_completed(report)


async def stop_during_set_up(server) -> CallReport:
    """The stop lands while the call's socket is being set up: its claim waits on a row lock
    this test holds, as it would on a busy database."""
    held, release = threading.Event(), threading.Event()

    async def hold() -> None:
        threading.Thread(target=lock_call, args=("SETUP", held, release), daemon=True).start()
        assert await asyncio.to_thread(held.wait, 10)

    call = asyncio.create_task(simulate_call(
        server.base_url, NUMBER, caller="+254700399001", out=None, call_id="SETUP", plan=LONG,
        before_stream=hold,
    ))  # fmt: skip
    try:
        assert await asyncio.to_thread(wait_until, claim_waiting, 20)
        [worker] = server.workers()
        os.kill(worker, signal.SIGTERM)
        assert await stopping_said(server, worker), server.lines
        await asyncio.sleep(0.5)
    finally:
        release.set()  # well within daphne's handshake deadline (5 s)
    report = await call
    assert await asyncio.to_thread(wait_until, lambda: not alive(worker), 20)
    process = await asyncio.to_thread(bridge_process, "SETUP")
    assert int(process.rsplit(":", 1)[1]) == worker
    return report


def lock_call(call_id: str, held: threading.Event, release: threading.Event) -> None:
    try:
        with transaction.atomic():
            Call.objects.select_for_update().get(call_id=call_id)
            held.set()
            release.wait(30)
    finally:
        connection.close()


def claim_waiting() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            return cursor.fetchone()[0] > 0
    finally:
        connection.close()


TOOL_SECRET = "tool-secret-for-the-restart"

TOOL_ANSWER = {"booking": "Tuesday 10:00"}


@needs_services
def test_a_rolling_restart_during_a_tool_call_loses_nothing(shape):
    """A deploy lands while the agent waits on a custom tool: the call stays on its draining
    worker, the tool's answer reaches the model, the call ends as it would have."""
    asked, answer = threading.Event(), threading.Event()

    def held(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        asked.set()
        answer.wait(4)  # under the tool's deadline (5 s)
        return 200, json.dumps(TOOL_ANSWER).encode()

    endpoint = ToolEndpoint(held)
    try:
        server = shape(fake_args=("--tool-call", '1:look_up_booking:{"phone": "+254700000001"}'),
                       TOOL_ALLOW_LOOPBACK="1", TOOL_SIGNING_SECRET=TOOL_SECRET)  # fmt: skip
        desk = Agent.objects.get(phone_number=NUMBER)
        Tool.objects.create(agent=desk, name="look_up_booking", description="Finds a booking.",
                            parameters={"type": "object", "properties": {}},
                            endpoint=endpoint.url)  # fmt: skip
        desk.publish("tests")
        connection.close()
        asyncio.run(restart_during_the_tool(server, asked, answer))
    finally:
        answer.set()
        endpoint.close()


async def restart_during_the_tool(server, asked: threading.Event, answer: threading.Event) -> None:
    workers = server.workers()
    call = place(server.base_url, "TOOL_ROLL", LONG)
    assert await asyncio.to_thread(asked.wait, 20), "the tool was never called"
    server.server.send_signal(signal.SIGHUP)  # a deploy: every worker replaced
    for pid in workers:
        assert await asyncio.to_thread(
            wait_until, lambda pid=pid: any(f"worker {pid} " in x for x in server.lines[1:])
        ), server.lines
    answer.set()
    report = await call
    await asyncio.to_thread(assert_completed, report)
    tool_turns = await asyncio.to_thread(
        lambda: list(Turn.objects.filter(call__call_id="TOOL_ROLL", role="tool"))
    )
    assert [(t.tool_name, t.tool_ok, t.tool_result) for t in tool_turns] == [
        ("look_up_booking", True, TOOL_ANSWER)
    ]
