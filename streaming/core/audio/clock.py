"""One call's clock: every time the bridge reports (the transcript, the recording) counts from
the moment its stream socket opened."""

from __future__ import annotations

import time
from collections.abc import Callable


class CallClock:
    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self._started = now()

    def seconds(self, at: float | None = None) -> float:
        """Seconds since the call started, now or at a time read from `now`."""
        return (self.now() if at is None else at) - self._started

    def ms(self, at: float | None = None) -> int:
        """Whole milliseconds since the call started (never negative)."""
        return max(0, round(self.seconds(at) * 1000))
