"""Limits against burning credits: live calls per caller, calls per caller per hour, live calls
in all, an agent's own cap, and blocked numbers, at the voice webhook. At a real server's
stream socket: tests/server/test_limits.py."""

from __future__ import annotations

import contextlib
import os
import threading
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from calls import limits as limits_module
from calls import responses
from calls.models import BlockedNumber, Call, Status
from tests.helpers import ring, streamed

pytestmark = pytest.mark.django_db

CALLER = "+254700000001"


def busy(root: ET.Element) -> bool:
    return root.findtext("Say") == responses.LINES_BUSY and root.find("Hangup") is not None


def test_it_refuses_a_third_live_call_from_one_caller(client, agent, limits):
    assert streamed(ring(client, "A1")) and streamed(ring(client, "A2"))
    third = ring(client, "A3")
    assert busy(third)
    call = Call.objects.get(call_id="A3")
    assert call.status == Status.REJECTED
    assert "already has 2 live call(s) (LIMIT_LIVE_CALLS_PER_CALLER)" in call.end_reason
    assert call.metadata["refused"] == "limit"
    # Another caller is not affected.
    assert streamed(ring(client, "B1", caller="+254700000002"))


def test_calls_that_ended_or_never_connected_stop_counting(client, agent, limits, settings):
    ring(client, "A1")
    ring(client, "A2")
    # A1's bridge ended; A2 got a stream URL but its socket never came, long ago.
    Call.objects.filter(call_id="A1").update(bridge_started_at=timezone.now(),
                                             bridge_ended_at=timezone.now())  # fmt: skip
    stale = timezone.now() - timedelta(seconds=settings.STREAM_TOKEN_MAX_AGE + 1)
    Call.objects.filter(call_id="A2").update(stream_requested_at=stale)
    assert streamed(ring(client, "A3"))
    # A bridge whose end was never recorded (a crashed process) stops counting after an hour.
    ring(client, "A4")
    long_ago = timezone.now() - timedelta(minutes=62)
    Call.objects.filter(call_id__in=["A3", "A4"]).update(
        bridge_started_at=long_ago, stream_requested_at=long_ago
    )
    assert streamed(ring(client, "A5"))


def test_it_limits_calls_per_caller_per_hour(client, agent, limits):
    limits.LIMIT_CALLS_PER_CALLER_PER_HOUR = 3
    limits.LIMIT_LIVE_CALLS_PER_CALLER = 0
    for i in range(3):
        assert streamed(ring(client, f"H{i}"))
    assert busy(ring(client, "H3"))
    assert "had 3 calls in the last hour" in Call.objects.get(call_id="H3").end_reason
    # An hour later the caller may call again.
    earlier = timezone.now() - timedelta(minutes=61)
    Call.objects.filter(call_id__startswith="H").update(stream_requested_at=earlier)
    assert streamed(ring(client, "H4"))


def test_it_caps_live_calls_in_all_and_per_agent(client, agent, limits):
    limits.LIMIT_LIVE_CALLS_TOTAL = 2
    other = Agent(name="Sales", phone_number="+254711000200", instructions="Sell.")
    other.save()
    assert streamed(ring(client, "T1", caller="+254700000011"))
    assert streamed(ring(client, "T2", caller="+254700000012", number=other.phone_number))
    assert busy(ring(client, "T3", caller="+254700000013", number=other.phone_number))
    assert "(LIMIT_LIVE_CALLS_TOTAL)" in Call.objects.get(call_id="T3").end_reason

    limits.LIMIT_LIVE_CALLS_TOTAL = 0
    agent.max_live_calls = 1
    agent.save()
    assert busy(ring(client, "T4", caller="+254700000014"))
    assert "Clinic already has 1 live call(s) (its own limit)" in (
        Call.objects.get(call_id="T4").end_reason
    )
    assert streamed(ring(client, "T5", caller="+254700000015", number=other.phone_number))


def test_withheld_numbers_count_as_one_caller(client, agent, limits):
    assert streamed(ring(client, "W1", caller=""))
    assert streamed(ring(client, "W2", caller=""))
    assert busy(ring(client, "W3", caller=""))
    assert "a withheld number already has 2" in Call.objects.get(call_id="W3").end_reason


def test_it_rejects_a_blocked_number_without_a_word(client, agent, limits):
    BlockedNumber.objects.create(number="0700 000 001", note="abuse")
    root = ring(client, "X1")
    assert root.find("Reject") is not None and root.find("Say") is None
    call = Call.objects.get(call_id="X1")
    assert call.status == Status.REJECTED
    assert call.end_reason == f"refused: {CALLER} is blocked"
    assert streamed(ring(client, "X2", caller="+254700000002"))


def test_an_operator_blocks_callers_from_the_call_list(client, agent, limits):
    ring(client, "C1")
    operator = User.objects.create_superuser("amina", password="pw-amina-1")
    client.force_login(operator)
    page = client.get(reverse("admin:calls_call_changelist")).content.decode()
    assert "Limits in force: 2 live calls per caller; 20 calls per caller per hour" in page
    assert "no limit on live calls in all" in page
    response = client.post(
        reverse("admin:calls_call_changelist"),
        {"action": "block_callers", "_selected_action": [Call.objects.get().pk]},
    )
    assert response.status_code == 302
    assert BlockedNumber.objects.get().number == CALLER
    assert ring(client, "C2").find("Reject") is not None


needs_postgresql = pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="advisory locks: PostgreSQL only (SQLite writes one transaction at a time)",
)


def in_a_thread(fn, *args):
    """Run `fn` on a connection of its own; returns what it returned."""
    result: list = []

    def run() -> None:
        try:
            result.append(fn(*args))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return result[0]


def try_serialise(caller: str) -> str:
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            limits_module.serialise(caller, None)
        return "decided"
    except OperationalError:
        return "waited"


@contextlib.contextmanager
def holding(caller: str):
    """Another process deciding a set-up for `caller`, its locks held until the block ends."""
    held, release = threading.Event(), threading.Event()

    def hold() -> str:
        with transaction.atomic():
            limits_module.serialise(caller, None)
            held.set()
            release.wait(10)
        return "held"

    holder = threading.Thread(target=in_a_thread, args=(hold,))
    holder.start()
    assert held.wait(5)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_only_set_ups_that_share_a_limit_wait_for_each_other():
    with holding("+254700000001"):
        # Another caller's set-up goes ahead; the same caller's waits (their count is at stake).
        assert in_a_thread(try_serialise, "+254700000002") == "decided"
        assert in_a_thread(try_serialise, "+254700000001") == "waited"


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_with_a_total_every_set_up_waits_its_turn(settings):
    settings.LIMIT_LIVE_CALLS_TOTAL = 100  # every set-up counts the same calls
    with holding("+254700000001"):
        assert in_a_thread(try_serialise, "+254700000002") == "waited"
