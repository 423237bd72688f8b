from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from agents.models import Agent
from calls.models import Call, CallEvent, Status
from streaming.tokens import check_token
from tests.helpers import load, post_form, post_json

URL = "/sautikit/voice/"
pytestmark = pytest.mark.django_db


def parse(response) -> ET.Element:
    assert response["Content-Type"] == "application/xml"
    body = response.content.decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)


def test_it_answers_with_a_stream_for_the_agent(client, agent):
    response = post_form(client, URL, load("voice_incoming"))
    assert response.status_code == 200
    root = parse(response)
    assert root.tag == "Response"
    [stream] = list(root)
    assert stream.tag == "Stream"
    call = Call.objects.get(call_id="ATVId_5f0c2b1e9a7d4c3b8e21")
    assert set(stream.attrib) == {
        "name", "url", "track", "connect", "outputSamplingRate",
        "bidirectionalSamplingRate", "statusCallback", "statusEvents",
    }  # fmt: skip
    assert stream.attrib["name"] == f"call-{call.pk}"
    assert stream.attrib["track"] == "inbound_track"
    assert stream.attrib["connect"] == "true"
    assert stream.attrib["outputSamplingRate"] == "16000"
    assert stream.attrib["bidirectionalSamplingRate"] == "16000"
    assert stream.attrib["statusCallback"] == "http://testserver/sautikit/stream-status/"
    assert stream.attrib["statusEvents"] == "stream-started stream-stopped stream-error"

    url = urlsplit(stream.attrib["url"])
    assert url.scheme == "ws"
    assert url.netloc == "testserver"
    assert url.path == "/sautikit/stream/ATVId_5f0c2b1e9a7d4c3b8e21/"
    token = parse_qs(url.query)["token"][0]
    assert check_token(call.call_id, token)
    assert not check_token("another-call", token)


def test_it_creates_the_call_with_the_agent_revision(client, agent):
    post_form(client, URL, load("voice_incoming"))
    call = Call.objects.get()
    assert call.agent == agent
    assert call.agent_revision == agent.current_revision
    assert call.status == Status.CONNECTING
    assert call.caller_number == "+254700000001"
    assert call.dialled_number == "+254711000100"
    assert call.direction == "inbound"
    assert call.client_request_id == "req-42"
    assert call.stream_requested_at is not None
    [event] = call.events.all()
    assert event.source == "voice"
    assert event.payload["sessionId"] == "ATVId_5f0c2b1e9a7d4c3b8e21"


def test_it_accepts_json_and_twilio_style_names(client, agent):
    response = post_json(
        client, URL, {"CallId": "CA123", "From": "0700 000 001", "To": "0711 000 100"}
    )
    assert parse(response)[0].tag == "Stream"
    call = Call.objects.get(call_id="CA123")
    assert call.caller_number == "+254700000001"
    assert call.agent == agent


def test_it_accepts_callsid_and_client_request_id_in_the_query(client, agent):
    response = post_form(
        client, URL + "?clientRequestId=q-7", {"callSid": "CS9", "To": "254711000100"}
    )
    assert parse(response)[0].tag == "Stream"
    assert Call.objects.get(call_id="CS9").client_request_id == "q-7"


def test_it_accepts_multipart_forms(client, agent):
    response = client.post(URL, {"sessionId": "MP1", "destinationNumber": "+254711000100"})
    assert parse(response)[0].tag == "Stream"


def test_it_uses_the_agent_track_and_sample_rate(client, agent):
    agent.track = "both_tracks"
    agent.sample_rate = 8000
    agent.save()
    agent.publish()
    stream = parse(post_form(client, URL, load("voice_incoming")))[0]
    assert stream.attrib["track"] == "both_tracks"
    assert stream.attrib["outputSamplingRate"] == "8000"
    assert stream.attrib["bidirectionalSamplingRate"] == "8000"


def test_it_builds_wss_urls_from_public_base_url(client, agent, settings):
    settings.PUBLIC_BASE_URL = "https://voice.example.com"
    stream = parse(post_form(client, URL, load("voice_incoming")))[0]
    assert stream.attrib["url"].startswith("wss://voice.example.com/sautikit/stream/")
    assert stream.attrib["statusCallback"] == "https://voice.example.com/sautikit/stream-status/"


def test_it_honours_forwarded_proto_and_host_behind_a_trusted_proxy(client, agent, settings):
    # What DJANGO_TRUST_PROXY_HEADERS=1 sets.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = ["voice.example.org"]
    response = post_form(
        client,
        URL,
        load("voice_incoming"),
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="voice.example.org",
    )
    stream = parse(response)[0]
    assert stream.attrib["url"].startswith("wss://voice.example.org/sautikit/stream/")
    assert stream.attrib["statusCallback"].startswith("https://voice.example.org/")


def test_it_ignores_forwarded_headers_when_exposed_directly(client, agent):
    response = post_form(
        client,
        URL,
        load("voice_incoming"),
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="evil.example.org",
    )
    stream = parse(response)[0]
    assert stream.attrib["url"].startswith("ws://testserver/sautikit/stream/")


def test_it_never_forks_a_second_stream(client, agent):
    post_form(client, URL, load("voice_incoming"))
    again = parse(post_form(client, URL, load("voice_incoming")))
    assert list(again) == []
    assert Call.objects.count() == 1
    assert CallEvent.objects.count() == 2


def test_it_answers_lifecycle_callbacks_with_an_empty_response(client, agent):
    post_form(client, URL, load("voice_incoming"))
    root = parse(post_form(client, URL, load("voice_completed")))
    assert root.tag == "Response" and list(root) == []
    call = Call.objects.get()
    assert call.status == Status.COMPLETED
    assert call.session_state == "Completed"
    assert call.duration_seconds == 47
    assert call.hangup_cause == "NORMAL_CLEARING"
    assert call.ended_at is not None
    assert [e.kind for e in call.events.all()] == ["incoming", "Completed"]


@pytest.mark.parametrize("state", ["StreamStarted", "StreamStopped", "busy", "Completed"])
def test_it_does_not_stream_when_the_first_callback_is_a_lifecycle_edge(client, agent, state):
    data = {**load("voice_incoming"), "callSessionState": state}
    root = parse(post_form(client, URL, data))
    assert list(root) == []
    call = Call.objects.get()
    assert call.stream_requested_at is None
    assert call.session_state == state


def test_it_says_sorry_and_hangs_up_for_an_unknown_number(client, agent):
    data = {**load("voice_incoming"), "destinationNumber": "+254799999999"}
    root = parse(post_form(client, URL, data))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "not in service" in root[0].text
    call = Call.objects.get()
    assert call.status == Status.REJECTED
    assert call.agent is None
    assert "no agent for number +254799999999" in call.end_reason


def test_it_says_sorry_for_an_inactive_agent(client, agent):
    agent.is_active = False
    agent.save()
    root = parse(post_form(client, URL, load("voice_incoming")))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    call = Call.objects.get()
    assert call.status == Status.REJECTED
    assert call.agent == agent
    assert "inactive" in call.end_reason


def test_it_rejects_politely_without_a_dialled_number(client, agent):
    root = parse(post_form(client, URL, {"sessionId": "nodest"}))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert Call.objects.get().status == Status.REJECTED


def test_it_finds_the_agent_when_webrtc_swaps_the_numbers(client, agent):
    data = {"sessionId": "webrtc-1", "callerNumber": "+254711000100", "destinationNumber": "alice"}
    assert parse(post_form(client, URL, data))[0].tag == "Stream"
    call = Call.objects.get()
    assert call.agent == agent
    assert call.dialled_number == "+254711000100"
    assert call.caller_number == "alice"
    assert call.metadata["numbers_swapped"] is True


def test_it_keeps_the_revision_the_call_ran_with(client, agent):
    post_form(client, URL, load("voice_incoming"))
    first = agent.current_revision
    agent.instructions = "Something new."
    agent.save()
    call = Call.objects.get()
    assert call.agent_revision == first
    assert call.agent_revision.snapshot["instructions"] == "You book appointments."
    assert Agent.objects.get().current_revision.number == first.number + 1


def test_it_escapes_unusual_call_ids_in_the_stream_url(client, agent):
    stream = parse(post_form(client, URL, {**load("voice_incoming"), "sessionId": "a+b=c"}))[0]
    path = urlsplit(stream.attrib["url"]).path
    assert path == "/sautikit/stream/a%2Bb%3Dc/"
    assert unquote(path.split("/")[3]) == "a+b=c"
