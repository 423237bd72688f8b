"""Runs after-call tasks in every server process: a plain thread, off the audio path, that
claims what is due (one process per task, by a conditional update) and runs it; a failed
attempt is tried again after the task's backoff, up to its limit, and every attempt is kept.
A process that dies mid-task leaves it "running": after STALE it is taken up again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from calls.aftercall import analysis, webhook
from calls.aftercall.models import AfterCallTask, Outcome, TaskKind, TaskState

log = logging.getLogger(__name__)

STALE = timedelta(minutes=5)
BATCH = 10

# What each kind runs, and what it does once it gives up.
RUN: dict[str, Callable[[AfterCallTask], Outcome]] = {
    TaskKind.ANALYSIS: analysis.run,
    TaskKind.WEBHOOK: webhook.run,
}
GAVE_UP: dict[str, Callable[[AfterCallTask], None]] = {
    TaskKind.ANALYSIS: analysis.gave_up,
    TaskKind.WEBHOOK: webhook.gave_up,
}


def run_due(limit: int = BATCH) -> int:
    """Run the tasks that are due; returns how many ran."""
    now = timezone.now()
    AfterCallTask.objects.filter(state=TaskState.RUNNING, claimed_at__lt=now - STALE).update(
        state=TaskState.PENDING
    )
    due = AfterCallTask.objects.filter(state=TaskState.PENDING, next_attempt_at__lte=now)
    ran = 0
    for pk in due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit]:
        claimed = AfterCallTask.objects.filter(pk=pk, state=TaskState.PENDING).update(
            state=TaskState.RUNNING, claimed_at=timezone.now()
        )
        if claimed:
            run_one(AfterCallTask.objects.select_related("call__agent_revision").get(pk=pk))
            ran += 1
    return ran


def run_one(task: AfterCallTask) -> None:
    started_at, started = timezone.now(), time.monotonic()
    try:
        outcome = RUN[task.kind](task)
    except Exception as e:
        log.exception("after-call %s for call %s", task.kind, task.call_id)
        outcome = Outcome(False, f"unexpected error: {e!r}")
    task.finish(outcome, started_at, round((time.monotonic() - started) * 1000))
    if task.state == TaskState.FAILED:
        GAVE_UP[task.kind](task)


def start() -> threading.Thread | None:
    """In a server process, once (asgi.py); AFTER_CALL_POLL_S=0 turns it off (tests do)."""
    poll = settings.AFTER_CALL_POLL_S
    if poll <= 0:
        return None
    thread = threading.Thread(target=_loop, args=(poll,), name="after-call", daemon=True)
    thread.start()
    return thread


def _loop(poll: float) -> None:
    while True:
        try:
            ran = run_due()
        except DatabaseError:
            log.exception("after-call tasks: the database failed; trying again")
            connection.close()
            ran = 0
        if not ran:
            time.sleep(poll)
