"""A version and its comparisons read in the agent page's words: labels rather than field
names, choices by their names, notes as a list, long text wrapped and compared word by word."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from agents.admin.words import compared, shown, word_diff
from agents.models import Agent, NoteField


@pytest.fixture
def staff(client, db) -> User:
    user = User.objects.create_superuser("op", password="pw")
    client.force_login(user)
    return user


def version_page(client, agent: Agent, number: int) -> str:
    revision = agent.revisions.get(number=number)
    return client.get(
        reverse("admin:agents_agentrevision_change", args=[revision.pk])
    ).content.decode()


def test_a_version_names_settings_as_the_agent_page_does(client, staff, agent):
    NoteField.objects.create(agent=agent, name="reason", kind="choice", choices="booking\nother")
    agent.vad_prefix_padding_ms = 500
    agent.save(author="tests")
    html = version_page(client, agent, agent.current_revision.number)
    for field_name in ("vad_prefix_padding_ms", "signing_secret_env", "turn_detection"):
        assert f">{field_name}<" not in html
    label = str(Agent._meta.get_field("vad_prefix_padding_ms").verbose_name)
    assert f'<th scope="row">{label}</th>' in html
    assert "Pause detection (answers after the caller is quiet)" in html  # a choice, by its name
    assert "<li>reason (one of a list: booking, other)</li>" in html  # notes as a list
    assert '"kind": "choice"' not in html  # no JSON


def test_long_text_is_wrapped_and_compared_word_by_word(client, staff, agent):
    agent.instructions = "You book appointments.\nAsk for the caller's name first."
    agent.save(author="tests")
    html = version_page(client, agent, 1)
    assert '<div class="prose">You book appointments.<ins>' in html
    assert "<pre>" not in html


def test_word_diff_marks_only_the_words_that_changed():
    diff = word_diff(
        "Open Monday to Friday, 8 am to 5 pm.", "Open Monday to Saturday, 8 am to 6 pm."
    )
    assert diff == (
        "Open Monday to <del>Friday,</del><ins>Saturday,</ins> 8 am to <del>5</del><ins>6</ins> pm."
    )


def test_word_diff_escapes_what_operators_typed():
    assert (
        word_diff("a", "<script>x</script>")
        == "<del>a</del><ins>&lt;script&gt;x&lt;/script&gt;</ins>"
    )


def test_short_values_read_as_before_and_after():
    assert compared("voice", "marin", "cedar") == "Marin → Cedar"
    assert compared("record_calls", False, True) == "no → yes"
    assert compared("greeting", "", "Hello") == '<span class="quiet">(none)</span> → Hello'


def test_tools_read_as_what_was_added_and_taken_away():
    before = [{"name": "look_up", "endpoint": "https://a.example/x"}]
    after = [{"name": "book", "endpoint": "https://b.example/y"}]
    said = compared("tools", before, after)
    assert "<del>look_up, asking https://a.example/x</del>" in said
    assert "<ins>book, asking https://b.example/y</ins>" in said
    assert shown("tools", []) == '<span class="quiet">(none)</span>'


def test_a_changed_description_or_flag_shows_in_the_comparison():
    before = [{"name": "happy?", "kind": "yes_no", "choices": [], "description": "Was it?"}]
    after = [{**before[0], "description": "Did they thank us?", "attention_when": "no"}]
    said = compared("notes", before, after)
    assert "<del>happy? (yes or no), “Was it?”</del>" in said
    assert "<ins>happy? (yes or no), “Did they thank us?”, needs attention when no</ins>" in said
    assert compared("notes", before + after[:0], before) == "the same, in another order"


def test_a_tools_timeout_or_parameters_show_in_the_comparison():
    tool = {
        "name": "book",
        "endpoint": "https://b.example/y",
        "timeout_seconds": 5,
        "description": "Books.",
        "parameters": {"type": "object"},
        "secret_env": "",
    }
    said = compared("tools", [tool], [{**tool, "timeout_seconds": 8}])
    assert "(waits 5 s)" in said and "(waits 8 s)" in said
