"""A small client for OpenAI's GPT-Live API over websockets (`/v1/live/sessions`), and the
messages that start a call's session: the only module that writes GPT-Live message shapes.

GPT-Live is full duplex: caller audio goes up continuously, silence included (the model keeps
time by it; never gate it), and the model's audio comes back as a continuous real-time track.
There is no cancel or truncate: talked over, the model stops by itself. The session must be
started (`session.start`, answered by `session.started`) before any audio is sent.
See docs/protocols.md ("OpenAI GPT-Live").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from streaming.core.realtime import UpstreamError, error_text

MODELS = ("gpt-live-1.1", "gpt-live-1")
# What each call rate travels as. 16 kHz: untouched, no resampler at all. 8 kHz: resampled to
# 16 kHz with soxr rather than sent as G.711 (audio/pcmu), by the numbers: a tone anywhere in
# the phone band (300-3400 Hz) keeps 68-86 dB SNR through soxr both ways, and 34-37 dB through
# μ-law, which would also code the caller a second time after the phone network did
# (tests/test_live_formats.py measures both).
PCM16 = {"type": "audio/pcm", "rate": 16000}
FORMATS = {16000: PCM16, 8000: PCM16}
APPEND_HEAD, APPEND_TAIL = '{"type":"session.input_audio.append","audio":"', '"}'
CLOSE_WAIT_S = 2.0  # for session.closed (and its final usage) after session.close


def session_start(
    model: str, instructions: str, voice: str, audio_format: dict[str, Any]
) -> dict[str, Any]:
    """The call's first message. Voice, format and instructions cannot change afterwards."""
    session: dict[str, Any] = {
        "model": model,
        "audio": {"format": audio_format, "output": {"voice": voice}},
    }
    if instructions:
        session["instructions"] = instructions
    return {"type": "session.start", "session": session}


def commentary(text: str) -> dict[str, Any]:
    """Something for the model to say now (a greeting), in its own words."""
    return {"type": "session.commentary.append", "content": text, "delegation_id": None}


class LiveClient:
    def __init__(self, url: str, api_key: str, open_timeout: float = 10) -> None:
        self.url = url
        self.api_key = api_key
        self.open_timeout = open_timeout
        self.session: dict[str, Any] = {}  # as session.started resolved it
        self.usage_seconds = 0.0  # the latest cumulative session seconds OpenAI reported
        self.closed_reason = ""  # session.closed's reason, once it came
        self._ws: ClientConnection | None = None
        self._close_code: int | None = None
        self._close_reason = ""

    async def start(self, first: dict[str, Any]) -> dict[str, Any]:
        """Connect, send session.start, and return the session.started event."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            self._ws = await websockets.connect(self.url, additional_headers=headers,
                                                open_timeout=self.open_timeout, max_size=None,
                                                compression=None)  # fmt: skip
        except websockets.InvalidStatus as e:
            status = e.response.status_code
            raise UpstreamError(f"OpenAI refused the connection: HTTP {status}") from None
        except (OSError, TimeoutError, websockets.WebSocketException) as e:
            raise UpstreamError(f"OpenAI unreachable: {e or type(e).__name__}") from e
        # A refusal may already be on its way (a wrong key): what came before the close is read.
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.send(first)
        try:
            async with asyncio.timeout(self.open_timeout):
                async for raw in self._open():
                    event = json.loads(raw)
                    if event.get("type") == "session.started":
                        self.session = event.get("session") or {}
                        return dict(event)
                    if event.get("type") == "error":
                        raise UpstreamError(f"OpenAI refused the session: {error_text(event)}")
        except TimeoutError:
            await self.close()
            raise UpstreamError("OpenAI did not start the session in time") from None
        except websockets.ConnectionClosed:
            pass
        self._note_close()
        raise UpstreamError(f"OpenAI closed the session at once (code {self._close_code})")

    async def send(self, event: dict[str, Any]) -> None:
        await self._open().send(json.dumps(event))

    async def append_audio(self, data: bytes) -> None:
        """Caller audio in the session's format, written directly (fifty a second per call)."""
        if data:
            await self._open().send(APPEND_HEAD + base64.b64encode(data).decode() + APPEND_TAIL)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Server events until the socket closes; usage and the close reason are kept."""
        try:
            async for raw in self._open():
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                self._note(event)
                yield event
        except websockets.ConnectionClosed:
            pass
        finally:
            self._note_close()

    def _note(self, event: dict[str, Any]) -> None:
        usage = event.get("usage")
        if event.get("type") in ("session.usage.updated", "session.closed") and usage:
            seconds = usage.get("seconds")
            if isinstance(seconds, int | float):
                self.usage_seconds = max(self.usage_seconds, float(seconds))
        if event.get("type") == "session.closed":
            self.closed_reason = str(event.get("reason") or "")

    async def finish(self) -> None:
        """Ask the session to close and wait (briefly) for session.closed and its usage."""
        if self._ws is None:
            return
        try:
            await self.send({"type": "session.close"})
            async with asyncio.timeout(CLOSE_WAIT_S):
                async for _ in self.events():
                    if self.closed_reason:
                        break
        except (TimeoutError, websockets.ConnectionClosed, UpstreamError):
            pass
        await self.close()

    def _open(self) -> ClientConnection:
        if self._ws is None:
            raise UpstreamError("the session is not open")
        return self._ws

    def closed_how(self) -> tuple[int | None, str]:
        return self._close_code, self._close_reason

    def _note_close(self) -> None:
        if self._ws is not None and self._close_code is None:
            self._close_code = self._ws.close_code
            self._close_reason = self._ws.close_reason or ""

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._note_close()
