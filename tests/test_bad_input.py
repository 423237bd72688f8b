"""Bad input gets a clear 4xx and loses nothing; never a 500."""

from __future__ import annotations

import json

import pytest

from calls.models import Call, CallEvent
from tests.conftest import load, post_form, post_json

pytestmark = pytest.mark.django_db
URLS = ["/sautikit/voice/", "/sautikit/stream-status/", "/sautikit/events/"]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_it_refuses_wrong_methods_with_a_reason(client, url, method):
    response = getattr(client, method)(url)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert b"Sautikit POSTs" in response.content


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", b"malformed JSON"),
        ("[1, 2]", b"must be an object"),
        ('"text"', b"must be an object"),
        (b"\xff\xfe{}", b"malformed JSON"),
    ],
)
def test_it_refuses_malformed_json(client, url, body, reason):
    response = post_json(client, url, body)
    assert response.status_code == 400
    assert reason in response.content
    assert CallEvent.objects.count() == 0


@pytest.mark.parametrize("url", URLS)
def test_it_refuses_huge_bodies(client, url, settings):
    body = json.dumps({"sessionId": "x", "pad": "a" * (settings.WEBHOOK_MAX_BODY_BYTES + 1)})
    response = post_json(client, url, body)
    assert response.status_code == 413
    assert b"larger than" in response.content


@pytest.mark.parametrize("url", URLS)
def test_it_refuses_a_huge_body_that_declares_a_small_length(client, url, settings):
    body = b"a" * (settings.WEBHOOK_MAX_BODY_BYTES + 10)
    response = client.generic("POST", url, body, content_type="text/plain", CONTENT_LENGTH="5")
    # Only the declared length is read: the rest is never parsed.
    assert response.status_code in {400, 413}


@pytest.mark.parametrize("url", URLS)
def test_it_refuses_an_unknown_content_type(client, url):
    response = client.post(url, b"<xml/>", content_type="application/xml")
    assert response.status_code == 415
    assert b"form fields or JSON" in response.content


@pytest.mark.parametrize("url", URLS)
def test_it_refuses_too_many_form_fields(client, url):
    body = "&".join(f"f{i}=1" for i in range(1200))
    response = client.post(url, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert b"too many" in response.content


@pytest.mark.parametrize("url", URLS[:2])
def test_it_refuses_a_missing_call_id(client, url):
    response = post_form(client, url, {"callSessionState": "StreamStarted"})
    assert response.status_code == 400
    assert b"call id missing" in response.content
    assert Call.objects.count() == 0


def test_it_refuses_a_status_callback_without_a_state(client):
    response = post_form(client, "/sautikit/stream-status/", {"sessionId": "s1"})
    assert response.status_code == 400
    assert b"callSessionState missing" in response.content


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": None}, b"kind missing"),
        ({"event_id": None}, b"event_id missing"),
        ({"data": "text"}, b"data missing"),
        ({"data": {"from": "+254700000001"}}, b"call id missing"),
    ],
)
def test_it_refuses_events_missing_fields(client, change, reason):
    body = {**load("event_call_answered"), **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = post_json(client, "/sautikit/events/", body)
    assert response.status_code == 400
    assert reason in response.content
    assert CallEvent.objects.count() == 0


@pytest.mark.parametrize("url", URLS[:2])
def test_it_refuses_overlong_and_odd_call_ids(client, url):
    long = post_form(client, url, {"sessionId": "x" * 200, "callSessionState": "StreamStarted"})
    assert long.status_code == 400
    assert b"longer than" in long.content
    odd = post_form(client, url, {"sessionId": "a/b", "callSessionState": "StreamStarted"})
    assert odd.status_code == 400


def test_it_keeps_a_status_callback_for_an_unknown_call(client):
    response = post_json(client, "/sautikit/stream-status/", load("stream_stopped"))
    assert response.status_code == 202
    assert b"attached when it is" in response.content
    assert CallEvent.objects.get().payload == load("stream_stopped")


def test_it_survives_nul_characters_and_odd_types(client, agent):
    body = {
        **load("voice_incoming"),
        "callerNumber": "+2547\x0000",
        "isActive": True,
        "extra": {"nested": ["\x00x", 1.5, None]},
        "clientRequestId": 12345,
    }
    response = post_json(client, "/sautikit/voice/", body)
    assert response.status_code == 200
    call = Call.objects.get()
    assert "\x00" not in call.caller_number
    assert call.client_request_id == "12345"
    assert call.events.get().payload["extra"] == {"nested": ["x", 1.5, None]}


def test_it_survives_odd_event_values(client, agent):
    body = load("event_call_completed")
    body["data"] = {**body["data"], "duration_seconds": "forever", "hangup_cause": None}
    body["occurred_at"] = 1e300
    response = post_json(client, "/sautikit/events/", body)
    assert response.status_code == 200
    call = Call.objects.get()
    assert call.duration_seconds is None
    assert call.ended_at is not None


def test_it_answers_an_empty_body(client):
    response = client.post("/sautikit/voice/", b"", content_type="application/json")
    assert response.status_code == 400
    assert b"call id missing" in response.content or b"malformed" in response.content
