"""No call stuck "in progress" after its server process died, and no bridge outliving its call.

Every server process beats a heartbeat into the database, and sweeps: a call whose bridge is
held by a process that has not beaten for SERVER_LOST_AFTER_S is marked failed ("server lost").
Killed, out of memory or its machine gone, the process cannot say so itself; any other process
(or its own replacement) does, within a heartbeat and the lost-after time.

Each beat also reads which of this process's own live bridges belong to calls Sautikit has
already said are over (the stream stopped, the call completed or failed): the webhooks tell the
bridge through the channel layer at once, but Redis may have been restarted (losing the call's
group) or be stalled, and the bridge and its OpenAI session must not run on until the socket
closes. Whatever the channel layer did, a bridge hears it within a heartbeat.

A plain thread, so that it runs whatever the event loop is doing, and off the audio path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from calls.models import TERMINAL, Call, ServerProcess, Source, Status

log = logging.getLogger(__name__)

# Rows of processes gone this long are deleted.
FORGET_AFTER = timedelta(days=1)


def beat(process: str) -> None:
    now = timezone.now()
    ServerProcess.objects.update_or_create(name=process, defaults={"seen_at": now})


def sweep(process: str) -> list[str]:
    """Fail the calls of processes that stopped beating; returns their call ids."""
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.SERVER_LOST_AFTER_S)
    alive = ServerProcess.objects.filter(seen_at__gte=lost_before).values_list("name", flat=True)
    orphans = (
        Call.objects.filter(bridge_started_at__lt=lost_before, bridge_ended_at__isnull=True)
        .exclude(status__in=TERMINAL)
        .exclude(bridge_process="")
        .exclude(bridge_process=process)
        .exclude(bridge_process__in=list(alive))
    )
    lost = []
    for call_id in orphans.values_list("call_id", flat=True):
        with transaction.atomic():
            call = Call.objects.select_for_update().get(call_id=call_id)
            if call.bridge_ended_at is not None:
                continue  # ended meanwhile
            why = f"server lost: process {call.bridge_process} stopped answering"
            call.bridge_ended(why, error=why)
            call.save()
            call.record_event(Source.SYSTEM, "bridge.lost", {"process": call.bridge_process,
                                                            "swept_by": process})  # fmt: skip
        lost.append(call_id)
    ServerProcess.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
    return lost


NEVER_CONNECTED = "the phone company never connected the audio"


def never_connected(now: datetime) -> list[str]:
    """Calls given a stream URL whose token has expired unused: over, failed, in words an
    operator reads (they stayed "Agent connecting" for ever, and counted as live)."""
    expired = now - timedelta(seconds=settings.STREAM_TOKEN_MAX_AGE)
    stale = Call.objects.filter(
        status=Status.CONNECTING, bridge_started_at__isnull=True, stream_requested_at__lt=expired
    )
    ended = []
    for call_id in stale.values_list("call_id", flat=True):
        with transaction.atomic():
            call = Call.objects.select_for_update().get(call_id=call_id)
            if call.status != Status.CONNECTING or call.bridge_started_at is not None:
                continue  # its stream opened meanwhile, or Sautikit said how it ended
            call.advance(Status.FAILED)
            call.failure_reason = call.failure_reason or NEVER_CONNECTED
            call.mark_ended(now, NEVER_CONNECTED)
            call.save()
            asked = call.stream_requested_at.isoformat() if call.stream_requested_at else None
            call.record_event(Source.SYSTEM, "stream.never_opened", {"stream_requested_at": asked})
        ended.append(call_id)
    return ended


# What this process's bridges are told: {call id: what Sautikit said (its state)}.
SaidOver = Callable[[dict[str, str]], None]


def said_over(process: str) -> dict[str, str]:
    """This process's live bridges whose calls Sautikit has said are over, with what it said in
    the words its messages use: the call's end (`call.completed`, `call.failed`), else the
    stream's (`StreamStopped`, `StreamError`). A stream stopped before this bridge began (an
    early StreamError) is not this bridge's."""
    calls = Call.objects.filter(
        bridge_process=process, bridge_started_at__isnull=False, bridge_ended_at__isnull=True
    ).filter(Q(status__in=TERMINAL) | Q(stream_stopped_at__gte=F("bridge_started_at")))
    over = {}
    for call_id, state, status in calls.values_list("call_id", "session_state", "status"):
        if status in TERMINAL:
            over[call_id] = "call.failed" if status == Status.FAILED else "call.completed"
        else:
            over[call_id] = state or "StreamStopped"
    return over


class Heartbeat(threading.Thread):
    def __init__(self, process: str, every_s: float, tell: SaidOver | None = None) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.process = process
        self.every_s = every_s
        self.tell = tell
        self.stopped = threading.Event()

    def run(self) -> None:
        last_beat = steady_since = 0.0
        while not self.stopped.is_set():
            try:
                beat(self.process)
                now = time.monotonic()
                if now - last_beat > 2 * self.every_s + 1:
                    steady_since = now  # the first beat, or the first after a gap
                last_beat = now
                if self.tell is not None:
                    over = said_over(self.process)
                    if over:
                        self.tell(over)
                # Only a process that has been beating steadily judges others: after a database
                # outage every process looks silent until it has had the time to beat again.
                if now - steady_since >= 2 * self.every_s:
                    for call_id in sweep(self.process):
                        log.error("call %s: its server process was lost; marked failed", call_id)
                    for call_id in never_connected(timezone.now()):
                        log.warning("call %s: %s; marked failed", call_id, NEVER_CONNECTED)
            except DatabaseError as e:
                log.warning("heartbeat: database unavailable (%s)", e)
            finally:
                connection.close()  # a thread of its own: nothing else closes it
            self.stopped.wait(self.every_s)


def start(process: str, tell: SaidOver | None = None) -> Heartbeat | None:
    """In a server process, once (asgi.py); SERVER_HEARTBEAT_S=0 turns it off (tests do).
    `tell` is given the calls of this process's bridges that are over (from this thread)."""
    if settings.SERVER_HEARTBEAT_S <= 0:
        return None
    heartbeat = Heartbeat(process, settings.SERVER_HEARTBEAT_S, tell)
    heartbeat.start()
    return heartbeat
