"""The test loop whose clock skips waits (streaming.devtools.virtual_time): the same order and
the same gaps on the loop's clock as real time, without the wait; real time while a thread
works; none for work on the loop itself."""

from __future__ import annotations

import asyncio
import time

from streaming.core.audio.clock import loop_now
from streaming.devtools.virtual_time import VirtualTimeLoop


def run(coro):
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coro)


def test_it_skips_a_long_sleep_and_counts_it_on_the_loops_clock():
    async def nap() -> tuple[float, float]:
        before = loop_now()
        await asyncio.sleep(600)
        return before, loop_now()

    started = time.monotonic()
    before, after = run(nap())
    assert after - before >= 600
    assert time.monotonic() - started < 60  # ten minutes were not waited (a generous bound)


def test_it_keeps_timers_in_order_and_their_gaps_exact():
    async def frames() -> list[tuple[int, float]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        seen: list[tuple[int, float]] = []

        async def tick(n: int, every: float) -> None:
            for i in range(1, n + 1):
                await asyncio.sleep(max(0.0, start + i * every - loop.time()))
                seen.append((round(every * 1000), round((loop.time() - start) * 1000)))

        await asyncio.gather(tick(10, 0.02), tick(4, 0.05))
        return seen

    seen = run(frames())
    assert [at for _, at in seen] == sorted(at for _, at in seen)
    assert [at for every, at in seen if every == 20][:5] == [20, 40, 60, 80, 100]
    assert [at for every, at in seen if every == 50] == [50, 100, 150, 200]


def test_it_waits_for_real_while_a_thread_works():
    async def with_thread() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        worker = loop.run_in_executor(None, time.sleep, 0.2)
        # The clock runs for real while the thread works: it is done before the sleep ends.
        await asyncio.sleep(5)
        assert worker.done()
        return before, loop.time()

    before, after = run(with_thread())
    assert after - before >= 5


def test_work_on_the_loop_takes_no_time_on_its_clock_and_a_stall_is_played_by_advance():
    async def busy() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        time.sleep(0.05)  # soxr, JSON: real work, no time on this clock
        worked = loop.time()
        late: list[float] = []
        loop.call_later(0.1, lambda: late.append(loop.time()))
        loop.advance(0.3)  # the loop blocked for 300 ms: the timer is 200 ms late
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return worked - before, late[0] - before, loop.time() - before

    worked, fired, now = run(busy())
    assert worked == 0
    assert fired == now and round(now, 9) == 0.3
