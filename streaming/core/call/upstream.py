"""The websocket to OpenAI that both engines' clients stand on (realtime/client.py,
live/client.py): opening
it with the key, sending JSON on it, and how it closed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


class UpstreamError(Exception):
    """OpenAI could not be reached, refused us, or failed the session."""


class UpstreamSocket:
    def __init__(self, open_timeout: float) -> None:
        self.open_timeout = open_timeout
        self._ws: ClientConnection | None = None
        self._close_code: int | None = None
        self._close_reason = ""

    async def _connect(self, url: str, api_key: str) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            self._ws = await websockets.connect(url, additional_headers=headers,
                                                open_timeout=self.open_timeout, max_size=None,
                                                compression=None)  # fmt: skip
        except websockets.InvalidStatus as e:
            status = e.response.status_code
            raise UpstreamError(f"OpenAI refused the connection: HTTP {status}") from None
        except (OSError, TimeoutError, websockets.WebSocketException) as e:
            raise UpstreamError(f"OpenAI unreachable: {e or type(e).__name__}") from e

    async def send(self, event: dict[str, Any]) -> None:
        await self._open().send(json.dumps(event))

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Server events until the socket closes; closed_how() then says how it ended."""
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
        """What a client keeps of each event as it passes (nothing, here)."""

    def _open(self) -> ClientConnection:
        if self._ws is None:
            raise UpstreamError("the session is not open")
        return self._ws

    def closed_how(self) -> tuple[int | None, str]:
        """How the session closed: (code, reason), once it has."""
        return self._close_code, self._close_reason

    def _note_close(self) -> None:
        if self._ws is not None and self._close_code is None:
            self._close_code = self._ws.close_code
            self._close_reason = self._ws.close_reason or ""

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._note_close()


def error_text(event: dict[str, Any]) -> str:
    """An OpenAI `error` event in a line: its code and message."""
    error = event.get("error") or {}
    code = error.get("code") or error.get("type") or "error"
    return f"{code}: {error.get('message', '')}".strip()
