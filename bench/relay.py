"""The yardstick: a minimal relay doing the bridge's audio work, and nothing else.

A `websockets` server takes the caller's stream (S16LE 16 kHz, mod_audio_fork's subprotocol),
opens an OpenAI Realtime session per call (the same GA messages the bridge sends), resamples
with soxr LQ both ways, plays answers back on a 20 ms clock at most 100 ms ahead, and on
barge-in sends killAudio and truncates. No framework, no database, no transcripts, no limits:
what is left is the cost of the audio itself, which `make bench` sets the project against.

    python -m bench.relay --port 8100 --realtime-url ws://127.0.0.1:8765/v1/realtime

The same relay also runs under daphne as a bare ASGI app (no Django, no Channels), to show what
daphne's own WebSocket layer costs for the same work:

    RELAY_REALTIME_URL=ws://127.0.0.1:8765/v1/realtime python -m daphne -p 8100 bench.relay:asgi
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import soxr
import websockets
from websockets.asyncio.server import serve
from websockets.typing import Subprotocol

from streaming.core.call.stream_protocol import SUBPROTOCOL

CALLER_RATE = 16000
OPENAI_RATE = 24000
FRAME_BYTES = CALLER_RATE // 50 * 2
LEAD_S = 0.1


class Stream:
    """One direction of soxr LQ, kept across frames."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self._soxr = soxr.ResampleStream(rate_in, rate_out, 1, dtype="int16", quality="LQ")

    def __call__(self, pcm: bytes, last: bool = False) -> bytes:
        samples = np.frombuffer(pcm, dtype="<i2")
        return self._soxr.resample_chunk(samples, last=last).tobytes()

    def clear(self) -> None:
        self._soxr.clear()


class Call:
    def __init__(self, caller: Any, upstream: websockets.ClientConnection) -> None:
        self.caller = caller
        self.upstream = upstream
        self.up = Stream(CALLER_RATE, OPENAI_RATE)
        self.down = Stream(OPENAI_RATE, CALLER_RATE)
        self.queue: deque[bytes] = deque()
        self.pending = b""
        self.wake = asyncio.Event()
        self.played_until = 0.0
        self.item = ""
        self.sent: dict[str, int] = {}  # 24 kHz bytes received per answer
        self.written: dict[str, int] = {}  # 16 kHz bytes written per answer

    async def caller_to_openai(self) -> None:
        async for message in self.caller:
            if isinstance(message, bytes):
                pcm = self.up(message)
                if pcm:
                    audio = base64.b64encode(pcm).decode()
                    await self.upstream.send(
                        json.dumps({"type": "input_audio_buffer.append", "audio": audio})
                    )

    async def openai_to_caller(self) -> None:
        async for raw in self.upstream:
            event = json.loads(raw)
            kind = event.get("type")
            if kind == "response.output_audio.delta":
                pcm24 = base64.b64decode(event["delta"])
                self.item = event["item_id"]
                self.sent[self.item] = self.sent.get(self.item, 0) + len(pcm24)
                self.enqueue(self.down(pcm24))
            elif kind == "response.output_audio.done":
                self.enqueue(self.down(b"", last=True))
                self.down.clear()
            elif kind == "input_audio_buffer.speech_started":
                await self.barge_in()

    def enqueue(self, pcm: bytes) -> None:
        if pcm:
            self.queue.append(pcm)
            self.wake.set()

    async def barge_in(self) -> None:
        now = time.monotonic()
        if not self.item or (not self.queue and not self.pending and self.played_until <= now):
            return
        unheard_ms = max(0.0, self.played_until - now) * 1000
        self.queue.clear()
        self.pending = b""
        self.played_until = now
        self.down.clear()
        await self.caller.send('{"type":"killAudio"}')
        written_ms = self.written.get(self.item, 0) // 2 * 1000 // CALLER_RATE
        sent_ms = self.sent.get(self.item, 0) // 2 * 1000 // OPENAI_RATE
        end_ms = max(0, min(sent_ms, written_ms - round(unheard_ms)))
        await self.upstream.send(json.dumps({"type": "conversation.item.truncate",
                                             "item_id": self.item, "content_index": 0,
                                             "audio_end_ms": end_ms}))  # fmt: skip
        self.item = ""

    async def playout(self) -> None:
        while True:
            if not self.queue and not self.pending:
                self.wake.clear()
                await self.wake.wait()
                continue
            now = time.monotonic()
            self.played_until = max(self.played_until, now)
            ahead = self.played_until - now
            if ahead >= LEAD_S:
                await asyncio.sleep(ahead - LEAD_S + 0.001)
                continue
            while len(self.pending) < FRAME_BYTES and self.queue:
                self.pending += self.queue.popleft()
            frame, self.pending = self.pending[:FRAME_BYTES], self.pending[FRAME_BYTES:]
            self.written[self.item] = self.written.get(self.item, 0) + len(frame)
            self.played_until += len(frame) / 2 / CALLER_RATE
            await self.caller.send(frame)


async def handle(caller: Any, realtime_url: str, path: str) -> None:
    # /sautikit/stream/BENCH_<i>/: the fake Realtime keys its figures by the instructions.
    call_id = path.strip("/").split("/")[-1].split("?")[0]
    instructions = f"bench call {call_id.rsplit('_', 1)[-1]}"
    upstream = await websockets.connect(
        f"{realtime_url}?model=gpt-realtime",
        additional_headers={"Authorization": "Bearer sk-bench"},
        max_size=None,
        compression=None,
    )
    await upstream.recv()  # session.created
    pcm = {"type": "audio/pcm", "rate": OPENAI_RATE}
    session = {"type": "realtime", "instructions": instructions, "output_modalities": ["audio"],
               "audio": {"input": {"format": pcm,
                                   "transcription": {"model": "gpt-4o-mini-transcribe"},
                                   "turn_detection": {"type": "server_vad"}},
                         "output": {"format": pcm, "voice": "marin"}}}  # fmt: skip
    await upstream.send(json.dumps({"type": "session.update", "session": session}))
    greeting = {"type": "response.create", "response": {"instructions": "Greet the caller."}}
    await upstream.send(json.dumps(greeting))
    call = Call(caller, upstream)
    tasks = [asyncio.create_task(call.openai_to_caller()), asyncio.create_task(call.playout())]
    try:
        with contextlib.suppress(websockets.ConnectionClosed):
            await call.caller_to_openai()
    finally:
        for task in tasks:
            task.cancel()
        await upstream.close()


async def main(port: int, realtime_url: str) -> None:
    async with serve(
        lambda ws: handle(ws, realtime_url, ws.request.path if ws.request else ""),
        "127.0.0.1",
        port,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        max_size=None,
        compression=None,
    ):
        await asyncio.Future()


class AsgiCaller:
    """The caller's socket as daphne hands it to an ASGI app, with the two things `Call` uses
    of a `websockets` connection: iterating over messages and `send`."""

    def __init__(self, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Any]):
        self._receive = receive
        self._send = send

    async def __aiter__(self) -> AsyncIterator[bytes | str]:
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            yield data if data is not None else message.get("text") or ""

    async def send(self, data: bytes | str) -> None:
        key = "bytes" if isinstance(data, bytes) else "text"
        await self._send({"type": "websocket.send", key: data})


async def asgi(scope: dict, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
    if scope["type"] != "websocket":
        return  # daphne's lifespan and HTTP: nothing to serve
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
    await handle(AsgiCaller(receive, send), os.environ["RELAY_REALTIME_URL"], scope["path"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--realtime-url", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.realtime_url))
