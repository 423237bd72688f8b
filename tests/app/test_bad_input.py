"""Bad input gets a clear 4xx and loses nothing; never a 500."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, OperationalError

from calls.models import Call, CallEvent
from tests.helpers import load, post_form, post_json

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
    del body["occurred_at"]
    response = post_json(client, "/sautikit/events/", body)
    assert response.status_code == 200
    call = Call.objects.get()
    assert call.duration_seconds is None
    assert call.ended_at is not None


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_it_refuses_nan_and_infinity(client, url, constant):
    body = json.dumps(load("event_call_completed"))
    body = body.replace('"duration_seconds": 47', f'"duration_seconds": {constant}')
    assert constant in body
    response = post_json(client, url, body)
    assert response.status_code == 400
    assert f"{constant.lstrip('-')} is not a JSON number".encode() in response.content
    assert CallEvent.objects.count() == 0


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("depth", [40, 20_000])
def test_it_refuses_deep_nesting(client, url, depth):
    body = '{"sessionId": "x", "a": ' + "[" * depth + "]" * depth + "}"
    response = post_json(client, url, body)
    assert response.status_code == 400
    assert b"nested deeper than" in response.content
    assert CallEvent.objects.count() == 0


@pytest.mark.parametrize("when", ["0001-01-01T00:00+05:00", "9999-12-31T23:59-05:00", 1e300,
                                  "yesterday", "2026-13-45T00:00Z"])  # fmt: skip
def test_it_refuses_impossible_event_times(client, agent, when):
    body = {**load("event_call_completed"), "occurred_at": when}
    response = post_json(client, "/sautikit/events/", body)
    assert response.status_code == 400
    assert b"occurred_at is not a time" in response.content
    assert CallEvent.objects.count() == 0


def test_it_keeps_far_away_times_as_sent_without_letting_them_drive_the_call(client, agent):
    post_form(client, "/sautikit/voice/", load("voice_incoming"))
    body = load("event_call_completed")
    body["occurred_at"] = "5138-01-01T00:00:00Z"
    body["data"] = {**body["data"], "ended_at": "1970-01-01T00:00:00Z",
                    "answered_at": "5138-01-01T00:00:00Z"}  # fmt: skip
    response = post_json(client, "/sautikit/events/", body)
    assert response.status_code == 200
    event = CallEvent.objects.get(kind="call.completed")
    assert event.payload["occurred_at"] == "5138-01-01T00:00:00Z"  # kept as sent
    assert abs(event.occurred_at - event.received_at) < timedelta(seconds=5)
    call = Call.objects.get()
    assert abs(call.ended_at - event.received_at) < timedelta(seconds=5)
    assert call.answered_at is None


def test_only_a_repeated_event_id_is_a_duplicate(client, agent, monkeypatch):
    def refuse(*args, **kwargs):
        raise IntegrityError("CHECK constraint failed: duration_seconds")

    monkeypatch.setattr(Call, "apply_event", refuse)
    response = post_json(client, "/sautikit/events/", load("event_call_completed"))
    assert response.status_code == 422
    assert b"could not be stored" in response.content
    assert CallEvent.objects.count() == 0


@pytest.mark.parametrize("url", URLS)
def test_it_asks_for_a_retry_when_the_database_is_busy(client, agent, monkeypatch, url):
    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(Call, "record_event", locked)
    name = {"/sautikit/voice/": "voice_incoming", "/sautikit/stream-status/": "stream_started",
            "/sautikit/events/": "event_call_completed"}[url]  # fmt: skip
    response = post_json(client, url, load(name))
    assert response.status_code == 503
    assert response["Retry-After"]
    assert b"please retry" in response.content


def test_it_answers_an_empty_body(client):
    response = client.post("/sautikit/voice/", b"", content_type="application/json")
    assert response.status_code == 400
    assert b"call id missing" in response.content or b"malformed" in response.content


def test_it_stores_lone_surrogates_as_replacement_characters(client, agent):
    """JSON may spell half a UTF-16 pair ("\\ud800"); no database can encode it."""
    fields = {"sessionId": "SURR_1", "callerNumber": "@", "note": "a#b",
              "destinationNumber": agent.phone_number}  # fmt: skip
    body = json.dumps(fields).replace("@", "\\ud800").replace("#", "\\udfff")
    response = post_json(client, "/sautikit/voice/", body)
    assert response.status_code == 200
    event = CallEvent.objects.get(call__call_id="SURR_1")
    assert event.payload["note"] == "a\ufffdb"


def test_it_takes_the_call_id_from_the_query_when_nothing_is_signed(client, agent):
    """Development (no secret): query fields fill what the body lacks, the call id too."""
    response = post_form(
        client, f"/sautikit/voice/?sessionId=Q_ONLY&destinationNumber={agent.phone_number}", {}
    )
    assert response.status_code == 200
    assert Call.objects.filter(call_id="Q_ONLY").exists()
