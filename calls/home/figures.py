"""What the home page counts, from the calls of the period (one phone line's volumes): calls,
how many the agent answered, minutes and cost; each agent's state; and the calls a person
should look at (failed, handed over, or flagged by one of the agent's notes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from agents.labels import label
from agents.models import Agent
from agents.notes import needs_attention
from calls.in_words import ending
from calls.models import Call, Direction, Status

# The most calls the attention list shows; the count says how many there were.
ATTENTION_SHOWN = 20
WEEK_DAYS = 7


def start_of_day(days_ago: int = 0) -> datetime:
    """Midnight `days_ago` days back, in the operators' time zone."""
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def phone_calls(since: datetime) -> QuerySet[Call]:
    """Calls from phones (not the browser's test calls) since `since`."""
    return Call.objects.filter(started_at__gte=since).exclude(direction=Direction.BROWSER)


@dataclass
class Period:
    calls: int = 0
    answered: int = 0
    seconds: int = 0
    cost_kes: Decimal = Decimal(0)
    test_calls: int = 0

    @property
    def answer_rate(self) -> int | None:
        """Percent of the phone calls the agent answered; None with no calls."""
        return round(100 * self.answered / self.calls) if self.calls else None

    @property
    def minutes(self) -> int:
        return round(self.seconds / 60)


def period(since: datetime) -> Period:
    totals = Period()
    fields = (
        "direction",
        "duration_seconds",
        "started_at",
        "answered_at",
        "ended_at",
        "openai_cost_usd",
        "analysis_cost_usd",
    )
    for call in Call.objects.filter(started_at__gte=since).only(*fields):
        if call.direction == Direction.BROWSER:
            totals.test_calls += 1
            continue
        totals.calls += 1
        totals.answered += call.answered_at is not None
        totals.seconds += call.billed_seconds
        totals.cost_kes += call.cost.total_kes
    return totals


@dataclass
class AgentState:
    agent: Agent
    published: int | None  # the version callers get, or None: not published
    waiting: list[str] = field(default_factory=list)  # settings a draft changes
    last_call: datetime | None = None


def agent_states() -> list[AgentState]:
    agents = Agent.objects.select_related("published_revision").annotate(
        last_call=Max("calls__started_at", filter=~Q(calls__direction=Direction.BROWSER))
    )
    return [
        AgentState(
            agent=agent,
            published=agent.published_revision.number if agent.published_revision else None,
            waiting=[label(n) for n in agent.unpublished_changes()]
            if agent.published_revision
            else [],
            last_call=agent.last_call,
        )
        for agent in agents.order_by("name")
    ]


@dataclass
class Attention:
    call: Call
    why: list[str]


def needing_attention(since: datetime) -> tuple[list[Attention], int]:
    """Calls since `since` that a person should look at, newest first (at most
    ATTENTION_SHOWN), and how many there were in all."""
    flagged: list[Attention] = []
    calls = (
        phone_calls(since)
        .select_related("agent", "agent_revision")
        .only(
            "call_id",
            "caller_number",
            "started_at",
            "status",
            "end_reason",
            "failure_reason",
            "transfer_to",
            "notes",
            "agent__name",
            "agent_revision__snapshot",
        )
        .order_by("-started_at")
    )
    for call in calls.iterator(chunk_size=500):
        why = reasons(call)
        if why:
            flagged.append(Attention(call, why))
    return flagged[:ATTENTION_SHOWN], len(flagged)


def reasons(call: Call) -> list[str]:
    """Why `call` needs someone's attention, in words (none: it does not)."""
    why = []
    if call.status == Status.FAILED:
        why.append(
            f"Failed. {ending(call.failure_reason or call.end_reason).words or 'no reason given.'}"
        )
    if call.transfer_to:
        why.append(f"Handed over to {call.transfer_to}.")
    listed = call.agent_revision.value("notes") if call.agent_revision else []
    for note in listed or []:
        value = (call.notes or {}).get(note.get("name"))
        if needs_attention(note, value):
            shown = ("yes" if value else "no") if isinstance(value, bool) else value
            why.append(f"{note['name']}: {shown}")
    return why
