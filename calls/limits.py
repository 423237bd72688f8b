"""Limits against burning credits, and numbers an operator blocked.

Counted in the database, so that every server process sees the same calls: a call is live from
the moment it is given a stream URL until its bridge ends (or, if nothing ever says so, until
it could not possibly still run). Checked twice: when the voice webhook is about to hand out a
stream URL, and again when the stream socket opens.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet

from agents.models import Agent
from calls.models import TERMINAL, BlockedNumber, Call, Direction
from streaming.ground.numbers import E164_PATTERN, WITHHELD, caller_form

# No bridge outlives OpenAI's 60-minute session: a call whose end was never recorded (a crashed
# process) stops counting after this.
LONGEST_BRIDGE = timedelta(minutes=61)
HOUR = timedelta(hours=1)
# Advisory locks taken on PostgreSQL while a limit is counted and a stream handed out, so that
# two processes cannot both see the last free place (SQLite's write lock does the same there):
# this class id for all calls, the next for an agent's, the one after for a caller's.
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


def caller_of(call: Call) -> str:
    """Who the limits and the blocklist count a call as: the staff member for a test call, else
    the caller's E.164 number however it was written, or WITHHELD if it is not a number."""
    if call.is_test:
        return call.caller_number
    return caller_form(call.caller_number, settings.DEFAULT_COUNTRY_CODE)


def same_caller(call: Call, who: str) -> Q:
    """The calls that are `who`'s, as stored. Numbers are stored in E.164 (calls.views), so one
    number is one exact match. Not a number is one caller however it was stored: the events
    webhook records `from` as sent, and rows older than the folding hold "anonymous", "alice"
    or a SIP URI, none of which may count as a caller of its own."""
    if call.is_test:
        return Q(caller_number=who, direction=Direction.BROWSER)
    if who != WITHHELD:
        return Q(caller_number=who)
    return ~Q(caller_number__regex=E164_PATTERN) & ~Q(direction=Direction.BROWSER)


def is_blocked(who: str) -> bool:
    """An operator blocked this caller. A blocked entry that is not a number blocks the withheld
    caller: "anonymous" and "Anonymous" are one caller here as in the limits."""
    if who and BlockedNumber.objects.filter(number=who).exists():
        return True
    # Entries are saved in E.164 when they are numbers; the rest are few (not numbers, or saved
    # before every spelling was folded), so they are read through caller_form each time.
    unfolded = BlockedNumber.objects.exclude(number__regex=E164_PATTERN)
    country = settings.DEFAULT_COUNTRY_CODE
    return any(caller_form(n, country) == who for n in unfolded.values_list("number", flat=True))


def serialise(caller: str, agent: Agent | None) -> None:
    """Inside a transaction, on PostgreSQL: decide the limits a call could race one at a time.

    Always per caller (their live calls and calls this hour); per agent when it has a cap; all
    calls when there is a total. Unrelated calls do not wait for each other: one lock for every
    call made a surge of set-ups queue behind each other (at 200 calls in a second, past
    daphne's 5 s handshake deadline). Taken in one order (total, agent, caller), so two never
    wait on each other in a circle. SQLite writes one transaction at a time anyway.
    """
    if connection.vendor != "postgresql":
        return
    keys = []
    if settings.LIMIT_LIVE_CALLS_TOTAL:
        keys.append((ADVISORY_LOCK, 0))
    if agent is not None and agent.max_live_calls:
        keys.append((ADVISORY_LOCK + 1, agent.pk % 2**31))
    # One lock for every spelling of a number, and one for everyone who is not a number (test
    # calls share it too: a lock over more calls than the count is still a correct one).
    who = caller_form(caller, settings.DEFAULT_COUNTRY_CODE)
    keys.append((ADVISORY_LOCK + 2, zlib.crc32(who.encode()) - 2**31))
    with connection.cursor() as cursor:
        for class_id, object_id in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [class_id, object_id])


def refusal(call: Call, agent: Agent, now: datetime) -> Refusal | None:
    """Why this call may not have an agent now, or None. `call` itself is not counted."""
    who = caller_of(call)
    shown = who or "a withheld number"
    if is_blocked(who):
        return Refusal(f"refused: {shown} is blocked", blocked=True)
    others = live_calls(now).exclude(pk=call.pk)
    per_caller = settings.LIMIT_LIVE_CALLS_PER_CALLER
    # Callers who withhold their number count as one caller: hiding it buys nothing.
    same = same_caller(call, who)
    if per_caller and others.filter(same).count() >= per_caller:
        return Refusal(f"refused: {shown} already has {per_caller} live call(s) "
                       "(LIMIT_LIVE_CALLS_PER_CALLER)")  # fmt: skip
    per_hour = settings.LIMIT_CALLS_PER_CALLER_PER_HOUR
    if per_hour:
        recent = Call.objects.filter(same, stream_requested_at__gte=now - HOUR)
        if recent.exclude(pk=call.pk).count() >= per_hour:
            return Refusal(f"refused: {shown} had {per_hour} calls in the last hour "
                           "(LIMIT_CALLS_PER_CALLER_PER_HOUR)")  # fmt: skip
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
