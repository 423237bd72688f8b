"""An agent's page starts with what people edit: the instructions, greeting and voice, then the
notes to take; everything else is folded in groups; a new agent starts from a template; Save
says whether callers get the change."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from agents import starters
from agents.models import MAX_INSTRUCTIONS, Agent
from tests.helpers import agent_form

ADD = reverse("admin:agents_agent_add")


@pytest.fixture
def staff(client, db) -> User:
    client.force_login(User.objects.create_superuser("op", password="pw"))
    return User.objects.get(username="op")


def page(client, agent: Agent) -> str:
    return client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()


def headings(html: str) -> list[str]:
    """The page's groups and lists, in order, as the operator reads them."""
    found = re.findall(
        r'<h2 id="[^"]*-heading" class="(?:fieldset|inline)-heading">\s*(.*?)\s*<', html, flags=re.S
    )
    return [h.strip() for h in found]


def test_it_starts_with_what_callers_hear_then_the_notes(client, staff, agent):
    html = page(client, agent)
    assert headings(html)[:3] == [
        "What callers hear",
        "Notes to take after each call (optional): shown on each call&#x27;s page",
        "Name and number",
    ]
    first = html[html.index("What callers hear") : html.index("notes-group")]
    for field in ("id_instructions", "id_greeting", "id_voice", "hear-voice"):
        assert f'id="{field}"' in first
    assert "<details>" not in first  # the first group is open


def test_everything_else_is_folded_in_groups(client, staff, agent):
    html = page(client, agent)
    rest = html[html.index("notes-group") :]
    for group in (
        "Name and number",
        "Engine",
        "How it talks and listens",
        "Tools and handing over",
        "Limits",
        "Recording",
        "Where finished calls go",
        "Phone line (ask a developer before changing)",
    ):
        assert re.search(rf"<details><summary>\s*<h2[^>]*>{re.escape(group)}</h2>", rest), group
    # The custom tools sit under their group, and the history comes last, folded too.
    assert headings(html).index("Tools and handing over") + 1 == headings(html).index(
        "Custom tools: actions the agent can take by asking another system (optional)"
    )
    assert headings(html)[-1] == "History of changes (newest first)"


def test_the_statistics_are_not_on_the_agent_page(client, staff, agent):
    html = page(client, agent)
    assert "Cost per day" not in html and "last 7 days" not in html.lower()
    assert reverse("admin:agents_agent_stats", args=[agent.pk]) in html


def test_a_folded_group_with_an_error_opens(client, staff, agent):
    """The page's script opens it (tests/server/test_browser.py watches it do so); here: the error
    is on the page, inside its group."""
    url = reverse("admin:agents_agent_change", args=[agent.pk])
    form = agent_form(name=agent.name, phone_number=agent.phone_number, max_call_minutes="-1")
    html = client.post(url, form).content.decode()
    limits = html[html.index(">Limits</h2>") :]
    assert "errorlist" in limits[: limits.index("</fieldset>")]


def test_a_reader_has_no_voice_button(client, agent, db):
    reader = User.objects.create_user("reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_agent"))
    client.force_login(reader)
    html = page(client, agent)
    assert "What callers hear" in html and 'id="hear-voice"' not in html


# -- a new agent ---------------------------------------------------------------------------


def test_a_new_agent_offers_the_templates(client, staff):
    html = client.get(ADD).content.decode()
    for starter in starters.STARTERS:
        assert f'href="?start={starter.key}"' in html and starter.title in html
    # A new agent needs its name and number first.
    assert headings(html)[:2] == ["Name and number", "What callers hear"]


@pytest.mark.parametrize("starter", starters.STARTERS, ids=lambda s: s.key)
def test_a_template_fills_the_new_agent(client, staff, starter):
    html = client.get(ADD + f"?start={starter.key}").content.decode()
    assert starter.settings["instructions"].split("\n")[0] in html
    assert f'value="{starter.notes[0]["name"]}"' in html.replace("&#x27;", "'")
    assert f'name="notes-TOTAL_FORMS" value="{len(starter.notes)}"' in html
    assert not Agent.objects.exists()  # nothing saved until the operator saves


def test_saving_a_templated_agent_keeps_its_notes(client, staff):
    clinic = starters.CLINIC
    notes = {"notes-TOTAL_FORMS": str(len(clinic.notes))}
    for n, note in enumerate(clinic.notes):
        notes |= {f"notes-{n}-{key}": str(value) for key, value in note.items()}
    form = agent_form(
        name="Front desk",
        instructions=clinic.settings["instructions"],
        greeting=clinic.settings["greeting"],
        **notes,
    )
    response = client.post(ADD + "?start=clinic", form, follow=True)
    assert response.status_code == 200
    agent = Agent.objects.get(name="Front desk")
    assert [n.name for n in agent.notes.order_by("position")] == [n["name"] for n in clinic.notes]
    assert agent.notes.get(name="reason for calling").choices.splitlines()[0] == "booking"
    assert "Saved and published as v1" in response.content.decode()


def test_an_unknown_template_is_an_empty_agent(client, staff):
    html = client.get(ADD + "?start=../../etc").content.decode()
    assert 'name="notes-TOTAL_FORMS" value="0"' in html


# -- what Save says --------------------------------------------------------------------------


def test_save_does_not_say_the_change_is_live(client, staff, agent):
    url = reverse("admin:agents_agent_change", args=[agent.pk])
    form = agent_form(name=agent.name, phone_number=agent.phone_number, instructions="New.")
    html = client.post(url, form, follow=True).content.decode()
    assert "was changed successfully" not in html
    assert "Saved as a draft: phone callers still get v1." in html


def as_posted(agent: Agent, **changes: str) -> dict[str, str]:
    """The agent's page posted back as it stands, with `changes`."""
    form = agent_form()
    for name in list(form):
        if name in agent.snapshot():
            value = getattr(agent, name)
            if isinstance(value, bool):
                form.pop(name)
                if value:
                    form[name] = "on"
            else:
                form[name] = str(value)
    return {**form, **changes}


def test_save_of_what_applies_at_once_says_so(client, staff, agent):
    url = reverse("admin:agents_agent_change", args=[agent.pk])
    html = client.post(url, as_posted(agent, name="Clinic front desk"), follow=True)
    agent.refresh_from_db()
    assert agent.name == "Clinic front desk"
    assert agent.unpublished_changes() == []
    assert "Saved. Applied at once: name. Nothing waits to be published" in html.content.decode()


def test_instructions_have_a_length_limit(client, staff):
    form = agent_form(instructions="x" * (MAX_INSTRUCTIONS + 1))
    html = client.post(ADD, form).content.decode()
    assert "Ensure this value has at most 20000 characters" in html
    assert not Agent.objects.exists()


def test_a_number_another_agent_has_names_that_agent(client, staff, agent):
    form = agent_form(name="Second line", phone_number="0711 000 100")  # the clinic's, spelt so
    html = client.post(ADD, form).content.decode()
    assert f"“Clinic” already answers {agent.phone_number}: choose another number" in html
    assert "Agent with this Phone number already exists" not in html
    assert Agent.objects.count() == 1


def test_the_search_box_says_what_it_searches(client, staff):
    html = client.get(reverse("admin:agents_agent_changelist")).content.decode()
    assert "Finds agents by name or by number" in html


def test_save_says_what_applied_at_once_while_a_draft_waits(client, staff, agent):
    agent.instructions = "A draft nobody published."
    agent.save(author="tests")
    url = reverse("admin:agents_agent_change", args=[agent.pk])
    html = client.post(url, as_posted(agent, name="Clinic desk"), follow=True).content.decode()
    assert (
        "Saved. Applied at once: name. A draft still waits to be published: phone callers get "
        "v1 until someone presses Publish."
    ) in html


def test_a_new_agent_that_is_not_active_is_not_said_to_answer(client, staff):
    form = agent_form(name="Not yet")
    form.pop("is_active")
    html = client.post(ADD, form, follow=True).content.decode()
    assert "Saved and published as v1: it answers no calls until “active” is ticked." in html
