"""What the home page counts, from the calls of the period (one phone line's volumes): calls,
how many the agent answered, minutes and cost; each agent's state; and the calls a person
should look at (failed, handed over, or flagged by one of the agent's notes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Max, Q
from django.db.models.fields.json import KeyTransform

from agents.labels import label
from agents.models import Agent, AgentRevision
from agents.notes import attention_value, needs_attention
from calls.agent_stats import since, start_of_today
from calls.in_words import ending
from calls.models import Call, Direction, Status

# The most calls the attention list shows; the count says how many there were.
ATTENTION_SHOWN = 20
WEEK_DAYS = 7


def last_week() -> datetime:
    """The start of "the last 7 days", as the agents list counts them."""
    return since(WEEK_DAYS)


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

    def count(self, call: Call) -> None:
        if call.direction == Direction.BROWSER:
            self.test_calls += 1
            return
        self.calls += 1
        self.answered += call.answered_at is not None
        self.seconds += call.billed_seconds
        self.cost_kes += call.cost.total_kes


def today_and_week() -> tuple[Period, Period]:
    """Today's calls and the last 7 days', from one pass over the week's (today is in it)."""
    today, week = Period(), Period()
    midnight = start_of_today()
    fields = (
        "direction",
        "duration_seconds",
        "started_at",
        "answered_at",
        "ended_at",
        "openai_cost_usd",
        "analysis_cost_usd",
    )
    for call in Call.objects.filter(started_at__gte=last_week()).only(*fields).iterator(2000):
        week.count(call)
        if call.started_at >= midnight:
            today.count(call)
    return today, week


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


def needing_attention() -> tuple[list[Attention], int]:
    """The last 7 days' phone calls a person should look at, newest first (at most
    ATTENTION_SHOWN), and how many there are in all: chosen by the database, so the page costs
    the same however many calls the week had."""
    calls = Call.objects.filter(started_at__gte=last_week()).exclude(direction=Direction.BROWSER)
    # Each version the week's calls ran on, read once, for the notes it flags calls on.
    used = calls.exclude(agent_revision=None).values("agent_revision_id").distinct()
    flags: dict[int, list[dict[str, Any]]] = {}
    for revision in AgentRevision.objects.filter(pk__in=used).only("snapshot"):
        flagging = [n for n in revision.value("notes") or [] if n.get("attention_when")]
        if flagging:
            flags[revision.pk] = flagging
    wanted = Q(status=Status.FAILED) | ~Q(transfer_to="")
    for n, (name, answer, revisions) in enumerate(_flagged_answers(flags)):
        calls = calls.annotate(**{f"noted_{n}": KeyTransform(name, "notes")})
        wanted |= Q(agent_revision_id__in=revisions, **{f"noted_{n}": answer})
    chosen = calls.filter(wanted)
    shown = (
        chosen.select_related("agent")
        .only(
            "call_id",
            "caller_number",
            "started_at",
            "status",
            "end_reason",
            "failure_reason",
            "transfer_to",
            "notes",
            "agent_revision_id",
            "agent__name",
        )
        .order_by("-started_at")[:ATTENTION_SHOWN]
    )
    return [
        Attention(call, reasons(call, flags.get(call.agent_revision_id or 0, []))) for call in shown
    ], chosen.count()


def _flagged_answers(flags: dict[int, list[dict[str, Any]]]) -> list[tuple[str, Any, list[int]]]:
    """(note name, the answer as the call stores it, the versions flagging it)."""
    by_answer: dict[tuple[str, Any], list[int]] = {}
    for revision, notes in flags.items():
        for note in notes:
            by_answer.setdefault((note["name"], attention_value(note)), []).append(revision)
    return [(name, answer, revisions) for (name, answer), revisions in by_answer.items()]


def reasons(call: Call, flagging: list[dict[str, Any]]) -> list[str]:
    """Why `call` needs someone's attention, in words (none: it does not)."""
    why = []
    if call.status == Status.FAILED:
        said = ending(call.failure_reason or call.end_reason).words or "no reason given."
        why.append(f"Failed. {said}")
    if call.transfer_to:
        why.append(f"Handed over to {call.transfer_to}.")
    for note in flagging:
        value = (call.notes or {}).get(note.get("name"))
        if needs_attention(note, value):
            shown = ("yes" if value else "no") if isinstance(value, bool) else value
            why.append(f"{note['name']}: {shown}")
    return why
