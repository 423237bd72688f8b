"""One call's clock: every time the bridge reports (the transcript, the recording) counts from
the moment its stream socket opened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def loop_now() -> float:
    """The running event loop's clock, which every timer of the call (the playout's frames, the
    limits, a stand-in's pacing) also runs on. On asyncio's own loop it is time.monotonic(), so
    times still compare across processes; a test's VirtualTimeLoop (streaming.devtools) skips
    its waits. Outside a loop, time.monotonic()."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class CallClock:
    def __init__(self, now: Callable[[], float] = loop_now) -> None:
        self.now = now
        self._started = now()

    def seconds(self, at: float | None = None) -> float:
        """Seconds since the call started, now or at a time read from `now`."""
        return (self.now() if at is None else at) - self._started

    def ms(self, at: float | None = None) -> int:
        """Whole milliseconds since the call started (never negative)."""
        return max(0, round(self.seconds(at) * 1000))
