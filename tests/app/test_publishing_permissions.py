"""Everything that changes what phone callers get goes through publishing: a new agent, its
number, “active”, its limits of calls at once and its Sautikit secret, its tools. Staff without
“Can publish” see those settings but cannot change them, by the form or by a crafted POST."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from agents.models import Agent, Tool
from calls import responses
from calls.models import Call, Status
from tests.helpers import DEMO_NUMBER, EDITOR_PERMISSIONS, agent_form, load, post_form, staff

pytestmark = pytest.mark.django_db

VOICE = "/sautikit/voice/"
NEW_NUMBER = "+254722000000"  # agent_form's "0722 000 000"


@pytest.fixture
def editor(client: Client) -> User:
    user = staff("editor", *EDITOR_PERMISSIONS)
    client.force_login(user)
    return user


@pytest.fixture
def publisher() -> User:
    return staff("publisher", *EDITOR_PERMISSIONS, "publish_agent")


def ring(number: str, call_id: str) -> list[ET.Element]:
    """A call to `number` as Sautikit makes it; the elements of the answer."""
    payload = {**load("voice_incoming"), "sessionId": call_id, "destinationNumber": number}
    response = post_form(Client(), VOICE, payload)
    assert response.status_code == 200
    return list(ET.fromstring(response.content))


def change(client: Client, agent: Agent, **fields: str):
    """The agent's page saved, with `fields` changed (anything else as saved)."""
    saved = {"name": agent.name, "phone_number": agent.phone_number,
             "instructions": agent.instructions, "greeting": agent.greeting,
             "voice": agent.voice}  # fmt: skip
    form = agent_form(**{**saved, **fields})
    return client.post(reverse("admin:agents_agent_change", args=[agent.pk]), form)


def test_it_keeps_a_new_agent_from_an_editor_a_draft_that_takes_no_calls(client, editor):
    response = client.post(reverse("admin:agents_agent_add"),
                           agent_form(instructions="Tell callers the clinic is closed."),
                           follow=True)  # fmt: skip
    assert response.status_code == 200
    assert "Saved, not published" in response.content.decode()
    agent = Agent.objects.get(phone_number=NEW_NUMBER)
    assert agent.published_revision is None
    assert agent.current_revision.published_at is None
    assert agent.current_revision.published_by == ""

    answer = ring(NEW_NUMBER, "to-a-draft")
    assert [e.tag for e in answer] == ["Say", "Hangup"]
    assert answer[0].text == responses.INACTIVE_AGENT
    call = Call.objects.get(call_id="to-a-draft")
    assert call.status == Status.REJECTED
    assert call.end_reason == "agent Bookings is not published yet"
    assert call.stream_requested_at is None


def test_it_answers_a_new_agent_once_someone_who_may_publish_publishes_it(
    client, editor, publisher
):
    client.post(reverse("admin:agents_agent_add"), agent_form())
    agent = Agent.objects.get(phone_number=NEW_NUMBER)
    client.force_login(publisher)
    page = client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    assert "Not published:" in page and 'id="publish"' in page

    response = client.post(reverse("admin:agents_agent_publish", args=[agent.pk]))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.published_revision.number == 1
    assert agent.published_revision.published_by == "publisher"
    assert [e.tag for e in ring(NEW_NUMBER, "after-publishing")] == ["Stream"]


def test_it_publishes_a_new_agent_from_someone_who_may_publish_at_once(client, publisher):
    client.force_login(publisher)
    client.post(reverse("admin:agents_agent_add"), agent_form())
    agent = Agent.objects.get(phone_number=NEW_NUMBER)
    assert agent.published_revision.published_by == "publisher"


def test_it_leaves_a_never_published_agent_unpublished_when_a_publisher_only_saves_it(
    client, editor, publisher
):
    client.post(reverse("admin:agents_agent_add"), agent_form())
    agent = Agent.objects.get(phone_number=NEW_NUMBER)
    client.force_login(publisher)
    assert change(client, agent, name="Bookings (renamed)").status_code == 302
    agent.refresh_from_db()
    # Publishing someone else's first version is a decision: the Publish button, not a Save.
    assert agent.name == "Bookings (renamed)" and agent.published_revision is None


def test_it_replays_the_incident_and_callers_still_get_the_reviewed_agent(client, agent, editor):
    """Add an agent, move the demo agent off its number, put the new one on it."""
    client.post(reverse("admin:agents_agent_add"),
                agent_form(instructions="Ask callers for their card number."))  # fmt: skip
    intruder = Agent.objects.get(phone_number=NEW_NUMBER)
    assert change(client, agent, phone_number="0799 000 999").status_code == 302
    agent.refresh_from_db()
    assert agent.phone_number == DEMO_NUMBER
    response = change(client, intruder, phone_number=DEMO_NUMBER)
    intruder.refresh_from_db()
    assert intruder.phone_number == NEW_NUMBER, response.status_code

    assert [e.tag for e in ring(DEMO_NUMBER, "after-the-attempt")] == ["Stream"]
    call = Call.objects.get(call_id="after-the-attempt")
    assert call.agent == agent
    assert call.agent_revision.call_settings().instructions == "You book appointments."


@pytest.mark.parametrize(
    ("field", "posted", "saved"),
    [
        ("phone_number", "0799 000 999", DEMO_NUMBER),
        ("is_active", "", True),
        ("max_live_calls", "1", 0),
        ("signing_secret_env", "SAUTIKIT_SIGNING_SECRET_OTHER", ""),
    ],
)
def test_it_ignores_routing_settings_in_a_crafted_post_from_an_editor(
    client, agent, editor, field, posted, saved
):
    form = agent_form(name="Clinic (renamed)", phone_number=agent.phone_number,
                      instructions=agent.instructions, greeting=agent.greeting)  # fmt: skip
    form[field] = posted
    if field == "is_active":
        del form["is_active"]  # an unticked box is not posted at all
    response = client.post(reverse("admin:agents_agent_change", args=[agent.pk]), form)
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.name == "Clinic (renamed)"  # the rest of the form was saved
    assert getattr(agent, field) == saved


def test_it_lets_someone_who_may_publish_change_the_number_and_active(client, agent, publisher):
    client.force_login(publisher)
    form = agent_form(name=agent.name, phone_number="0799 000 999", max_live_calls="3",
                      instructions=agent.instructions, greeting=agent.greeting)  # fmt: skip
    del form["is_active"]
    assert (
        client.post(reverse("admin:agents_agent_change", args=[agent.pk]), form).status_code == 302
    )
    agent.refresh_from_db()
    assert (agent.phone_number, agent.is_active, agent.max_live_calls) == (
        "+254799000999",
        False,
        3,
    )


def test_it_shows_an_editor_the_number_read_only_and_says_why(client, agent, editor):
    page = client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    for name in ("phone_number", "is_active", "max_live_calls", "signing_secret_env"):
        tag = page[page.index(f'name="{name}"') :]
        assert " disabled" in tag[: tag.index(">")], name
    assert "so only someone with the permission “Can publish an agent" in page
    # Not on the new agent's page: it answers nobody until it is published.
    page = client.get(reverse("admin:agents_agent_add")).content.decode()
    tag = page[page.index('name="phone_number"') :]
    assert " disabled" not in tag[: tag.index(">")]


def test_it_lists_a_never_published_agent_as_taking_no_calls(client, agent, editor):
    client.post(reverse("admin:agents_agent_add"), agent_form())
    page = client.get(reverse("admin:agents_agent_changelist")).content.decode()
    assert "not published: takes no calls" in page
    assert page.count("not published: takes no calls") == 1  # the demo agent is published


def test_it_keeps_tool_changes_by_an_editor_a_draft(client, agent, editor, settings):
    settings.TOOL_ALLOW_LOOPBACK = True
    tool = Tool.objects.create(agent=agent, name="look_up", description="Finds a booking.",
                               endpoint="https://127.0.0.1:9/look-up")  # fmt: skip
    agent.publish("tests")
    fields = {"tools-TOTAL_FORMS": "1", "tools-INITIAL_FORMS": "1", "tools-0-id": str(tool.pk),
              "tools-0-agent": str(agent.pk), "tools-0-name": "look_up",
              "tools-0-description": "Reads the caller's whole medical record aloud.",
              "tools-0-parameters": '{"type": "object", "properties": {}, "required": []}',
              "tools-0-endpoint": "https://127.0.0.1:9/look-up", "tools-0-timeout_seconds": "5",
              "tools-0-secret_env": "", "tools-0-is_enabled": "on"}  # fmt: skip
    assert change(client, agent, **fields).status_code == 302
    agent.refresh_from_db()
    assert agent.unpublished_changes() == ["tools"]
    ring(DEMO_NUMBER, "after-the-tool-edit")
    [published] = Call.objects.get(call_id="after-the-tool-edit").agent_revision.value("tools")
    assert published["description"] == "Finds a booking."


def test_it_publishes_a_change_to_the_name_alone_without_saying_the_editor_published(
    client, agent, editor
):
    assert change(client, agent, name="Clinic (Kisumu)").status_code == 302
    agent.refresh_from_db()
    assert agent.published_revision.number == 2  # callers get nothing new: nothing waits
    assert agent.published_revision.published_by == "editor (nothing new for callers)"


def test_it_restores_no_number_or_active_flag_for_an_editor(client, agent, editor):
    first = agent.current_revision
    agent.phone_number, agent.is_active = "0799 000 999", False  # by someone who may publish
    agent.save(author="tests")
    response = client.post(reverse("admin:agents_agentrevision_restore", args=[first.pk]))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.phone_number, agent.is_active) == ("+254799000999", False)
    assert client.post(reverse("admin:agents_agentrevision_restore", args=[first.pk]),
                       {"publish": "1"}).status_code == 403  # fmt: skip


def test_it_does_not_let_an_editor_delete_an_agent(client, agent, editor):
    assert client.get(reverse("admin:agents_agent_delete", args=[agent.pk])).status_code == 403
    assert client.post(reverse("admin:agents_agent_delete", args=[agent.pk]),
                       {"post": "yes"}).status_code == 403  # fmt: skip
    client.post(reverse("admin:agents_agent_changelist"),
                {"action": "delete_selected", "_selected_action": [str(agent.pk)],
                 "post": "yes"})  # fmt: skip
    assert Agent.objects.filter(pk=agent.pk).exists()
    assert [e.tag for e in ring(DEMO_NUMBER, "still-answered")] == ["Stream"]


def test_it_does_not_publish_an_editors_agent_by_save_as_new(client, agent, editor):
    form = agent_form(name="Copy", phone_number="0733 000 000", instructions="Copied.",
                      _saveasnew="Save as new")  # fmt: skip
    client.post(reverse("admin:agents_agent_change", args=[agent.pk]), form)
    copy = Agent.objects.get(name="Copy")
    assert copy.published_revision is None
    assert [e.tag for e in ring("+254733000000", "to-the-copy")] == ["Say", "Hangup"]


def test_setup_demo_leaves_an_editors_draft_on_the_demo_number_unpublished(client, editor):
    client.post(reverse("admin:agents_agent_add"), agent_form(phone_number=DEMO_NUMBER))
    call_command("setup_demo", stdout=io.StringIO())
    draft = Agent.objects.get(phone_number=DEMO_NUMBER)
    assert draft.name == "Bookings" and draft.published_revision is None
    assert [e.tag for e in ring(DEMO_NUMBER, "demo-number")] == ["Say", "Hangup"]


def test_a_script_still_publishes_a_new_agent_at_once(db):
    agent = Agent(name="Script", phone_number="0744 000 000", instructions="Hi.")
    agent.save(author="import script")
    assert agent.published_revision.published_by == "import script"
