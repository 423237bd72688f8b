"""Caller audio that arrives while OpenAI is still connecting: kept in order, the oldest dropped
past a limit, and sent first once the session is ready."""

from __future__ import annotations

from collections import deque


class PendingAudio:
    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._chunks: deque[bytes] = deque()
        self._bytes = 0

    def add(self, pcm: bytes) -> None:
        self._chunks.append(pcm)
        self._bytes += len(pcm)
        while self._bytes > self.limit_bytes and self._chunks:
            self._bytes -= len(self._chunks.popleft())

    def take(self) -> bytes | None:
        """The oldest chunk kept, or None when there is none."""
        if not self._chunks:
            return None
        pcm = self._chunks.popleft()
        self._bytes -= len(pcm)
        return pcm

    def __len__(self) -> int:
        return self._bytes
