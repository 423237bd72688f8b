"""Whole calls over real sockets: daphne and the fake Realtime as processes, sharing the test's
database, and a custom tool's endpoint served from the test."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import websockets
from django.conf import settings
from django.db import connection

from agents.models import Agent
from calls.models import Call
from streaming.core.call.stream_protocol import SUBPROTOCOL
from streaming.devtools.servers import LoopbackHTTP, Servers, free_port, start_servers, wait_port
from streaming.devtools.simulator import CallReport, post, simulate_call


def database_url() -> str:
    """The test database as a DATABASE_URL the servers' processes can open."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = quote(s["USER"] or "postgres", safe="")
    password = ":" + quote(s["PASSWORD"], safe="") if s.get("PASSWORD") else ""
    host = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    return f"postgres://{user}{password}@{host}/{quote(s['NAME'], safe='')}"


def start_stack(env: dict[str, str], fake_args: list[str]) -> Servers:
    # The tools these tests serve are on loopback, as in development.
    env = {"DATABASE_URL": database_url(), "TOOL_ALLOW_LOOPBACK": "1", **env}
    return start_servers(0, env=env, fake_args=fake_args)


class ToolEndpoint:
    """An HTTP server standing in for a custom tool; `answer` decides each reply."""

    def __init__(self, answer: Callable[[bytes, dict[str, str]], tuple[int, bytes]]) -> None:
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items()}
                endpoint.requests.append((body, headers))
                status, reply = answer(body, headers)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = LoopbackHTTP(Handler, poll_interval=0.02)  # closed after every test

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}/tool"

    def close(self) -> None:
        self.http.close()


def json_answer(value: Any, delay_s: float = 0.0):
    def answer(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        time.sleep(delay_s)
        return 200, json.dumps(value).encode()

    return answer


def http_get(base_url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, body) of a GET on a new connection: under `make serve`, any worker may answer."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


# -- one recorded call with a tool, as the call-record and browser tests play it -----------------

NUMBER = "+254711000300"
SECRET = "tool-secret-for-tests"
ANSWER = "Your appointment is on Tuesday at ten in the morning, please arrive early."
THINK_MS = 300  # the fake's "thinking" before each answer's first audio
BOOKING = {"booking": "Tuesday 10:00", "doctor": "Dr Achieng"}


def recording_stack(tmp_path: Path, **env: str) -> Servers:
    """Servers for a recorded call with the clinic's tool; `env` adds settings."""
    return start_stack(
        env={"TOOL_SIGNING_SECRET": SECRET, "MEDIA_ROOT": str(tmp_path / "media"), **env},
        fake_args=["--answer", ANSWER, "--think-ms", str(THINK_MS),
                   "--tool-call", '2:look_up_booking:{"phone": "+254700000001"}'],
    )  # fmt: skip


def play_call(stack: Servers, tmp_path: Path, call_id: str) -> CallReport:
    """Greeting, a question, an answer the caller talks over, a tool call, the answer after it."""
    report = asyncio.run(
        simulate_call(stack.base_url, NUMBER, out=tmp_path / "sim.wav", call_id=call_id)
    )
    assert wait_until(lambda: bool(Call.objects.get(call_id=call_id).recording))
    return report


def record_a_call(tmp_path: Path, call_id: str) -> CallReport:
    stack = recording_stack(tmp_path)
    try:
        return play_call(stack, tmp_path, call_id)
    finally:
        stack.stop()
        stack.tmp.cleanup()


# -- `make serve` as a whole: the launcher, its workers, the fake Realtime -------------------

ROOT = Path(__file__).resolve().parent.parent
SERVE_NUMBER = "+254711000700"


def serve(**env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "voiceproject.serve"],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


needs_services = pytest.mark.skipif(
    not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL: make test's second pass",
)


class Shape:
    """`make serve` (two workers unless told) on the test's database, Redis when set, and the
    fake Realtime. What the launcher prints is kept in `lines`."""

    def __init__(self, fallback_to: str = "", fake_args: tuple[str, ...] = (), **env: str) -> None:
        Agent(name="Desk", phone_number=SERVE_NUMBER, instructions="Help.",
              fallback_number=fallback_to).save()  # fmt: skip
        self.port, fake_port = free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.fake = subprocess.Popen(
            [sys.executable, "manage.py", "fake_realtime", "--port", str(fake_port), *fake_args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.server = serve(
            **{"WORKERS": "2", "DRAIN_LIMIT_S": "30", **env}, PORT=str(self.port),
            DATABASE_URL=database_url(), REDIS_URL=settings.REDIS_URL,
            CHANNEL_LAYER_PREFIX=f"serve-{uuid.uuid4().hex[:8]}",
            OPENAI_API_KEY="sk-test", OPENAI_REALTIME_URL=f"ws://127.0.0.1:{fake_port}/v1/realtime",
            SAUTIKIT_SIGNING_SECRET="", PUBLIC_BASE_URL="",
            DJANGO_SETTINGS_MODULE="voiceproject.settings",
        )  # fmt: skip
        self.lines: list[str] = []
        self.errors: list[str] = []  # the workers' logs
        threading.Thread(target=self._read, args=(self.server.stdout, self.lines),
                         daemon=True).start()  # fmt: skip
        threading.Thread(target=self._read, args=(self.server.stderr, self.errors),
                         daemon=True).start()  # fmt: skip
        wait_port(self.port)
        wait_port(fake_port)

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip())

    def workers(self) -> list[int]:
        """The workers' pids, from "serving on … with N worker(s): <pid>, <pid>"."""
        assert wait_until(lambda: bool(self.lines))
        return [int(pid) for pid in self.lines[0].rsplit(":", 1)[1].split(",")]

    def close(self) -> None:
        for process in (self.server, self.fake):
            if process.poll() is None:
                process.terminate()  # the launcher stops its workers: they drain
                process.terminate()  # twice: calls a test left open are ended now
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def open_stream(
    base_url: str, fields: dict[str, str], **connect: Any
) -> websockets.ClientConnection:
    """Sautikit's first voice callback, then the stream socket its <Stream> answer names."""
    status, body = await post(f"{base_url}/sautikit/voice/", fields, "")
    assert status == 200, body
    url = body.decode().split('url="')[1].split('"')[0].replace("&amp;", "&")
    return await websockets.connect(url, subprotocols=[SUBPROTOCOL], **connect)


async def calls_on_both_workers(base_url: str) -> tuple[dict, dict[str, str]]:
    """Open calls until each of the two workers holds one: (sockets, process -> call id)."""
    sockets: dict[str, websockets.ClientConnection] = {}
    held: dict[str, str] = {}
    # Which worker accepts a socket is the kernel's choice (whichever waits in accept() first):
    # call until both hold one. A worker still starting takes none, so the calls are spaced out
    # and go on for as long as a busy machine may take to start one.
    deadline = time.monotonic() + 30
    i = 0
    while time.monotonic() < deadline:
        i += 1
        call_id = f"SERVE_{i}"
        fields = {"sessionId": call_id, "callerNumber": f"+2547001000{i:02d}",
                  "destinationNumber": SERVE_NUMBER, "isActive": "1"}  # fmt: skip
        sockets[call_id] = await open_stream(base_url, fields)
        process = await asyncio.to_thread(bridge_process, call_id)
        held.setdefault(process, call_id)
        if len(held) == 2:
            return sockets, held
        await asyncio.sleep(0.2)
    raise AssertionError(f"all {i} calls went to one worker: {held}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited: it only waits for its (new) parent to reap it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


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
