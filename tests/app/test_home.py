"""The operators' home page: today's and the week's calls with the answer rate and cost, each
agent's state, the calls that need attention (failed, handed over, flagged by a note), and the
help, each for those allowed to see it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from agents.notes import NoteField
from calls.home import figures
from calls.models import Call, Direction, Status

HOME = reverse("admin:index")


@pytest.fixture
def staff(client, db) -> User:
    user = User.objects.create_superuser("op", password="pw")
    client.force_login(user)
    return user


def call(
    agent: Agent,
    call_id: str,
    *,
    days_ago: int = 0,
    answered: bool = True,
    seconds: int = 60,
    usd: str = "0.10",
    **fields,
) -> Call:
    made = Call(
        call_id=call_id,
        caller_number="+254700000001",
        dialled_number=agent.phone_number,
        direction=fields.pop("direction", Direction.INBOUND),
    )
    made.attach_agent(agent)
    made.started_at = timezone.now() - timedelta(days=days_ago)
    if answered:
        made.answered_at = made.started_at
    made.duration_seconds = seconds
    made.openai_cost_usd = Decimal(usd)
    made.status = fields.pop("status", Status.COMPLETED)
    for name, value in fields.items():
        setattr(made, name, value)
    made.save()
    return made


@pytest.fixture
def week(agent, settings) -> Agent:
    settings.KES_PER_USD = Decimal("100")
    settings.SAUTIKIT_KES_PER_MINUTE = {"inbound": Decimal(0), "outbound": Decimal(3)}
    NoteField.objects.create(
        agent=agent, name="caller satisfied?", kind="yes_no", attention_when="no"
    )
    agent.save(author="tests")
    agent.publish("tests")
    call(agent, "today-1", seconds=90)
    call(
        agent,
        "today-2",
        answered=False,
        seconds=0,
        usd="0",
        status=Status.FAILED,
        failure_reason="OpenAI unavailable: OpenAI unreachable: [Errno 111] Connection refused",
    )
    call(agent, "today-test", direction=Direction.BROWSER)
    call(agent, "monday", days_ago=3, seconds=150, notes={"caller satisfied?": False})
    call(agent, "tuesday", days_ago=5, transfer_to="+254722000111")
    call(agent, "long-ago", days_ago=9)
    return agent


def test_it_counts_today_and_the_last_7_days(week):
    today, seven = figures.today_and_week()
    assert (today.calls, today.answered, today.answer_rate, today.test_calls) == (2, 1, 50, 1)
    assert today.minutes == 2  # 90 s
    assert today.cost_kes == Decimal("10.00")  # 0.10 USD at 100
    assert (seven.calls, seven.answered, seven.answer_rate) == (4, 3, 75)
    assert seven.minutes == 5  # 90 + 150 + 60 s
    assert seven.cost_kes == Decimal("30.00")


def test_the_home_page_shows_the_figures(client, staff, week):
    html = client.get(HOME).content.decode()
    assert '<dd class="big" id="today-calls">2</dd>' in html
    assert '<dd id="today-answered">50% (1)</dd>' in html
    assert '<dd id="week-cost">KES 30.00</dd>' in html
    assert "and 1 test call from the browser, not counted above." in html


def test_it_lists_the_calls_that_need_attention(client, staff, week):
    flagged, count = figures.needing_attention()
    assert count == 3
    assert [(a.call.call_id, a.why) for a in flagged] == [
        (
            "today-2",
            [
                "Failed. The agent could not answer: OpenAI could not be reached, or "
                "refused to start."
            ],
        ),
        ("monday", ["caller satisfied?: no"]),
        ("tuesday", ["Handed over to +254722000111."]),
    ]
    html = client.get(HOME).content.decode()
    assert "Needs attention (last 7 days): 3 calls" in html
    assert reverse("admin:calls_call_change", args=[flagged[1].call.pk]) in html


def test_it_shows_each_agents_state(client, staff, week):
    Agent.objects.create(name="Night line", phone_number="0722 000 222", instructions="x")
    Agent.objects.filter(name="Night line").update(published_revision=None)
    week.instructions = "Something new."
    week.save(author="tests")
    states = {s.agent.name: s for s in figures.agent_states()}
    assert states["Clinic"].published == 2 and states["Clinic"].waiting == ["instructions"]
    assert states["Clinic"].last_call is not None  # the newest phone call, not the test call
    assert states["Night line"].published is None and states["Night line"].last_call is None
    html = client.get(HOME).content.decode()
    assert "not published: takes no calls" in html
    assert reverse("admin:agents_agent_publish", args=[week.pk]) in html


def test_the_model_list_stays_one_click_away(client, staff, week):
    html = client.get(HOME).content.decode()
    assert '<details id="everything"><summary>Everything in the admin</summary>' in html
    assert reverse("admin:calls_call_changelist") in html


def test_figures_are_for_those_who_may_read_calls(client, week):
    editor = User.objects.create_user("editor", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="view_agent"))
    client.force_login(editor)
    html = client.get(HOME).content.decode()
    assert 'id="today"' not in html and 'id="attention"' not in html and "+254700000001" not in html
    assert 'id="agents-state"' in html
    assert reverse("admin:agents_agent_publish", args=[week.pk]) not in html  # may not publish


def test_someone_with_neither_sees_the_model_list(client, db):
    client.force_login(User.objects.create_user("nobody", is_staff=True))
    html = client.get(HOME).content.decode()
    assert 'id="agents-state"' not in html and 'id="today"' not in html
    assert '<details id="everything" open>' in html


def test_the_help_is_the_operators_guide(client, staff):
    html = client.get(reverse("operators_help")).content.decode()
    assert "<h1>What operators see, and what agents can do</h1>" in html
    assert '<img alt="agent" src="screenshots/agent.png"' in html
    picture = client.get(reverse("operators_help_picture", args=["agent.png"]))
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert client.get(reverse("operators_help_page", args=["engines.md"])).status_code == 200


@pytest.mark.parametrize(
    "page", ["../settings.py", "..%2Fsettings.py", "nothing.md", "x.MD", "deploy.md"]
)
def test_the_help_serves_only_the_documents(client, staff, page):
    assert client.get(f"/admin/help/{page}").status_code == 404
    assert client.get(f"/admin/help/screenshots/{page}").status_code == 404


def test_the_help_is_for_staff(client, db):
    response = client.get(reverse("operators_help"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_note_flags_only_the_calls_of_versions_that_flag_it(week):
    first = week.revisions.get(number=1)  # before "caller satisfied?" flagged anything
    old = call(week, "before-the-flag", days_ago=1, notes={"caller satisfied?": False})
    Call.objects.filter(pk=old.pk).update(agent_revision=first)
    NoteField.objects.create(
        agent=week,
        name="reason",
        kind="choice",
        choices="booking\ncomplaint",
        attention_when="complaint",
    )
    week.save(author="tests")
    week.publish("tests")
    call(week, "complaint", notes={"reason": "complaint", "caller satisfied?": True})
    call(week, "booking", notes={"reason": "booking", "caller satisfied?": True})
    flagged, count = figures.needing_attention()
    assert [a.call.call_id for a in flagged] == ["complaint", "today-2", "monday", "tuesday"]
    assert flagged[0].why == ["reason: complaint"]
    assert count == 4


def test_the_attention_list_shows_the_newest_and_counts_them_all(week, settings, monkeypatch):
    monkeypatch.setattr(figures, "ATTENTION_SHOWN", 2)
    flagged, count = figures.needing_attention()
    assert [a.call.call_id for a in flagged] == ["today-2", "monday"] and count == 3


def test_a_flag_matches_the_answer_as_calls_store_it():
    from agents.notes import needs_attention

    yes_no = {"name": "happy?", "kind": "yes_no", "attention_when": "no"}
    assert needs_attention(yes_no, False) and not needs_attention(yes_no, True)
    assert not needs_attention(yes_no, 0)  # a number is not an answer of a yes-or-no note
    listed = {"name": "reason", "kind": "choice", "attention_when": "complaint"}
    assert needs_attention(listed, "complaint") and not needs_attention(listed, "booking")
    assert not needs_attention({"name": "x", "kind": "yes_no"}, False)  # flags nothing
