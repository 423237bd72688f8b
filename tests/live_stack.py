"""Whole calls over real sockets: daphne and the fake Realtime as processes, sharing the test's
database, and a custom tool's endpoint served from the test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.db import connection

from bench.calls import Servers, start_servers


def database_url() -> str:
    """The test database as a DATABASE_URL the servers' processes can open."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s["USER"] or "postgres"
    return f"postgres://{user}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_stack(env: dict[str, str], fake_args: list[str]) -> Servers:
    return start_servers(0, env={"DATABASE_URL": database_url(), **env}, fake_args=fake_args)


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
