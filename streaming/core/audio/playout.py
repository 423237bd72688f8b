"""Paced playout: OpenAI sends audio faster than real time; the caller gets 20 ms frames on a
real-time clock, never more than `lead_ms` ahead, so that a barge-in can still stop it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from streaming.core.audio.clock import loop_now
from streaming.core.audio.pcm import bytes_to_ms, ms_to_bytes

Send = Callable[[bytes], Awaitable[None]]
# (item id, frame, when the caller starts hearing it) after each frame is written.
OnFrame = Callable[[str, bytes, float], None]
# (item id, when the caller has heard its last frame) when an item has played out.
OnItemEnd = Callable[[str, float], None]


@dataclass
class PlayoutStats:
    frames: int = 0
    # Times the buffer ran dry in the middle of an answer (the caller heard a gap).
    underruns: int = 0


@dataclass
class _Chunk:
    item_id: str
    data: bytes
    end_of_item: bool = False


@dataclass
class _Item:
    written: int = 0  # bytes written to the caller
    heard_until: float = 0.0  # when the caller hears the end of what was written


class Playout:
    def __init__(
        self,
        rate: int,
        send: Send,
        frame_ms: int = 20,
        lead_ms: int = 100,
        prime_ms: int = 0,
        clock: Callable[[], float] = loop_now,
        on_frame: OnFrame | None = None,
        on_item_end: OnItemEnd | None = None,
    ) -> None:
        self.rate = rate
        self.frame_bytes = ms_to_bytes(frame_ms, rate)
        self.lead = lead_ms / 1000
        # With nothing left ahead of the caller (an answer starting, or after an underrun), wait
        # for this much before playing: a cushion against audio that comes at real-time pace,
        # which never builds one by itself.
        self.prime_bytes = ms_to_bytes(prime_ms, rate)
        self._send = send
        self._clock = clock
        self._queue: deque[_Chunk] = deque()
        self._queued = 0
        self._items: dict[str, _Item] = {}
        self._wake = asyncio.Event()
        # Wall-clock time up to which audio has been handed to the caller's side.
        self._played_until = 0.0
        self._stats = PlayoutStats()
        self._dry = False  # the caller has nothing left to hear (an underrun, once counted)
        self._current_item: str | None = None
        self._on_frame = on_frame
        self._on_item_end = on_item_end

    # -- feeding ----------------------------------------------------------------

    def enqueue(self, item_id: str, pcm: bytes) -> None:
        if not pcm:
            return
        self._items.setdefault(item_id, _Item())
        self._queue.append(_Chunk(item_id, pcm))
        self._queued += len(pcm)
        self._wake.set()

    def end_item(self, item_id: str) -> None:
        """No more audio for this item: a short last frame may go out instead of waiting."""
        self._queue.append(_Chunk(item_id, b"", end_of_item=True))
        self._wake.set()

    def clear(self) -> int:
        """Drop everything not yet written; return how many bytes were dropped."""
        dropped = self._queued
        self._queue.clear()
        self._queued = 0
        self._current_item = None
        return dropped

    # -- what was played --------------------------------------------------------

    def written_ms(self, item_id: str) -> int:
        item = self._items.get(item_id)
        return int(bytes_to_ms(item.written, self.rate)) if item else 0

    def ahead_s(self) -> float:
        """How much written audio the caller has not heard yet (the media server's buffer)."""
        return max(0.0, self._played_until - self._clock())

    def is_playing(self) -> bool:
        return self._queued > 0 or self.ahead_s() > 0

    def counts(self) -> PlayoutStats:
        """Frames written and underruns so far."""
        return dataclasses.replace(self._stats)

    # -- the clock --------------------------------------------------------------

    async def run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = self._clock()
            if self._played_until < now:
                if self._current_item is not None and self._stats.frames and not self._dry:
                    self._stats.underruns += 1  # once per time it ran dry
                self._dry = True
                self._played_until = now
            ahead = self._played_until - now
            if ahead >= self.lead:
                await asyncio.sleep(ahead - self.lead + 0.001)
                continue
            frame, item_id, ended = self._take_frame(prime=ahead <= 0)
            if frame:
                self._dry = False
                await self._send(frame)
                self._count(item_id, frame)
                begins = self._played_until
                self._played_until += len(frame) / 2 / self.rate
                if item_id is not None:
                    self._items[item_id].heard_until = self._played_until
                    if self._on_frame is not None:
                        self._on_frame(item_id, frame, begins)
            elif not ended:
                # Less than a frame buffered mid-answer: wait for more rather than click.
                self._wake.clear()
                await self._wake.wait()

    def _take_frame(self, prime: bool = False) -> tuple[bytes, str | None, bool]:
        """The next frame of the head item: full, or short if that item has no more audio;
        with `prime`, only once prime_bytes of it are here (or all of it).

        Returns (frame, item id, whether an item just ended); an empty frame with no ending
        means "wait for more audio".
        """
        ended = False
        while self._queue and self._queue[0].end_of_item:
            marker = self._queue.popleft()
            self._current_item = None
            ended = True
            if self._on_item_end is not None:
                item = self._items.get(marker.item_id)
                if item is not None and item.written:
                    self._on_item_end(marker.item_id, item.heard_until)
        if not self._queue:
            return b"", None, ended
        item_id = self._queue[0].item_id
        need = max(self.frame_bytes, self.prime_bytes) if prime else self.frame_bytes
        available = 0
        complete = False
        for chunk in self._queue:
            if chunk.item_id != item_id or chunk.end_of_item:
                complete = True
                break
            available += len(chunk.data)
            if available >= need:
                break
        if available < need and not complete:
            return b"", None, ended
        out = bytearray()
        while len(out) < self.frame_bytes and self._queue:
            chunk = self._queue[0]
            if chunk.item_id != item_id or chunk.end_of_item:
                break
            need = self.frame_bytes - len(out)
            out += chunk.data[:need]
            if need >= len(chunk.data):
                self._queue.popleft()
            else:
                chunk.data = chunk.data[need:]
        self._queued -= len(out)
        self._current_item = item_id
        return bytes(out), item_id, ended

    def _count(self, item_id: str | None, frame: bytes) -> None:
        if item_id is not None:
            self._items[item_id].written += len(frame)
        self._stats.frames += 1
