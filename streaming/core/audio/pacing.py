"""Caller audio at real time at most: what a socket sends faster is dropped before it costs
anything (resampling on the event loop, the recording, OpenAI's billed input).

Sautikit's media server, and a browser, send audio as it is spoken, 20 ms at a time. A stream
socket is reachable by whoever holds its token, and a flood of frames would otherwise become
minutes of recorded and billed audio from a call of seconds. A token bucket: credit accrues at
the call's byte rate, up to JITTER_ALLOWANCE_S of audio, so that the backlog after a network
stall of up to that long still arrives whole; anything beyond is dropped and counted.
"""

from __future__ import annotations

from streaming.core.audio.clock import CallClock

# The longest backlog kept whole after a stall: frames held up in the network arrive at once.
JITTER_ALLOWANCE_S = 2.0


class RealTimeBudget:
    def __init__(
        self, rate: int, clock: CallClock, allowance_s: float = JITTER_ALLOWANCE_S
    ) -> None:
        self._bytes_per_s = rate * 2  # S16LE mono
        self._capacity = allowance_s * self._bytes_per_s
        self._clock = clock
        self._credit = self._capacity
        self._at = clock.seconds()
        self.dropped_bytes = 0

    def take(self, pcm: bytes) -> bytes:
        """What of `pcm` (whole samples: after OddByteCarry) may pass now: all of it, its first
        samples, or nothing. Only whole samples are dropped, so what follows stays in step."""
        now = self._clock.seconds()
        self._credit = min(self._capacity, self._credit + (now - self._at) * self._bytes_per_s)
        self._at = now
        allowed = max(0, min(len(pcm), int(self._credit))) & ~1
        self._credit -= allowed
        self.dropped_bytes += len(pcm) - allowed
        return pcm if allowed == len(pcm) else pcm[:allowed]

    @property
    def dropped_s(self) -> float:
        return self.dropped_bytes / self._bytes_per_s
