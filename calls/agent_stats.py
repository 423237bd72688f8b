"""How an agent's calls went, for the people tuning its prompt: last week's figures per agent
and cost per day. Computed in Python from the calls of the period (medians and percentiles are
not portable SQL), which suits the volumes of one phone line."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from statistics import median, quantiles

from django.utils import timezone

from calls.costs import Cost
from calls.models import Call, Role, Turn
from streaming.core.call.endings import EndedBy

ENDINGS = (EndedBy.CALLER, EndedBy.AGENT, EndedBy.LIMIT, EndedBy.ERROR)


def percentile(values: list[int], p: int) -> int | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return round(quantiles(values, n=100, method="inclusive")[p - 1])


@dataclass
class Week:
    calls: int = 0
    durations_s: list[int] = field(default_factory=list)
    latencies_ms: list[int] = field(default_factory=list)
    endings: Counter[str] = field(default_factory=Counter)

    @property
    def median_duration_s(self) -> int | None:
        return round(median(self.durations_s)) if self.durations_s else None

    @property
    def latency_p50_ms(self) -> int | None:
        return percentile(self.latencies_ms, 50)

    @property
    def latency_p95_ms(self) -> int | None:
        return percentile(self.latencies_ms, 95)

    def endings_text(self) -> str:
        """ "caller 60% · agent 30% · error 10%", or a dash with no known endings."""
        return " · ".join(f"{who} {share}%" for who, share in self.ending_shares()) or "—"

    def ending_shares(self) -> list[tuple[str, int]]:
        """(who, percent) for each way calls ended, of the calls whose ending is known."""
        known = sum(self.endings[e] for e in ENDINGS)
        if not known:
            return []
        return [
            (EndedBy(e).label.lower(), round(100 * self.endings[e] / known))
            for e in ENDINGS
            if self.endings[e]
        ]


def since(days: int) -> datetime:
    return timezone.now() - timedelta(days=days)


def start_of_today() -> datetime:
    """Midnight in the operators' time zone, so "today" means their day."""
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def last_week(agent_ids: list[int], days: int = 7) -> dict[int, Week]:
    start = since(days)
    weeks: dict[int, Week] = defaultdict(Week)
    calls = Call.objects.filter(agent_id__in=agent_ids, started_at__gte=start).only(
        "agent_id", "duration_seconds", "started_at", "answered_at", "ended_at", "ended_by"
    )
    for call in calls:
        if call.agent_id is None:  # not returned: the query asks for these agents' calls
            continue
        week = weeks[call.agent_id]
        week.calls += 1
        if call.duration is not None:
            week.durations_s.append(call.billed_seconds)
        week.endings[call.ended_by] += 1
    latencies = Turn.objects.filter(
        call__agent_id__in=agent_ids,
        call__started_at__gte=start,
        role=Role.AGENT,
        latency_ms__isnull=False,
    ).values_list("call__agent_id", "latency_ms")
    for agent_id, latency in latencies:
        if agent_id is not None and latency is not None:  # always, by the query
            weeks[agent_id].latencies_ms.append(latency)
    return weeks


@dataclass
class Day:
    day: date
    calls: int = 0
    seconds: int = 0
    openai_usd: Decimal = Decimal(0)
    sautikit_kes: Decimal = Decimal(0)

    @property
    def minutes(self) -> str:
        return f"{self.seconds / 60:.1f}"

    @property
    def cost(self) -> Cost:
        return Cost(self.openai_usd, self.sautikit_kes)


def per_day(agent_id: int, days: int = 14) -> list[Day]:
    """Calls, minutes and cost per day (in the operators' time zone), newest first."""
    by_day: dict[date, Day] = {}
    calls = Call.objects.filter(agent_id=agent_id, started_at__gte=since(days)).only(
        "direction", "duration_seconds", "started_at", "answered_at", "ended_at", "openai_cost_usd"
    )
    for call in calls:
        day = timezone.localdate(call.started_at)
        total = by_day.setdefault(day, Day(day))
        cost = call.cost
        total.calls += 1
        total.seconds += call.billed_seconds
        total.openai_usd += cost.openai_usd
        total.sautikit_kes += cost.sautikit_kes
    return sorted(by_day.values(), key=lambda d: d.day, reverse=True)
