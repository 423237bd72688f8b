from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from calls.models import Call
from tests.helpers import agent_form, load, post_form, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("operator", password="pw-operator-1")
    client.force_login(user)
    return client


@pytest.fixture
def call(client, agent, on_recording_day) -> Call:
    # Posted as on the day the payloads were recorded: their times are then believed.
    post_form(client, "/sautikit/voice/", load("voice_incoming"))
    post_json(client, "/sautikit/stream-status/", load("stream_started"))
    post_json(client, "/sautikit/events/", load("event_call_completed"))
    return Call.objects.get()


PAGES = [
    "admin:index",
    "admin:agents_agent_changelist",
    "admin:agents_agent_add",
    "admin:agents_agentrevision_changelist",
    "admin:calls_call_changelist",
]


@pytest.mark.parametrize("name", PAGES)
def test_it_refuses_anonymous_users(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_refuses_logged_in_users_who_are_not_staff(client, call):
    client.force_login(User.objects.create_user("caller"))
    response = client.get(reverse("admin:calls_call_change", args=[call.pk]))
    assert response.status_code == 302


@pytest.mark.parametrize("name", PAGES)
def test_it_renders_for_staff(staff, call, name):
    assert staff.get(reverse(name)).status_code == 200


def test_it_lists_agents_with_calls_today(staff, agent, call):
    old = Call.objects.create(call_id="old", agent=agent)
    Call.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(days=2))
    response = staff.get(reverse("admin:agents_agent_changelist"))
    content = response.content.decode()
    assert "Clinic" in content
    assert "+254711000100" in content
    assert '<td class="field-calls_today">1</td>' in content


def test_it_finds_an_agent_by_a_number_written_locally(staff, agent):
    response = staff.get(reverse("admin:agents_agent_changelist"), {"q": "0711 000 100"})
    assert response.context["cl"].result_count == 1
    response = staff.get(reverse("admin:agents_agent_changelist"), {"q": "Clin"})
    assert response.context["cl"].result_count == 1


def test_it_saves_an_agent_from_the_form_with_a_revision(staff):
    response = staff.post(reverse("admin:agents_agent_add"), agent_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    agent = Agent.objects.get()
    assert agent.phone_number == "+254722000000"
    assert agent.current_revision.author.username == "operator"
    page = staff.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    assert "History of changes" in page
    revision_page = staff.get(
        reverse("admin:agents_agentrevision_change", args=[agent.current_revision.pk])
    )
    assert "Book things." in revision_page.content.decode()


def test_one_save_of_an_agent_and_its_tools_is_one_revision(staff, settings):
    settings.TOOL_ALLOW_LOOPBACK = True
    tool = {
        "tools-0-name": "look_up",
        "tools-0-description": "Looks up a booking.",
        "tools-0-parameters": '{"type": "object", "properties": {}, "required": []}',
        "tools-0-endpoint": "http://127.0.0.1:9/look-up",
        "tools-0-timeout_seconds": "5",
        "tools-0-secret_env": "",
        "tools-0-is_enabled": "on",
    }
    response = staff.post(
        reverse("admin:agents_agent_add"), agent_form(**{"tools-TOTAL_FORMS": "1"}, **tool)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    agent = Agent.objects.get()
    [revision] = agent.revisions.all()
    assert revision.author.username == "operator"
    assert [t["endpoint"] for t in revision.snapshot["tools"]] == ["http://127.0.0.1:9/look-up"]

    # Changing the instructions and the tool's address together: one more revision, not two.
    [saved] = agent.tools.all()
    edit = {**tool, "tools-0-id": str(saved.pk), "tools-0-agent": str(agent.pk),
            "tools-0-endpoint": "http://127.0.0.1:9/v2"}  # fmt: skip
    response = staff.post(
        reverse("admin:agents_agent_change", args=[agent.pk]),
        agent_form(instructions="Book things kindly.",
                   **{"tools-TOTAL_FORMS": "1", "tools-INITIAL_FORMS": "1"}, **edit),
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = agent.current_revision
    assert latest.number == 2
    assert set(latest.changes) == {"instructions", "tools"}
    assert [t.endpoint for t in latest.call_settings().tools] == ["http://127.0.0.1:9/v2"]
    assert [t.endpoint for t in revision.call_settings().tools] == ["http://127.0.0.1:9/look-up"]


def test_it_never_shows_a_signing_secret(staff, agent, monkeypatch):
    monkeypatch.setenv("SAUTIKIT_SIGNING_SECRET_CLINIC", "top-secret-value")
    agent.signing_secret_env = "SAUTIKIT_SIGNING_SECRET_CLINIC"
    agent.save()
    page = staff.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    assert "top-secret-value" not in page
    assert "Set in the server&#x27;s settings" in page


def test_it_shows_a_call_with_its_events_in_order(client, staff, agent):
    post_form(client, "/sautikit/voice/", load("voice_incoming"))
    post_json(client, "/sautikit/stream-status/", load("stream_started"))
    soon = (timezone.now() + timedelta(seconds=30)).isoformat()
    post_json(client, "/sautikit/events/", {**load("event_call_completed"), "occurred_at": soon})
    call = Call.objects.get()
    page = staff.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    events = page[page.index("everything Sautikit told us") :]
    positions = [events.index(f"<td>{kind}</td>") for kind in ("incoming", "StreamStarted")]
    positions.append(events.index("<td>call.completed</td>"))
    assert positions == sorted(positions)
    assert "0:47" in page
    assert "+254700000001" in page


def test_it_keeps_call_history_read_only(staff, call):
    change_url = reverse("admin:calls_call_change", args=[call.pk])
    page = staff.get(change_url).content.decode()
    assert 'name="_save"' not in page
    response = staff.post(change_url, {"status": "failed"})
    assert response.status_code == 403
    assert staff.get(reverse("admin:calls_call_delete", args=[call.pk])).status_code == 403
    assert staff.get(reverse("admin:calls_call_add")).status_code == 403
    call.refresh_from_db()
    assert call.status == "completed"


def test_it_filters_and_searches_calls(staff, call):
    url = reverse("admin:calls_call_changelist")
    for params in (
        {"status__exact": "completed"},
        {"direction__exact": "inbound"},
        {"agent__id__exact": str(call.agent_id)},
        {"q": call.call_id},
        {"q": "0700 000 001"},
        {"started_at__gte": (timezone.now() - timedelta(hours=1)).isoformat()},
    ):
        response = staff.get(url, params)
        assert response.context["cl"].result_count == 1, params
    assert staff.get(url, {"status__exact": "failed"}).context["cl"].result_count == 0


def test_it_shows_times_in_the_operator_time_zone(staff, call, settings):
    assert settings.TIME_ZONE == "Africa/Nairobi"
    page = staff.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    # 09:15:51 UTC is 12:15 in Nairobi.
    assert "12:15" in page


@pytest.mark.parametrize("page", ["admin:index", "admin:calls_call_changelist"])
def test_it_warns_operators_while_webhooks_are_unsigned(staff, settings, page):
    assert b'id="unsigned-webhooks"' in staff.get(reverse(page)).content
    settings.SAUTIKIT_SIGNING_SECRET = "whsec_live"
    assert b'id="unsigned-webhooks"' not in staff.get(reverse(page)).content


def test_a_version_shows_what_has_changed_since(staff, agent):
    first = agent.current_revision
    agent.instructions = "You book appointments.\nAlways confirm the date twice."
    agent.voice = "cedar"
    agent.save(author="tests")
    assert set(first.differences_from_now()) == {"instructions", "voice"}
    page = staff.get(reverse("admin:agents_agentrevision_change", args=[first.pk]))
    text = page.content.decode()
    assert "Compared with the agent now" in text
    # The instructions' new words marked in the text, the voice by its name.
    assert "You book appointments.<ins>\nAlways confirm the date twice.</ins>" in text
    assert "Marin → Cedar" in text
    latest = staff.get(
        reverse("admin:agents_agentrevision_change", args=[agent.current_revision.pk])
    )
    assert "The agent is as this version left it." in latest.content.decode()


def test_it_refuses_more_tools_than_an_agent_may_have(staff, settings):
    """Every tool goes to OpenAI with each session: a crafted form with more is refused whole."""
    from agents.admin import MAX_TOOLS

    settings.TOOL_ALLOW_LOOPBACK = True
    n = MAX_TOOLS + 1
    tools = {}
    for i in range(n):
        row = {"name": f"look_up_{i}", "description": "Looks up.", "timeout_seconds": "5",
               "parameters": '{"type": "object", "properties": {}}', "is_enabled": "on",
               "endpoint": "http://127.0.0.1:9/look-up"}  # fmt: skip
        tools.update({f"tools-{i}-{key}": value for key, value in row.items()})
    response = staff.post(
        reverse("admin:agents_agent_add"), agent_form(**{"tools-TOTAL_FORMS": str(n)}, **tools)
    )
    assert response.status_code == 200
    assert f"Please submit at most {MAX_TOOLS} forms" in response.content.decode()
    assert not Agent.objects.exists()
