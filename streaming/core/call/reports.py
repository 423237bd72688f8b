"""A call's reports (transcript turns, usage, events, its end) stored in order, off the audio
path, and never dropped because the database stuttered.

Plain asyncio: the consumer passes in how to store a report and which errors mean "the database
is busy or gone, try again" (anything else is a report the database will never take, logged
and skipped). A report that fails that way is tried again, with backoff, for as long as the
call lasts and for a while after it: the writer outlives the consumer if it has to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from streaming.core.audio.clock import loop_now

log = logging.getLogger(__name__)

Report = tuple[str, dict[str, Any]]
# Stores a batch of reports, in order, all or none.
Store = Callable[[list[Report]], Awaitable[None]]

FIRST_RETRY_S = 0.2
MAX_RETRY_S = 5.0
# After the call, unstored reports are tried this long before they are given up (and logged).
KEEP_TRYING_S = 15 * 60
# Reports that queued up while the last were being stored go together, in one transaction: under
# load a call's writes cost one database round instead of one each.
MAX_BATCH = 50
# Writers still storing after their call's consumer has gone: held here so they finish.
_lingering: set[asyncio.Task[None]] = set()


class ReportWriter:
    def __init__(
        self,
        store: Store,
        retryable: tuple[type[BaseException], ...],
        name: str,
        keep_trying_s: float = KEEP_TRYING_S,
    ) -> None:
        self._store = store
        self._retryable = retryable
        self.name = name
        self.keep_trying_s = keep_trying_s
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self._closed_at: float | None = None
        self.retries = 0
        self.lost = 0
        self._task = asyncio.create_task(self._run(), name=f"reports {name}")

    def put(self, kind: str, payload: dict[str, Any]) -> None:
        self._queue.put_nowait((kind, payload))

    async def close(self, wait_s: float) -> bool:
        """No more reports; wait up to `wait_s` for the rest to be stored. False if they are
        not yet: the writer then goes on by itself, in the background."""
        if self._closed_at is None:
            self._closed_at = loop_now()
            self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), wait_s)
        except TimeoutError:
            _lingering.add(self._task)
            self._task.add_done_callback(_lingering.discard)
            return False
        return True

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            batch, closing = [item], False
            while len(batch) < MAX_BATCH and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    closing = True
                    break
                batch.append(more)
            await self._store_batch(batch)
            if closing:
                return

    async def _store_batch(self, batch: list[Report]) -> None:
        if len(batch) == 1:
            await self._store_retrying(batch)
            return
        try:
            await self._store_retrying(batch, skip_bad=False)
        except Exception:
            # One of them the database will never take: the rest go one by one.
            for report in batch:
                await self._store_retrying([report])

    async def _store_retrying(self, batch: list[Report], skip_bad: bool = True) -> None:
        delay = FIRST_RETRY_S
        while True:
            try:
                await self._store(batch)
                return
            except self._retryable as e:
                if self._closed_at is not None and (
                    loop_now() - self._closed_at > self.keep_trying_s
                ):
                    self.lost += len(batch)
                    log.error("%s: gave up storing %s after the call: %s", self.name,
                              _kinds(batch), e)  # fmt: skip
                    return
                self.retries += 1
                log.warning("%s: %s not stored yet (%s); again in %.1f s", self.name,
                            _kinds(batch), e, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_S)
            except Exception:
                if not skip_bad:
                    raise
                self.lost += len(batch)
                log.exception("%s: could not store %s", self.name, _kinds(batch))
                return


def _kinds(batch: list[Report]) -> str:
    return ", ".join(kind for kind, _ in batch)


async def settle(timeout_s: float) -> int:
    """Wait up to `timeout_s` for the writers still storing after their call (a stopping
    process lets them finish); returns how many are still not done."""
    if _lingering:
        await asyncio.wait(set(_lingering), timeout=timeout_s)
    return len(_lingering)
