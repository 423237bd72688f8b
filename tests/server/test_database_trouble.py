"""Nothing is lost when the database stutters mid-call: the bridge keeps and retries what it
could not store, webhooks answer 503 so that Sautikit retries them, dropped PostgreSQL
connections are replaced. Through a real daphne process, with the database locked for far
longer than a write waits for a lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from django.db import connection

from agents.models import Agent
from calls.models import Call, Status
from streaming.devtools.simulator import simulate_call
from tests.live_stack import start_stack, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "+254711000600"
LOCK_TIMEOUT_S = 1  # how long a write waits for a lock on the server
LOCKED_S = 5  # how long the database stays locked: five times that


class DatabaseLock(threading.Thread):
    """Once the call's bridge has started, holds the database's write lock for LOCKED_S."""

    def __init__(self, call_id: str) -> None:
        super().__init__(daemon=True)
        self.call_id = call_id
        self.held: tuple[float, float] | None = None
        self.settings = dict(connection.settings_dict)
        self.vendor = connection.vendor

    def run(self) -> None:
        assert wait_until(self._bridged, timeout=20)
        time.sleep(0.5)  # the greeting is under way
        if self.vendor == "sqlite":
            self._hold_sqlite()
        else:
            self._hold_postgres()

    def _bridged(self) -> bool:
        return Call.objects.filter(call_id=self.call_id, bridge_started_at__isnull=False).exists()

    def _hold_sqlite(self) -> None:
        db = sqlite3.connect(self.settings["NAME"], isolation_level=None)
        db.execute("BEGIN IMMEDIATE")  # every other writer now waits, then fails
        started = time.monotonic()
        time.sleep(LOCKED_S)
        db.execute("ROLLBACK")
        db.close()
        self.held = (started, time.monotonic())

    def _hold_postgres(self) -> None:
        import psycopg

        s = self.settings
        db = psycopg.connect(dbname=s["NAME"], user=s["USER"] or "postgres",
                             password=s["PASSWORD"] or None, host=s["HOST"] or "127.0.0.1",
                             port=s["PORT"] or 5432)  # fmt: skip
        with db.transaction():
            db.execute("LOCK TABLE calls_call, calls_callevent, calls_turn IN EXCLUSIVE MODE")
            started = time.monotonic()
            time.sleep(LOCKED_S)
        # Then the server's connections drop, as in a failover: they must be replaced.
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name <> 'pytest-main'"
        )
        db.close()
        self.held = (started, time.monotonic())


@pytest.fixture
def agent(transactional_db) -> Agent:
    agent = Agent(name="Desk", phone_number=NUMBER, instructions="Help.", greeting="Hello!")
    agent.save(author="tests")
    return agent


def test_every_turn_the_end_and_every_callback_are_stored_once_the_database_is_free(
    agent, tmp_path
):
    if connection.vendor == "postgresql":
        # The lock holder spares the test's own connection when it drops everyone else's.
        with connection.cursor() as cursor:
            cursor.execute("SET application_name = 'pytest-main'")
    stack = start_stack(env={"DATABASE_LOCK_TIMEOUT": str(LOCK_TIMEOUT_S)},
                        fake_args=["--answer", "Certainly."])  # fmt: skip
    lock = DatabaseLock("LOCKED_1")
    lock.start()
    try:
        report = asyncio.run(
            simulate_call(stack.base_url, NUMBER, out=tmp_path / "c.wav", call_id="LOCKED_1")
        )
        lock.join(timeout=30)
        assert lock.held is not None, "the database was never locked"
        # The bridge's writer retries in the background; give it the time a retry takes.
        assert wait_until(
            lambda: Call.objects.get(call_id="LOCKED_1").bridge_ended_at is not None, timeout=30
        )
    finally:
        stack.stop()
        stack.tmp.cleanup()

    assert not report.refused
    # The lock covered the greeting's end and the caller's first words, at least.
    assert lock.held[1] - lock.held[0] >= LOCKED_S
    call = Call.objects.get(call_id="LOCKED_1")
    assert call.status == Status.COMPLETED
    # Every transcript turn: the greeting, both caller turns, the answers (one cut short).
    roles = [t.role for t in call.turns.all()]
    assert roles.count("caller") == 2, roles
    assert roles.count("agent") >= 2, roles
    assert all(t.started_ms is not None for t in call.turns.all())
    assert call.responses >= 2  # usage reports stored too
    # Every callback Sautikit made is stored, once, though some were refused while locked.
    kinds = sorted(call.events.exclude(source="bridge").values_list("kind", flat=True))
    assert kinds == sorted(["call.started", "incoming", "StreamStarted", "call.answered",
                            "StreamStopped", "Completed", "call.completed"]), kinds  # fmt: skip
    assert call.events.filter(kind="bridge.ended").count() == 1
