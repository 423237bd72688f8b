"""What operators see per agent: last week's calls, lengths, answer times and endings, and
cost per day, on the agents list and the agent's page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from calls import agent_stats as stats
from calls.models import Call, Turn

pytestmark = pytest.mark.django_db


@pytest.fixture
def week(agent):
    now = timezone.now()
    plan = [  # (age, seconds, ended by, latencies, direction)
        (timedelta(hours=1), 60, "caller", [300, 500], "inbound"),
        (timedelta(hours=2), 120, "agent", [700], "outbound"),
        (timedelta(days=1), 30, "error", [], "inbound"),
        (timedelta(days=2), 90, "caller", [2000], "inbound"),
        (timedelta(days=9), 600, "caller", [9000], "inbound"),  # older than a week
    ]
    for i, (age, seconds, ended_by, latencies, direction) in enumerate(plan):
        call = Call.objects.create(
            call_id=f"W{i}", agent=agent, started_at=now - age, duration_seconds=seconds,
            ended_by=ended_by, direction=direction, openai_cost_usd=Decimal("0.01"),
        )  # fmt: skip
        for n, latency in enumerate(latencies):
            Turn.objects.create(call=call, role="agent", item_id=f"a{n}", latency_ms=latency)
    return agent


def test_it_sums_up_the_last_seven_days(week):
    figures = stats.last_week([week.pk])[week.pk]
    assert figures.calls == 4
    assert figures.median_duration_s == 75
    assert figures.latency_p50_ms == 600  # between 500 and 700
    assert figures.latency_p95_ms == 1805  # 85% of the way from 700 to 2000
    assert figures.ending_shares() == [("caller", 50), ("agent", 25), ("error", 25)]


def test_percentiles_of_one_or_no_value():
    assert stats.percentile([], 95) is None
    assert stats.percentile([420], 95) == 420


def test_it_totals_cost_per_day(week, settings):
    settings.KES_PER_USD = Decimal("100")
    days = stats.per_day(week.pk)
    assert sum(d.calls for d in days) == 5
    assert sum(d.seconds for d in days) == 900
    assert sum(d.cost.sautikit_kes for d in days) == Decimal("6.00")  # 120 s out at 3.00/min
    assert sum(d.cost.total_kes for d in days) == Decimal("11.00")  # + 5 x 0.01 USD at 100
    assert [d.day for d in days] == sorted((d.day for d in days), reverse=True)
    assert len({d.day for d in days}) == len(days)


def test_the_agents_list_shows_the_week(week, client):
    client.force_login(User.objects.create_superuser("op", password="pw"))
    html = client.get(reverse("admin:agents_agent_changelist")).content.decode()
    assert f'?agent__id__exact={week.pk}">4</a>' in html
    assert "1:15" in html  # median length
    assert "600 ms" in html
    assert "caller 50% · agent 25% · error 25%" in html


def test_the_agent_page_shows_answer_times_and_cost_per_day(week, client):
    client.force_login(User.objects.create_superuser("op", password="pw"))
    page = client.get(reverse("admin:agents_agent_change", args=[week.pk])).content.decode()
    stats_url = reverse("admin:agents_agent_stats", args=[week.pk])
    assert f'href="{stats_url}" id="stats-link"' in page  # its own page, one click away
    assert "answer time, slowest" not in page
    html = client.get(stats_url).content.decode()
    assert "answer time, slowest 1 in 20 (p95)" in html
    assert "1805 ms" in html
    assert "cost per day (last 14 days)" in html.lower()
    assert "Sautikit (KES)" in html


def test_an_agent_without_calls_shows_dashes(agent, client):
    client.force_login(User.objects.create_superuser("op", password="pw"))
    html = client.get(reverse("admin:agents_agent_changelist")).content.decode()
    assert '">0</a>' in html
    html = client.get(reverse("admin:agents_agent_stats", args=[agent.pk])).content.decode()
    assert "No calls in the last 14 days." in html


def test_the_figures_need_the_permission_to_view_agents(agent, client):
    client.force_login(User.objects.create_user("nobody", password="pw", is_staff=True))
    response = client.get(reverse("admin:agents_agent_stats", args=[agent.pk]))
    assert response.status_code == 403
