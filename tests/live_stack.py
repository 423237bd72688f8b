"""Whole calls over real sockets: daphne and the fake Realtime as processes, sharing the test's
database, and a custom tool's endpoint served from the test."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from agents.models import Agent, Tool
from agents.tools import derived_key
from bench.calls import Servers, start_servers
from calls import signatures
from calls.models import Call
from streaming.simulator import CallReport, simulate_call
from streaming.tools import signed_message


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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/tool"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_answer(value: Any, delay_s: float = 0.0):
    def answer(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        time.sleep(delay_s)
        return 200, json.dumps(value).encode()

    return answer


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


@pytest.fixture
def tool_endpoint():
    def answer(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        # What the endpoint's developer does: this tool's own key, over the whole request.
        key = derived_key(SECRET, NUMBER, "look_up_booking")
        signed = signed_message("POST", endpoint.url, headers.get("X-Call-Id", ""),
                                headers.get("X-Tool-Name", ""), body)  # fmt: skip
        try:
            signatures.verify(signed, headers.get("X-Tool-Signature"), [key])
        except signatures.SignatureError:
            return 403, b'{"error": "bad signature"}'
        return 200, json.dumps(BOOKING).encode()

    endpoint = ToolEndpoint(answer)
    yield endpoint
    endpoint.close()


@pytest.fixture
def clinic(tool_endpoint) -> Agent:
    agent = Agent(
        name="Clinic",
        phone_number=NUMBER,
        instructions="You book clinic appointments.",
        greeting="Welcome to the clinic, how can I help?",
        record_calls=True,
    )
    agent.save(author="tests")
    Tool.objects.create(
        agent=agent,
        name="look_up_booking",
        description="Finds the caller's booking.",
        parameters={
            "type": "object",
            "properties": {"phone": {"type": "string"}},
            "required": ["phone"],
        },
        endpoint=tool_endpoint.url,
    )
    return agent


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
