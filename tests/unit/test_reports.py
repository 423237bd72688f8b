"""The report writer alone: in order, retried while the database is busy, never dropped for it."""

from __future__ import annotations

import asyncio

import pytest

from streaming.core.call import reports
from streaming.core.call.reports import ReportWriter

pytestmark = pytest.mark.asyncio


class Busy(Exception):
    pass


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(reports, "FIRST_RETRY_S", 0.01)
    monkeypatch.setattr(reports, "MAX_RETRY_S", 0.02)


class Database:
    def __init__(self, busy_for: int = 0) -> None:
        self.busy_for = busy_for  # calls that fail before the database answers again
        self.stored: list[str] = []
        self.batches: list[int] = []

    async def store(self, batch: list[tuple[str, dict]]) -> None:
        """All of a batch or none of it, as in a transaction."""
        self.batches.append(len(batch))
        if self.busy_for:
            self.busy_for -= 1
            raise Busy("database is locked")
        if any(kind == "poison" for kind, _ in batch):
            raise ValueError("not storable")
        self.stored += [kind for kind, _ in batch]


async def test_it_stores_in_order_through_a_busy_spell():
    db = Database(busy_for=5)
    writer = ReportWriter(db.store, (Busy,), name="t")
    for kind in ("turn-1", "usage", "turn-2", "end"):
        writer.put(kind, {})
    assert await writer.close(wait_s=5)
    assert db.stored == ["turn-1", "usage", "turn-2", "end"]
    assert writer.retries == 5 and writer.lost == 0


async def test_it_skips_what_the_database_will_never_take_and_goes_on():
    db = Database()
    writer = ReportWriter(db.store, (Busy,), name="t")
    for kind in ("turn-1", "poison", "end"):
        writer.put(kind, {})
    assert await writer.close(wait_s=5)
    assert db.stored == ["turn-1", "end"]
    assert writer.lost == 1


async def test_it_finishes_in_the_background_after_the_call_and_then_gives_up():
    db = Database(busy_for=10**9)
    writer = ReportWriter(db.store, (Busy,), name="t", keep_trying_s=0.3)
    writer.put("end", {})
    assert not await writer.close(wait_s=0.05)  # still trying: the consumer may leave
    assert reports._lingering
    await asyncio.sleep(0.6)
    assert writer.lost == 1 and db.stored == []
    assert not reports._lingering


async def test_what_queued_meanwhile_is_stored_together():
    db = Database(busy_for=1)
    writer = ReportWriter(db.store, (Busy,), name="t")
    writer.put("turn-1", {})
    await asyncio.sleep(0.005)  # taken alone; the database is busy, so the rest queue up
    for kind in ("usage", "turn-2", "turn-3", "end"):
        writer.put(kind, {})
    assert await writer.close(wait_s=5)
    assert db.stored == ["turn-1", "usage", "turn-2", "turn-3", "end"]
    assert db.batches == [1, 1, 4]
