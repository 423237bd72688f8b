"""“Talk to this agent”: who may start a test call from the browser and open its socket, and
what the socket says besides the audio. (The whole thing in Chromium:
tests/server/test_talk_browser.py.)"""

from __future__ import annotations

import functools
import json
from urllib.parse import urlsplit

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from calls.models import Call, Direction, Status
from streaming.devtools.fake_realtime import Options
from streaming.tokens import BROWSER_SALT, make_token, stream_url
from tests.bridge_helpers import THROUGH_THE_CONSUMER, collect, communicator, speak, wait_for
from tests.helpers import DEMO_NUMBER, staff

ORIGIN = (b"origin", b"http://localhost")


def through_the_consumer(test):
    for mark in THROUGH_THE_CONSUMER:
        test = mark(test)
    return test


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def start(client: Client, agent: Agent, version: str = "published"):
    return client.post(reverse("talk:start", args=[agent.pk]), {"version": version})


# -- the page and starting a call ----------------------------------------------------------


@pytest.mark.django_db
def test_it_shows_the_call_panel_to_staff_allowed_to_talk(agent):
    client = logged_in(staff("amina", "view_agent", "talk_to_agent"))
    page = client.get(reverse("talk:page", args=[agent.pk])).content.decode()
    assert 'id="talk-start"' in page
    assert "What callers get now (v1)" in page
    agent_page = client.get(reverse("admin:agents_agent_change", args=[agent.pk]))
    assert 'id="talk-link"' in agent_page.content.decode()


@pytest.mark.django_db
def test_it_keeps_the_panel_from_staff_without_the_permission(agent, client):
    assert client.get(reverse("talk:page", args=[agent.pk])).status_code == 302  # log in first
    client = logged_in(staff("otieno", "view_agent"))
    assert client.get(reverse("talk:page", args=[agent.pk])).status_code == 403
    assert start(client, agent).status_code == 403
    agent_page = client.get(reverse("admin:agents_agent_change", args=[agent.pk]))
    assert 'id="talk-link"' not in agent_page.content.decode()
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_it_starts_a_test_call_on_the_version_chosen(agent):
    agent.instructions = "A draft."
    agent.sample_rate = 8000
    agent.save(author="tests")
    client = logged_in(staff("amina", "talk_to_agent"))

    answer = start(client, agent, "draft").json()
    call = Call.objects.get(call_id=answer["call_id"])
    assert call.direction == Direction.BROWSER and call.is_test
    assert call.agent_revision.number == 2
    assert answer["sample_rate"] == 8000  # the browser speaks at the version's rate
    assert answer["socket"].startswith(f"/talk/call/{call.call_id}/socket/?token=")
    assert answer["call_page"] == reverse("admin:calls_call_change", args=[call.pk])
    assert call.status == Status.CONNECTING
    assert call.metadata["browser"] == {"user": "amina", "user_id": call.metadata["browser"][
        "user_id"], "version": "draft"}  # fmt: skip

    published = start(client, agent).json()
    assert Call.objects.get(call_id=published["call_id"]).agent_revision.number == 1
    assert published["sample_rate"] == 16000


@pytest.mark.django_db
def test_it_answers_bad_starts_with_a_reason(agent):
    client = logged_in(staff("amina", "talk_to_agent"))
    response = start(client, agent, "yesterday")
    assert response.status_code == 400
    assert response.json() == {"error": "version must be draft or published"}
    assert client.get(reverse("talk:start", args=[agent.pk])).status_code == 405
    assert start(client, Agent(pk=999)).status_code == 404


@pytest.mark.django_db
def test_it_holds_test_calls_to_the_limits(agent, settings):
    settings.LIMIT_LIVE_CALLS_PER_CALLER = 1
    client = logged_in(staff("amina", "talk_to_agent"))
    assert start(client, agent).status_code == 200
    response = start(client, agent)
    assert response.status_code == 429
    assert "browser:amina already has 1 live call" in response.json()["error"]


@pytest.mark.django_db
def test_only_the_caller_reads_a_test_calls_state(agent):
    amina = logged_in(staff("amina", "talk_to_agent"))
    call_id = start(amina, agent).json()["call_id"]
    url = reverse("talk:status", args=[call_id])
    assert amina.get(url).json() == {"over": False, "status": "connecting"}
    other = logged_in(staff("otieno", "talk_to_agent"))
    assert other.get(url).status_code == 403


# -- the socket -----------------------------------------------------------------------------


@database_sync_to_async
def started_call(username: str = "amina", version: str = "published") -> tuple[str, bytes, str]:
    """A test call started by `username`: (its socket path, their session cookie, call id)."""
    user = User.objects.filter(username=username).first() or staff(username, "talk_to_agent")
    agent = Agent.objects.for_number(DEMO_NUMBER)
    if agent is None:
        agent = Agent(name="Clinic", phone_number=DEMO_NUMBER, instructions="Be brief.",
                      greeting="Greet the caller.")  # fmt: skip
        agent.save()
    client = logged_in(user)
    answer = start(client, agent, version).json()
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return answer["socket"], cookie, answer["call_id"]


@database_sync_to_async
def session_cookie(username: str) -> bytes:
    user = User.objects.filter(username=username).first() or staff(username, "talk_to_agent")
    client = logged_in(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@database_sync_to_async
def the_call(call_id: str) -> Call:
    return Call.objects.select_related("agent_revision").get(call_id=call_id)


@pytest.mark.parametrize("who", ["nobody", "another staff member", "another site"])
@through_the_consumer
async def test_the_socket_opens_only_for_who_started_the_call_from_this_site(fake_realtime, who):
    await fake_realtime()
    path, cookie, call_id = await started_call()
    headers = {
        "nobody": [ORIGIN],
        "another staff member": [ORIGIN, (b"cookie", await session_cookie("otieno"))],
        "another site": [(b"origin", b"https://evil.example"), (b"cookie", cookie)],
    }[who]
    connected, _ = await communicator(path, headers=headers).connect()
    assert not connected
    assert (await the_call(call_id)).bridge_started_at is None


@pytest.mark.parametrize("token", ["sautikit's", "none", "another call's"])
@through_the_consumer
async def test_the_socket_needs_the_calls_own_browser_token(fake_realtime, token):
    await fake_realtime()
    path, cookie, call_id = await started_call()
    _, _, other_call = await started_call()
    query = {
        "sautikit's": f"?token={make_token(call_id)}",
        "none": "",
        "another call's": f"?token={make_token(other_call, BROWSER_SALT)}",
    }[token]
    socket = communicator(path.split("?")[0] + query, headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await socket.connect()
    assert not connected


@through_the_consumer
async def test_sautikits_route_refuses_a_browser_token(fake_realtime):
    await fake_realtime()
    path, _, call_id = await started_call()
    token = path.split("token=")[1]
    sautikit = urlsplit(stream_url("http://testserver", call_id))
    connected, _ = await communicator(f"{sautikit.path}?token={token}").connect()
    assert not connected


@through_the_consumer
async def test_a_test_call_talks_through_the_bridge_and_is_recorded(fake_realtime):
    await fake_realtime(Options(answers=["Karibu."]))
    path, cookie, call_id = await started_call()
    comm = communicator(path, headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await comm.connect()
    assert connected
    assert (await the_call(call_id)).status == Status.IN_PROGRESS

    # The greeting plays, then the transcript of it arrives as text beside the audio.
    audio, texts, _ = await collect(comm, seconds=5, stop_after_quiet=1.0)
    assert len(audio) >= 2 * 16000 * 1.4
    await speak(comm)
    _, texts_after, _ = await collect(comm, seconds=5, stop_after_quiet=1.0)
    said = [t for t in texts + texts_after if t.get("type") == "transcript"]
    assert {"role": "agent", "text": "Greet the caller."}.items() <= said[0].items()
    assert any(t["role"] == "caller" for t in said)

    # A second socket with the same token: the call already has its bridge.
    again, _ = await communicator(path, headers=[ORIGIN, (b"cookie", cookie)]).connect()
    assert not again

    await comm.disconnect()
    assert await wait_for(functools.partial(_is_over, call_id))
    call = await the_call(call_id)
    assert call.status == Status.COMPLETED
    assert call.ended_by == "caller"
    assert call.answered_at is not None and call.ended_at is not None
    assert call.cost.sautikit_kes == 0


async def _is_over(call_id: str) -> bool:
    return (await the_call(call_id)).status == Status.COMPLETED


@through_the_consumer
async def test_the_browser_hears_how_the_call_ended(fake_realtime, settings):
    await fake_realtime(Options(tool_calls={1: ("end_call", {})}))
    path, cookie, call_id = await started_call()
    comm = communicator(path, headers=[ORIGIN, (b"cookie", cookie)])
    assert (await comm.connect())[0]
    await collect(comm, seconds=5, stop_after_quiet=1.0)
    await speak(comm)
    _, texts, _ = await collect(comm, seconds=8, stop_after_quiet=3.0)
    [ended] = [t for t in texts if t.get("type") == "ended"]
    assert ended["ended_by"] == "agent"
    assert texts[-1] == {"type": "closed", "code": 1000}
    assert await wait_for(functools.partial(_is_over, call_id))
    assert json.loads(json.dumps(ended))["failed"] is False
