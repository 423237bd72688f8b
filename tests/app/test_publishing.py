"""Drafts and publishing: saving changes a draft, phone calls get what was last published."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from agents.models import Agent, Tool
from calls.models import Call
from tests.helpers import agent_form, load, post_form

pytestmark = pytest.mark.django_db

VOICE = "/sautikit/voice/"


def ring(client, call_id: str) -> ET.Element:
    """A call to the agent's number; the answer Sautikit gets."""
    response = post_form(client, VOICE, {**load("voice_incoming"), "sessionId": call_id})
    assert response.status_code == 200
    return ET.fromstring(response.content)


def rate(answer: ET.Element) -> str:
    [stream] = list(answer)
    return stream.attrib["bidirectionalSamplingRate"]


@pytest.fixture
def editor(client) -> User:
    """Staff who may edit agents, but not publish them."""
    user = User.objects.create_user("editor", is_staff=True)
    allowed = ["view_agent", "change_agent", "view_agentrevision"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=allowed))
    client.force_login(user)
    return user


@pytest.fixture
def publisher(client) -> User:
    user = User.objects.create_superuser("publisher")
    client.force_login(user)
    return user


def test_it_publishes_a_new_agents_first_version(agent):
    [first] = agent.revisions.all()
    assert agent.published_revision == first
    assert first.published_at is not None
    assert first.published_by == "tests"
    assert agent.unpublished_changes() == []


def test_it_keeps_phone_calls_on_the_published_version_until_published(client, agent):
    agent.instructions = "You book appointments, in Swahili first."
    agent.sample_rate = 8000
    agent.save(author="tests")
    assert agent.unpublished_changes() == ["instructions", "sample_rate"]

    assert rate(ring(client, "before-publish")) == "16000"
    before = Call.objects.get(call_id="before-publish")
    assert before.agent_revision.number == 1
    assert before.agent_revision.call_settings().instructions == "You book appointments."

    published = agent.publish("wanjiru")
    assert published is not None and published.number == 2
    assert published.published_by == "wanjiru"
    assert agent.unpublished_changes() == []

    assert rate(ring(client, "after-publish")) == "8000"
    after = Call.objects.get(call_id="after-publish")
    assert after.agent_revision == published
    assert "Swahili" in after.agent_revision.call_settings().instructions


def test_it_publishes_nothing_twice(agent):
    assert agent.publish("tests") is None


def test_settings_that_route_calls_apply_when_saved(client, agent):
    agent.is_active = False
    agent.save(author="tests")
    # Nothing else changed: that version is the published one, so calls show what they ran on.
    assert agent.published_revision == agent.current_revision
    answer = ring(client, "while-inactive")
    assert [element.tag for element in answer] == ["Say", "Hangup"]


def test_a_waiting_draft_stays_a_draft_when_a_live_setting_changes(client, agent):
    agent.greeting = "Karibu!"
    agent.save(author="tests")
    agent.name = "Clinic (Kisumu)"
    agent.save(author="tests")
    assert agent.published_revision.number == 1
    assert agent.current_revision.number == 3
    assert agent.unpublished_changes() == ["greeting"]


def test_a_draft_edited_back_to_what_callers_get_is_published(agent):
    agent.greeting = "Karibu!"
    agent.save(author="tests")
    agent.greeting = "Hello!"
    agent.save(author="tests")
    assert agent.published_revision == agent.current_revision
    assert agent.unpublished_changes() == []


def test_it_restores_an_earlier_version_with_its_tools(agent, settings):
    settings.TOOL_ALLOW_LOOPBACK = True
    Tool.objects.create(agent=agent, name="look_up", description="Finds a booking.",
                        endpoint="https://127.0.0.1:9/look-up")  # fmt: skip
    with_tool = agent.publish("tests")
    assert with_tool is not None

    agent.instructions = "A worse prompt."
    agent.save(author="tests")
    agent.tools.update(is_enabled=False)
    agent.tools.get().save()  # (an update() keeps no revision; a save does)
    agent.name = "Renamed"  # applies at once, and a restore leaves it so
    agent.save(author="tests")
    worse = agent.publish("tests")

    restored = Agent.objects.get(pk=agent.pk).restore(with_tool, "wanjiru")
    assert restored is not None
    assert restored.restored_from == with_tool.number
    assert restored.author_name == "wanjiru"
    agent.refresh_from_db()
    assert agent.instructions == "You book appointments."
    assert agent.name == "Renamed"
    assert agent.tools.get().is_enabled
    assert restored.call_settings().tools[0].name == "look_up"
    # What callers get did not change: the restored draft waits for Publish.
    assert agent.published_revision == worse
    assert agent.unpublished_changes() == ["instructions", "tools"]


def test_restoring_the_draft_as_it_is_keeps_no_new_version(agent):
    assert agent.restore(agent.current_revision, "tests") is None
    assert agent.revisions.count() == 1


def test_it_says_on_the_agents_page_what_waits_to_be_published(client, agent, publisher):
    page = client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    assert "Nothing waits to be published." in page
    assert 'id="publish"' not in page

    agent.instructions = "Be brief."
    agent.voice = "cedar"
    agent.save(author="tests")
    page = client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    assert "Draft not published yet:</strong> instructions, voice." in page
    assert 'id="publish"' in page


def test_it_publishes_from_the_agents_page(client, agent, publisher):
    agent.instructions = "Be brief."
    agent.save(author="tests")
    response = client.post(reverse("admin:agents_agent_publish", args=[agent.pk]), follow=True)
    assert response.status_code == 200
    assert "Published v2: the next call uses it." in response.content.decode()
    agent.refresh_from_db()
    assert agent.published_revision.number == 2
    assert agent.published_revision.published_by == "publisher"


def test_it_refuses_to_publish_for_editors_without_the_permission(client, agent, editor):
    agent.instructions = "Be brief."
    agent.save(author="tests")
    page = client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    assert "Draft not published yet" in page
    assert 'id="publish"' not in page
    response = client.post(reverse("admin:agents_agent_publish", args=[agent.pk]))
    assert response.status_code == 403
    agent.refresh_from_db()
    assert agent.published_revision.number == 1


def test_it_asks_before_publishing_and_says_what_changes_for_callers(client, agent, publisher):
    agent.instructions = "You book appointments.\nAlways confirm the date."
    agent.voice = "cedar"
    agent.save(author="tests")
    url = reverse("admin:agents_agent_publish", args=[agent.pk])
    page = client.get(url).content.decode()
    assert f"From the next call to <strong>{agent.phone_number}</strong>, callers get" in page
    assert "<strong>v2</strong> instead of v1" in page
    assert "<ins>\nAlways confirm the date.</ins>" in page  # the words callers' agent gains
    assert "Marin → Cedar" in page
    assert 'id="confirm-publish"' in page
    agent.refresh_from_db()
    assert agent.published_revision.number == 1  # asking publishes nothing
    client.post(url)
    agent.refresh_from_db()
    assert agent.published_revision.number == 2


def test_the_question_needs_the_permission_too(client, agent, editor):
    agent.instructions = "Be brief."
    agent.save(author="tests")
    assert client.get(reverse("admin:agents_agent_publish", args=[agent.pk])).status_code == 403


def test_it_says_when_there_is_nothing_to_publish(client, agent, publisher):
    page = client.get(reverse("admin:agents_agent_publish", args=[agent.pk])).content.decode()
    assert "Nothing to publish: callers already get the latest version (v1)." in page
    assert 'id="confirm-publish"' not in page


def test_it_restores_and_publishes_from_a_versions_page(client, agent, publisher):
    first = agent.current_revision
    agent.instructions = "A worse prompt."
    agent.save(author="tests")
    agent.publish("tests")

    page = client.get(reverse("admin:agents_agentrevision_change", args=[first.pk]))
    assert 'id="restore-and-publish"' in page.content.decode()
    response = client.post(
        reverse("admin:agents_agentrevision_restore", args=[first.pk]), {"publish": "1"}
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.instructions == "You book appointments."
    assert agent.published_revision.number == 3
    assert agent.published_revision.restored_from == 1


def test_an_editor_may_restore_but_not_publish(client, agent, editor):
    first = agent.current_revision
    agent.instructions = "A worse prompt."
    agent.save(author="tests")

    page = client.get(reverse("admin:agents_agentrevision_change", args=[first.pk])).content
    assert b'id="restore"' in page and b'id="restore-and-publish"' not in page
    url = reverse("admin:agents_agentrevision_restore", args=[first.pk])
    assert client.post(url, {"publish": "1"}).status_code == 403
    assert client.post(url).status_code == 302
    agent.refresh_from_db()
    assert agent.instructions == "You book appointments."
    assert agent.current_revision.restored_from == 1


def test_saving_the_form_says_the_change_is_a_draft(client, agent, publisher):
    url = reverse("admin:agents_agent_change", args=[agent.pk])
    form = agent_form(name=agent.name, phone_number=agent.phone_number, instructions="New.")
    response = client.post(url, form, follow=True)
    assert response.status_code == 200
    assert "Saved as a draft: phone callers still get v1." in response.content.decode()


def test_it_does_not_publish_a_draft_saved_since_the_question(client, agent, publisher):
    agent.instructions = "Be brief."
    agent.save(author="tests")
    url = reverse("admin:agents_agent_publish", args=[agent.pk])
    seen = agent.current_revision.pk
    assert f'name="revision" value="{seen}"' in client.get(url).content.decode()
    agent.instructions = "Be brief, and rude."  # someone else saves meanwhile
    agent.save(author="someone else")
    response = client.post(url, {"revision": seen}, follow=True)
    assert "The draft was saved again since you looked at it" in response.content.decode()
    assert response.redirect_chain[-1][0] == url  # the question again, with what changes now
    agent.refresh_from_db()
    assert agent.published_revision.number == 1
