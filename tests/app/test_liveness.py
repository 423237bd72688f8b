"""Calls of a server process that died are marked failed by another ("server lost"): the
heartbeats and the sweep, in-process. A real server ending the README's curl call by itself:
tests/server/test_liveness.py."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from calls import liveness
from calls.models import Call, ServerProcess, Status
from streaming.core.call.endings import EndedBy

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost_after(settings):
    settings.SERVER_LOST_AFTER_S = 30
    return timedelta(seconds=30)


def bridged(call_id: str, process: str, minutes_ago: float = 5, **fields) -> Call:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    fields = {"status": Status.IN_PROGRESS, **fields}
    return Call.objects.create(call_id=call_id, bridge_process=process,
                               bridge_started_at=started, **fields)  # fmt: skip


def test_it_fails_the_calls_of_a_process_that_stopped_beating(agent, lost_after):
    ServerProcess.objects.create(name="web1:10", seen_at=timezone.now() - 2 * lost_after)
    ServerProcess.objects.create(name="web1:11", seen_at=timezone.now())
    bridged("DEAD", "web1:10")
    bridged("GONE", "web2:99")  # its process never beat here, or was forgotten
    bridged("ALIVE", "web1:11")
    bridged("MINE", "web1:12")
    bridged("YOUNG", "web2:99", minutes_ago=0.1)  # too new to judge
    bridged("OVER", "web1:10", bridge_ended_at=timezone.now())
    assert sorted(liveness.sweep("web1:12")) == ["DEAD", "GONE"]
    dead = Call.objects.get(call_id="DEAD")
    assert dead.status == Status.FAILED
    assert dead.ended_by == EndedBy.ERROR
    assert dead.failure_reason == "server lost: process web1:10 stopped answering"
    assert dead.bridge_ended_at is not None
    assert dead.events.get(kind="bridge.lost").payload == {"process": "web1:10",
                                                            "swept_by": "web1:12"}  # fmt: skip
    for call_id in ("ALIVE", "MINE", "YOUNG"):
        assert Call.objects.get(call_id=call_id).status == Status.IN_PROGRESS
    assert liveness.sweep("web1:12") == []  # once


def test_a_beat_keeps_a_process_alive_and_old_ones_are_forgotten(lost_after):
    liveness.beat("web1:10")
    first = ServerProcess.objects.get().seen_at
    liveness.beat("web1:10")
    assert ServerProcess.objects.get().seen_at >= first
    ServerProcess.objects.create(name="old:1", seen_at=timezone.now() - timedelta(days=2))
    liveness.sweep("web1:10")
    assert list(ServerProcess.objects.values_list("name", flat=True)) == ["web1:10"]


def test_the_heartbeat_is_off_when_asked(settings):
    settings.SERVER_HEARTBEAT_S = 0
    assert liveness.start("web1:10") is None


def test_a_process_judges_others_only_once_it_has_beaten_steadily(monkeypatch):
    """After an outage every process looks silent: none may sweep before the others beat."""
    happened: list[str] = []
    monkeypatch.setattr(liveness, "beat", lambda process: happened.append("beat"))
    monkeypatch.setattr(liveness, "sweep", lambda process: happened.append("sweep") or [])
    heartbeat = liveness.Heartbeat("web1:10", every_s=0.05)
    heartbeat.start()
    deadline = time.monotonic() + 5
    while happened.count("sweep") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    heartbeat.stopped.set()
    heartbeat.join()
    assert happened[:3] == ["beat", "beat", "beat"]
    assert happened.count("sweep") >= 2


def test_it_tells_a_process_which_of_its_bridges_sautikit_ended():
    """The heartbeat's backstop for a message the channel layer lost (a Redis restart)."""
    now = timezone.now()
    bridged("STOPPED", "web1:12", stream_stopped_at=now, session_state="StreamStopped")
    bridged("ERRED", "web1:12", stream_stopped_at=now, session_state="StreamError")
    bridged("DONE", "web1:12", status=Status.COMPLETED, session_state="StreamStarted")
    bridged("FAILED", "web1:12", status=Status.FAILED)
    bridged("EARLY", "web1:12", stream_stopped_at=now - timedelta(minutes=10))  # before it began
    bridged("TALKING", "web1:12")
    bridged("ELSEWHERE", "web1:13", stream_stopped_at=now)
    bridged("ENDED", "web1:12", stream_stopped_at=now, bridge_ended_at=now)
    assert liveness.said_over("web1:12") == {
        "STOPPED": "StreamStopped",
        "ERRED": "StreamError",
        "DONE": "call.completed",
        "FAILED": "call.failed",
    }


def test_it_ends_a_call_whose_stream_never_opened_in_words(agent, settings):
    """The README's own curl makes one: a stream URL given, never used. It stayed "Agent
    connecting" for ever; once its token has expired it is over, failed, saying why."""
    settings.STREAM_TOKEN_MAX_AGE = 120
    now = timezone.now()
    for call_id, asked_s_ago in (("NEVER", 121), ("FRESH", 60)):
        Call.objects.create(call_id=call_id, agent=agent, status=Status.CONNECTING,
                            stream_requested_at=now - timedelta(seconds=asked_s_ago))  # fmt: skip
    bridged("OPENED", "web1:12", status=Status.CONNECTING,
            stream_requested_at=now - timedelta(seconds=300))  # fmt: skip
    assert liveness.never_connected(now) == ["NEVER"]
    never = Call.objects.get(call_id="NEVER")
    assert never.status == Status.FAILED and never.is_over
    assert never.failure_reason == never.end_reason == liveness.NEVER_CONNECTED
    assert never.ended_at == now
    assert never.events.filter(kind="stream.never_opened").exists()
    assert Call.objects.get(call_id="FRESH").status == Status.CONNECTING
    assert Call.objects.get(call_id="OPENED").status == Status.CONNECTING
    assert liveness.never_connected(now) == []  # once
