"""An event loop whose clock skips the waits: when nothing is ready to run, no socket has data
and no thread is working, the loop's time jumps to its next timer instead of sleeping until
it. A call that plays five seconds of audio in real time (20 ms frames, paced answers, silence
limits) then runs in milliseconds, in the same order and with the same gaps on the clock.

Everything the bridge and the stand-ins time reads the running loop's clock
(streaming.core.audio.clock.loop_now), which on asyncio's own loop is time.monotonic(); so
production is unchanged, and a test given this loop measures frame times and gaps exactly.

The clock moves only by what the loop waits: the jumps, and the real time it spends blocked in
select while a thread started with run_in_executor (Django's database_sync_to_async,
asyncio.to_thread) is working, or with no timer at all. Threads it did not start (a threaded
HTTP server) and other processes are invisible to it: a test with such a peer keeps real time
(the real_time marker). Work done on the loop (soxr, JSON)
takes no time on it, as on an infinitely fast machine: the same events give the same times, to
the sample. A stall (the loop blocked by something slow) is played with advance().
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = time.monotonic()  # where the clock starts; it moves only as the loop waits
        self._threads = 0  # run_in_executor calls not yet done
        super().__init__(_SkippingSelector(self))

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """A stall: the clock moves on and nothing runs meanwhile, as when the loop is blocked;
        what fell due is then all late at once."""
        self.now += seconds

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        # Counted until the loop has the result: a count dropped in the thread itself would
        # leave a moment, before the result is handed over, when the clock could jump. (A
        # future cancelled while its thread still works drops the count early: tests here do
        # not cancel threads.)
        future = super().run_in_executor(executor, func, *args)
        self._threads += 1
        future.add_done_callback(self._thread_done)
        return future

    async def shutdown_default_executor(self, *args: Any) -> None:
        # Joining the executor's threads is a thread's work too (from Python 3.12 under a
        # timeout, which the clock would otherwise jump straight to).
        self._threads += 1
        try:
            await super().shutdown_default_executor(*args)
        finally:
            self._threads -= 1

    def _thread_done(self, _: asyncio.Future[Any]) -> None:
        self._threads -= 1

    def waits_for_real(self) -> bool:
        return self._threads > 0


class _SkippingSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None or timeout < 0 or self._loop.waits_for_real():
            # Nothing scheduled (only a socket or a thread can wake the loop), or a thread at
            # work: wait for real, and the clock moves by what was waited.
            started = time.monotonic()
            ready = super().select(timeout)
            self._loop.now += time.monotonic() - started
            return ready
        self._loop.now += timeout  # the next timer is due now
        return []
