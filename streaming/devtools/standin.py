"""What the two OpenAI stand-ins (fake_realtime.py, fake_live.py) share: serving sessions on
the service's path, the key check, and what each session leaves for the benchmarks.

Each stand-in keeps its own protocol (the session classes); serving, the key and the timings
are written once, so the benchmarks read both engines' sessions in one shape (SessionStats).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Generic, Protocol, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response


class Session(Protocol):
    async def run(self) -> None: ...


S = TypeVar("S", bound=Session)


def authorised(headers: Headers, api_key: str | None) -> bool:
    """The request's bearer key is the stand-in's (any key, or none, when it has none)."""
    return api_key is None or headers.get("Authorization") == f"Bearer {api_key}"


@dataclass(frozen=True)
class SessionStats:
    """One finished session's timings, on the loop's clock (loop_now: time.monotonic, which every
    process here shares): one JSON line per session in the stand-in's `stats_path`."""

    instructions: str
    audio_file: str  # what the session heard, as a WAV ("" when not kept)
    received_at: list[tuple[float, int]]  # (when, caller bytes so far) per append
    first_delta_sent_at: float | None  # the first audio of an answer
    speech_events: list[tuple[str, float]]  # ("started"/"stopped", when) the caller spoke
    truncates: list[dict[str, Any]]
    errors: list[dict[str, Any]]

    def append_to(self, path: str) -> None:
        with open(path, "a") as f:
            f.write(json.dumps(asdict(self)) + "\n")


class StandInServer(Generic[S]):
    """Serves one stand-in on host:port; `sessions` keeps every connection's session."""

    path = ""  # the service's path, without its query
    max_size: int | None = None  # the largest message a session takes

    def __init__(self) -> None:
        self.sessions: list[S] = []
        self._server: Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        self._server = await serve(self._handle, host, port, process_request=self._check,
                                   max_size=self.max_size, compression=None)  # fmt: skip
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    @property
    def url(self) -> str:
        host = self._server.sockets[0].getsockname()[0] if self._server else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address, as a URL writes it
        return f"ws://{host}:{self.port}{self.path}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def session(self, ws: ServerConnection) -> S:
        raise NotImplementedError

    def refusal(self, connection: ServerConnection, request: Request) -> Response | None:
        """An answer instead of the socket (the stand-in told to refuse), or None."""
        return None

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?")[0] != self.path:
            return connection.respond(404, f"Not found: {request.path}\n")
        return self.refusal(connection, request)

    async def _handle(self, ws: ServerConnection) -> None:
        session = self.session(ws)
        self.sessions.append(session)
        # A client gone mid-send ends its session, not the server. Anything else is the
        # stand-in's own fault: websockets logs it and closes with 1011, as the service does.
        with contextlib.suppress(ConnectionClosed):
            await session.run()
