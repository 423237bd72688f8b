"""Limits against burning credits, and numbers an operator blocked.

Counted in the database, so that every server process sees the same calls: a call is live from
the moment it is given a stream URL until its bridge ends (or, if nothing ever says so, until
it could not possibly still run). Checked twice: when the voice webhook is about to hand out a
stream URL, and again when the stream socket opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet

from agents.models import Agent
from calls.models import TERMINAL, BlockedNumber, Call

# No bridge outlives OpenAI's 60-minute session: a call whose end was never recorded (a crashed
# process) stops counting after this.
LONGEST_BRIDGE = timedelta(minutes=61)
HOUR = timedelta(hours=1)
# Taken by the voice webhook on PostgreSQL while it counts and hands out a stream, so that two
# processes cannot both see the last free place (SQLite's write lock does the same there).
ADVISORY_LOCK = 0x5A071


@dataclass(frozen=True)
class Refusal:
    reason: str  # for the call's record and the admin
    blocked: bool = False  # an operator blocked the caller: rejected without a word


def live_calls(now: datetime) -> QuerySet[Call]:
    """Calls holding (or about to hold) an OpenAI session."""
    token_age = timedelta(seconds=settings.STREAM_TOKEN_MAX_AGE)
    return Call.objects.filter(
        Q(bridge_started_at__isnull=False) | Q(stream_requested_at__gte=now - token_age),
        stream_requested_at__gte=now - LONGEST_BRIDGE,
        bridge_ended_at__isnull=True,
    ).exclude(status__in=TERMINAL)


def serialise() -> None:
    """Inside a transaction: one stream handed out at a time, across processes."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])


def refusal(call: Call, agent: Agent, now: datetime) -> Refusal | None:
    """Why this call may not have an agent now, or None. `call` itself is not counted."""
    caller = call.caller_number
    if caller and BlockedNumber.objects.filter(number=caller).exists():
        return Refusal(f"refused: {caller} is blocked", blocked=True)
    others = live_calls(now).exclude(pk=call.pk)
    per_caller = settings.LIMIT_LIVE_CALLS_PER_CALLER
    # Callers who withhold their number count as one caller: hiding it buys nothing.
    if per_caller and others.filter(caller_number=caller).count() >= per_caller:
        return Refusal(f"refused: {caller or 'a withheld number'} already has {per_caller} "
                       "live call(s) (LIMIT_LIVE_CALLS_PER_CALLER)")  # fmt: skip
    per_hour = settings.LIMIT_CALLS_PER_CALLER_PER_HOUR
    if per_hour:
        recent = Call.objects.filter(caller_number=caller, stream_requested_at__gte=now - HOUR)
        if recent.exclude(pk=call.pk).count() >= per_hour:
            return Refusal(f"refused: {caller or 'a withheld number'} had {per_hour} calls in "
                           "the last hour (LIMIT_CALLS_PER_CALLER_PER_HOUR)")  # fmt: skip
    if agent.max_live_calls and others.filter(agent=agent).count() >= agent.max_live_calls:
        return Refusal(f"refused: {agent.name} already has {agent.max_live_calls} live call(s) "
                       "(its own limit)")  # fmt: skip
    total = settings.LIMIT_LIVE_CALLS_TOTAL
    if total and others.count() >= total:
        return Refusal(f"refused: {total} calls already live (LIMIT_LIVE_CALLS_TOTAL)")
    return None


def describe() -> list[str]:
    """The limits in force, in words for operators."""

    def cap(value: int, words: str) -> str:
        return f"{value} {words}" if value else f"no limit on {words}"

    return [
        cap(settings.LIMIT_LIVE_CALLS_PER_CALLER, "live calls per caller"),
        cap(settings.LIMIT_CALLS_PER_CALLER_PER_HOUR, "calls per caller per hour"),
        cap(settings.LIMIT_LIVE_CALLS_TOTAL, "live calls in all"),
        "each agent's own limit, if it has one",
    ]
