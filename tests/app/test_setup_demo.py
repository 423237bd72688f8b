from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from agents.models import Agent, Engine
from calls.models import Call
from tests.helpers import post_form

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("setup_demo", *args, stdout=out)
    return out.getvalue()


def test_it_creates_the_demo_agent_and_an_admin_whose_password_it_prints():
    output = run()
    agent = Agent.objects.get(engine=Engine.REALTIME)
    assert agent.is_active and agent.revisions.count() == 1
    assert agent.published_revision == agent.current_revision  # callers get it
    assert [n["name"] for n in agent.published_revision.snapshot["notes"]] == [
        "caller's name", "wants an appointment?", "reason",
    ]  # fmt: skip
    password = output.split("password ")[1].split()[0]
    user = User.objects.get(username="admin")
    assert user.is_superuser and user.check_password(password)
    assert agent.phone_number.replace("+", "%2B") in output


def test_it_is_idempotent_and_keeps_the_password():
    first = run()
    password = first.split("password ")[1].split()[0]
    second = run()
    assert "password unchanged" in second
    assert Agent.objects.count() == 2
    assert User.objects.get().check_password(password)


def test_it_resets_the_password_when_asked():
    run()
    output = run("--reset-password")
    password = output.split("password ")[1].split()[0]
    assert User.objects.get().check_password(password)


def test_it_creates_the_same_demo_on_gpt_live_with_instructions_for_its_tools():
    output = run()
    live = Agent.objects.get(engine=Engine.LIVE)
    live.full_clean()  # a GPT-Live model, as the engine needs
    assert live.published_revision == live.current_revision
    assert live.backend_instructions and "end the call" in live.backend_instructions
    assert len(live.published_revision.snapshot["notes"]) == 3
    assert live.phone_number.replace("+", "%2B") in output


@pytest.mark.parametrize("engine", [Engine.REALTIME, Engine.LIVE])
def test_the_printed_curl_gets_a_stream(client, engine):
    run()
    agent = Agent.objects.get(engine=engine)
    response = post_form(
        client,
        "/sautikit/voice/",
        {
            "sessionId": "x",
            "callerNumber": "+254700000001",
            "destinationNumber": agent.phone_number,
        },
    )
    assert b"<Stream " in response.content
    assert Call.objects.get().agent == agent


def test_it_prints_a_simulated_call_that_reaches_the_server_where_it_listens():
    assert "simulate_call --number +254711000100   #" in run()  # the default address
    elsewhere = run("--base-url", "http://127.0.0.1:8010")
    assert "simulate_call --number +254711000100 --base-url http://127.0.0.1:8010" in elsewhere


def test_the_demo_agent_greets_as_a_person_would():
    """The stand-in says a greeting as it is written (OpenAI in its own words): it is written
    as words to say, not as instructions about them."""
    run()
    greeting = Agent.objects.get(engine=Engine.REALTIME).greeting
    assert greeting.startswith("Hello, this is the demo clinic.")
    assert not greeting.lower().startswith(("greet", "say", "ask", "tell"))
