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
from typing import Any

import websockets

from streaming.core.call.upstream import UpstreamError, UpstreamSocket, error_text

MODELS = ("gpt-live-1.1", "gpt-live-1")
# What each call rate travels as. 16 kHz: untouched, no resampler at all. 8 kHz: resampled to
# 16 kHz with soxr rather than sent as G.711 (audio/pcmu), by the numbers: a tone anywhere in
# the phone band (300-3400 Hz) keeps 68-86 dB SNR through soxr both ways, and 34-37 dB through
# μ-law, which would also code the caller a second time after the phone network did
# (tests/unit/test_live_formats.py measures both).
LIVE_RATE = 16000  # what GPT-Live hears and says, whatever the call's rate
PCM16 = {"type": "audio/pcm", "rate": LIVE_RATE}
FORMATS = {16000: PCM16, 8000: PCM16}
APPEND_HEAD, APPEND_TAIL = '{"type":"session.input_audio.append","audio":"', '"}'
CLOSE_WAIT_S = 2.0  # for session.closed (and its final usage) after session.close


# The backend that answers for the tools (GPT-Live delegates them to a Responses model).
BACKEND_MODEL = "gpt-5-mini"


def session_start(
    model: str,
    instructions: str,
    voice: str,
    audio_format: dict[str, Any],
    tools: list[dict[str, Any]] | None = None,
    backend_instructions: str = "",
    backend_model: str = BACKEND_MODEL,
) -> dict[str, Any]:
    """The call's first message. Voice, format and instructions cannot change afterwards.
    With tools, they are delegated to a Responses backend, which calls them (our functions)."""
    session: dict[str, Any] = {
        "model": model,
        "audio": {"format": audio_format, "output": {"voice": voice}},
    }
    if instructions:
        session["instructions"] = instructions
    if tools:
        backend: dict[str, Any] = {"model": backend_model, "tools": tools}
        if backend_instructions:
            backend["instructions"] = backend_instructions
        session["delegation"] = {"type": "responses", "responses": backend}
    return {"type": "session.start", "session": session}


def tool_output(function_call_id: str, output: str) -> dict[str, Any]:
    return {"type": "response.item.create",
            "item": {"type": "function_call_output", "call_id": function_call_id,
                     "output": output}}  # fmt: skip


def commentary(text: str) -> dict[str, Any]:
    """Something for the model to say now (a greeting), in its own words."""
    return {"type": "session.commentary.append", "content": text, "delegation_id": None}


class LiveClient(UpstreamSocket):
    def __init__(self, url: str, api_key: str, open_timeout: float = 10) -> None:
        super().__init__(open_timeout)
        self.url = url
        self.api_key = api_key
        self.session: dict[str, Any] = {}  # as session.started resolved it
        self.usage_seconds = 0.0  # the latest cumulative session seconds OpenAI reported
        self.closed_reason = ""  # session.closed's reason, once it came

    async def start(self, first: dict[str, Any]) -> dict[str, Any]:
        """Connect, send session.start, and return the session.started event."""
        await self._connect(self.url, self.api_key)
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

    async def append_audio(self, data: bytes) -> None:
        """Caller audio in the session's format, written directly (fifty a second per call)."""
        if data:
            await self._open().send(APPEND_HEAD + base64.b64encode(data).decode() + APPEND_TAIL)

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
