"""Runs after-call tasks in every server process, off the audio path: threads that claim what is
due (one process per task, by a conditional update) and run it; a failed attempt is tried again
after the task's backoff, up to its limit, and every attempt is kept. A process that dies
mid-task leaves it "running": after STALE it is taken up again.

One operator's endpoint must not hold up another's: a tarpit that answers nothing costs a whole
attempt (10 s) every time. So each kind of task (summaries, webhooks) has its own threads
(AFTER_CALL_WORKERS each), a destination (a webhook's origin) has one attempt in flight at a time
in this process, and a destination whose attempt failed is left alone for a while (doubling from
DESTINATION_HOLD_S, at most DESTINATION_HOLD_MAX_S) before its next task is tried: a dead or slow
endpoint costs one thread now and then, never the others' turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from calls.aftercall import analysis, webhook
from calls.aftercall.models import AfterCallTask, Outcome, TaskKind, TaskState

log = logging.getLogger(__name__)

STALE = timedelta(minutes=5)
BATCH = 10
DESTINATION_HOLD_S = 10.0
DESTINATION_HOLD_MAX_S = 600.0
# An attempt this slow counts against its destination as a failure does, even if it succeeded:
# an endpoint that always answers just inside the deadline would otherwise hold a thread for good.
SLOW_ATTEMPT_S = 5.0

# What each kind runs, and what it does once it gives up.
RUN: dict[str, Callable[[AfterCallTask], Outcome]] = {
    TaskKind.ANALYSIS: analysis.run,
    TaskKind.WEBHOOK: webhook.run,
}
GAVE_UP: dict[str, Callable[[AfterCallTask], None]] = {
    TaskKind.ANALYSIS: analysis.gave_up,
    TaskKind.WEBHOOK: webhook.gave_up,
}


def claim(
    kind: str | None, limit: int, skip: set[str] | None = None, due_by: datetime | None = None
) -> list[AfterCallTask]:
    """Claim up to `limit` tasks due by `due_by` (now), of `kind` (or any), at most one per
    destination, none for a destination in `skip`. The database leaves those out, so that no
    backlog of one destination hides another's tasks behind it."""
    now = timezone.now()
    AfterCallTask.objects.filter(state=TaskState.RUNNING, claimed_at__lt=now - STALE).update(
        state=TaskState.PENDING
    )
    due = AfterCallTask.objects.filter(state=TaskState.PENDING, next_attempt_at__lte=due_by or now)
    if kind is not None:
        due = due.filter(kind=kind)
    taken: list[AfterCallTask] = []
    left_out = {d for d in skip or () if d}
    for _ in range(limit * 4):  # a claim lost to another process is tried again, a few times
        if len(taken) >= limit:
            break
        row = (
            due.exclude(destination__in=left_out)
            .order_by("next_attempt_at", "id")
            .values_list("pk", "destination")
            .first()
        )
        if row is None:
            break
        pk, where = row
        claimed = AfterCallTask.objects.filter(pk=pk, state=TaskState.PENDING).update(
            state=TaskState.RUNNING, claimed_at=timezone.now()
        )
        if claimed:
            if where:
                left_out.add(where)
            taken.append(AfterCallTask.objects.select_related("call__agent_revision").get(pk=pk))
    return taken


def run_due(limit: int = BATCH) -> int:
    """Run the tasks that are due now, one after another in this thread (tests, and whoever
    runs them by hand); returns how many ran. Tasks they queue wait for the next call."""
    ran, now = 0, timezone.now()
    while ran < limit:
        batch = claim(None, limit - ran, due_by=now)
        if not batch:
            return ran
        for task in batch:
            run_one(task)
        ran += len(batch)
    return ran


def run_one(task: AfterCallTask) -> Outcome:
    started_at, started = timezone.now(), time.monotonic()
    try:
        outcome = RUN[task.kind](task)
    except Exception as e:
        log.exception("after-call %s for call %s", task.kind, task.call_id)
        outcome = Outcome(False, f"unexpected error: {e!r}")
    task.finish(outcome, started_at, round((time.monotonic() - started) * 1000))
    if task.state == TaskState.FAILED:
        GAVE_UP[task.kind](task)
    return outcome


class Lane:
    """One kind of task: its threads, the destinations in flight, and those held after a
    failure. `now` is injected so that tests need not wait out a hold."""

    def __init__(self, kind: str, workers: int, now: Callable[[], float] = time.monotonic) -> None:
        self.kind = kind
        self.workers = workers
        self.now = now
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix=f"after-call-{kind}")
        self.lock = threading.Lock()
        self.running = 0
        self.busy: set[str] = set()
        self.held_until: dict[str, float] = {}
        self.failures: dict[str, int] = {}

    def fill(self) -> int:
        """Claim what free threads can take now and start it; returns how many started."""
        with self.lock:
            free = self.workers - self.running
            now = self.now()
            skip = self.busy | {d for d, until in self.held_until.items() if until > now}
        if free <= 0:
            return 0
        tasks = claim(self.kind, free, skip)
        with self.lock:
            for task in tasks:
                self.running += 1
                self.busy.add(task.destination)
        for task in tasks:
            self.pool.submit(self._run, task)
        return len(tasks)

    def _run(self, task: AfterCallTask) -> None:
        where, started = task.destination, self.now()
        outcome = Outcome(False, "not run")
        try:
            outcome = run_one(task)
        except DatabaseError:
            log.exception("after-call %s for call %s: the database failed", task.kind, task.call_id)
        finally:
            connection.close()  # a thread of the pool: nothing else closes it
            self._done(where, outcome.ok and self.now() - started < SLOW_ATTEMPT_S)

    def _done(self, where: str, ok: bool) -> None:
        """An attempt at `where` is over: `ok` if it succeeded, and quickly."""
        with self.lock:
            self.running -= 1
            self.busy.discard(where)
            if not where:
                return
            if ok:
                self.failures.pop(where, None)
                self.held_until.pop(where, None)
                return
            failed = self.failures.get(where, 0) + 1
            self.failures[where] = failed
            hold = min(DESTINATION_HOLD_S * 2 ** (failed - 1), DESTINATION_HOLD_MAX_S)
            self.held_until[where] = self.now() + hold


class Runner(threading.Thread):
    """The lanes, filled every `poll` seconds (at once again while there is work)."""

    def __init__(self, lanes: list[Lane], poll: float) -> None:
        super().__init__(name="after-call", daemon=True)
        self.lanes = lanes
        self.poll = poll
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            started = 0
            for lane in self.lanes:
                try:
                    started += lane.fill()
                except DatabaseError:
                    log.exception("after-call tasks: the database failed; trying again")
                    connection.close()
            if not started:
                self.stopped.wait(self.poll)
        connection.close()

    def stop(self) -> None:
        """Claim nothing more; let what runs finish."""
        self.stopped.set()
        self.join()
        for lane in self.lanes:
            lane.pool.shutdown(wait=True)


def start() -> Runner | None:
    """In a server process, once (asgi.py); AFTER_CALL_POLL_S=0 turns it off (tests do)."""
    poll = settings.AFTER_CALL_POLL_S
    if poll <= 0:
        return None
    workers = max(1, settings.AFTER_CALL_WORKERS)
    runner = Runner([Lane(TaskKind.ANALYSIS, workers), Lane(TaskKind.WEBHOOK, workers)], poll)
    runner.start()
    return runner
