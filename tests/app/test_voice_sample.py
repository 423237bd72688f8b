"""“Hear this voice” on an agent's page: the greeting said in the chosen voice by a short
Realtime session (here the project's stand-in, whose voice is a known tone), as WAV."""

from __future__ import annotations

import asyncio
import io
import threading
import wave
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.urls import reverse

from agents.admin.pages import SAMPLE_LINE, SAMPLES_PER_MINUTE
from streaming.devtools.fake_realtime import FakeRealtimeServer, Options, Voice
from streaming.devtools.servers import free_port
from streaming.devtools.signals import dominant_hz, samples

URL = reverse("admin:agents_agent_voice_sample")
TONE_HZ, TONE_MS = 660.0, 800
VOICE = Voice(tones=[(TONE_HZ, 0.3)], duration_ms=TONE_MS)


@pytest.fixture
def stand_in(settings) -> Iterator[FakeRealtimeServer]:
    """The Realtime stand-in on its own event loop, as `make run` runs it beside the server."""
    loop = asyncio.new_event_loop()
    server = FakeRealtimeServer(Options(voice=VOICE, speedup=20))
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    settings.OPENAI_REALTIME_URL = server.url
    forget()
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    forget()


def forget() -> None:
    """No sample kept, no count of samples made, from another test. (On Redis the counts are
    per user, and each test's users are new: clearing Redis would flush the channel layer's
    database too.)"""
    if isinstance(caches["default"], LocMemCache):
        cache.clear()
    caches["voice_samples"].clear()


@pytest.fixture
def editor(client, db) -> User:
    user = User.objects.create_user("editor", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_agent", "change_agent"])
    )
    client.force_login(user)
    return user


def heard(response) -> tuple[int, bytes]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), w.readframes(w.getnframes())


def test_it_says_the_greeting_in_the_chosen_voice(client, editor, stand_in):
    response = client.post(URL, {"voice": "cedar", "text": "Karibu, this is the clinic."})
    rate, pcm = heard(response)
    x = samples(pcm)
    assert rate == 24000
    assert abs(len(x) / rate * 1000 - TONE_MS) < 25  # the whole answer, nothing cut
    assert abs(dominant_hz(x, rate) - TONE_HZ) < 5
    assert pcm == VOICE.render()  # what the stand-in said, sample for sample
    [session] = stand_in.sessions
    [update] = session.updates
    assert update["audio"]["output"]["voice"] == "cedar"
    assert "input" not in update["audio"]  # no caller: nothing to listen to
    assert "Karibu, this is the clinic." in session.response_requests[0]["instructions"]


def test_a_sample_heard_again_costs_no_second_session(client, editor, stand_in):
    first = client.post(URL, {"voice": "marin", "text": "Hello"})
    again = client.post(URL, {"voice": "marin", "text": "  Hello "})
    assert first.content == again.content
    assert len(stand_in.sessions) == 1
    client.post(URL, {"voice": "ash", "text": "Hello"})
    assert len(stand_in.sessions) == 2


def test_without_a_greeting_it_says_a_usual_line(client, editor, stand_in):
    heard(client.post(URL, {"voice": "marin", "text": ""}))
    assert SAMPLE_LINE in stand_in.sessions[0].response_requests[0]["instructions"]


def test_it_refuses_a_voice_not_in_the_list(client, editor, stand_in):
    response = client.post(URL, {"voice": "../../etc", "text": "Hi"})
    assert response.status_code == 400
    assert response.json() == {"error": "Choose one of the voices in the list."}
    assert stand_in.sessions == []


def test_it_says_in_words_when_openai_cannot_be_reached(client, editor, settings):
    forget()
    settings.OPENAI_REALTIME_URL = f"ws://127.0.0.1:{free_port()}/v1/realtime"
    response = client.post(URL, {"voice": "marin"})
    assert response.status_code == 502
    assert response.json()["error"].startswith("No sample: OpenAI unreachable")


def test_it_says_when_openai_refuses(client, editor, settings, stand_in):
    stand_in.options.refuse_status = 401
    response = client.post(URL, {"voice": "marin"})
    assert response.status_code == 502
    assert response.json() == {"error": "No sample: OpenAI refused the connection: HTTP 401."}


def test_a_person_makes_a_few_samples_a_minute(client, editor, stand_in):
    for n in range(SAMPLES_PER_MINUTE):
        heard(client.post(URL, {"voice": "marin", "text": f"line {n}"}))
    response = client.post(URL, {"voice": "marin", "text": "one more"})
    assert response.status_code == 429
    assert "wait a moment" in response.json()["error"]
    heard(client.post(URL, {"voice": "marin", "text": "line 0"}))  # one made already is kept


def test_it_is_for_those_who_edit_agents(client, db, stand_in):
    reader = User.objects.create_user("reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_agent"))
    client.force_login(reader)
    assert client.post(URL, {"voice": "marin"}).status_code == 403
    assert stand_in.sessions == []


def test_it_is_a_post(client, editor, stand_in):
    assert client.get(URL).status_code == 405


def test_a_text_longer_than_a_greeting_is_cut_before_it_reaches_openai(client, editor, stand_in):
    from streaming.core.realtime.voice_sample import MAX_TEXT

    heard(client.post(URL, {"voice": "marin", "text": "word " * 2000}))
    said = stand_in.sessions[0].response_requests[0]["instructions"]
    assert said.endswith("Say exactly: " + ("word " * 2000).strip()[:MAX_TEXT])
