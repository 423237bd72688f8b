from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calls.models import Call, CallEvent, Status
from calls.webhook_fields import read_event
from tests.helpers import load, post_form, post_json

URL = "/sautikit/events/"
CALL_ID = "ATVId_5f0c2b1e9a7d4c3b8e21"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_recording_day")]

ANSWERED = datetime(2026, 11, 24, 9, 15, 4, tzinfo=UTC)
ENDED = datetime(2026, 11, 24, 9, 15, 51, tzinfo=UTC)


def test_it_follows_a_call_through_its_events(client, agent):
    post_form(client, "/sautikit/voice/", load("voice_incoming"))
    for name in ("event_call_started", "event_call_answered", "event_call_completed"):
        assert post_json(client, URL, load(name)).status_code == 200
    call = Call.objects.get()
    assert call.status == Status.COMPLETED
    assert call.started_at <= datetime(2026, 11, 24, 9, 15, 2, tzinfo=UTC)
    assert call.answered_at == ANSWERED
    assert call.ended_at == ENDED
    assert call.duration_seconds == 47
    assert call.hangup_cause == "NORMAL_CLEARING"
    assert call.end_reason == "hung up: NORMAL_CLEARING"
    assert [e.kind for e in call.events.filter(source="events")] == [
        "call.started",
        "call.answered",
        "call.completed",
    ]


def test_it_changes_nothing_for_a_duplicate_event_id(client, agent):
    post_json(client, URL, load("event_call_completed"))
    call = Call.objects.get()
    before = (call.updated_at, call.status, call.ended_at)
    again = post_json(client, URL, load("event_call_completed"))
    assert again.status_code == 200
    assert b"duplicate" in again.content
    call.refresh_from_db()
    assert (call.updated_at, call.status, call.ended_at) == before
    assert CallEvent.objects.count() == 1


def test_it_takes_the_event_id_from_the_header_when_the_body_lacks_it(client, agent):
    body = load("event_call_answered")
    del body["event_id"]
    for _ in range(2):
        post_json(client, URL, body, HTTP_X_SAUTIKIT_EVENT_ID="hdr-1")
    assert CallEvent.objects.get().event_id == "hdr-1"


def test_it_ends_up_right_when_events_come_out_of_order(client, agent):
    for name in ("event_call_completed", "event_call_answered", "event_call_started"):
        assert post_json(client, URL, load(name)).status_code == 200
    # The voice callback arrives last of all: the call is over, so no stream is forked.
    voice = post_form(client, "/sautikit/voice/", load("voice_incoming"))
    assert b"<Stream" not in voice.content
    call = Call.objects.get()
    assert call.status == Status.COMPLETED
    assert call.answered_at == ANSWERED
    assert call.ended_at == ENDED
    assert call.agent == agent
    assert call.caller_number == "+254700000001"
    assert call.direction == "inbound"
    assert call.events.count() == 4
    # Shown in the order they happened, not the order they arrived.
    kinds = [e.kind for e in call.events.filter(source="events")]
    assert kinds == ["call.started", "call.answered", "call.completed"]


def test_it_does_not_let_a_late_answer_reopen_a_completed_call(client, agent):
    post_json(client, URL, load("event_call_completed"))
    post_json(client, URL, load("event_call_answered"))
    assert Call.objects.get().status == Status.COMPLETED


def test_it_records_a_failed_call(client, agent):
    post_json(client, URL, load("event_call_failed"))
    call = Call.objects.get(call_id="ATVId_9e8d7c6b5a4f3e2d1c0b")
    assert call.status == Status.FAILED
    assert call.failure_reason == "media_timeout"
    assert call.ended_at == datetime(2026, 11, 24, 10, 1, 12, tzinfo=UTC)
    # Found from the number the event says was dialled.
    assert call.agent == agent


def test_it_keeps_recordings_once(client, agent):
    post_json(client, URL, load("event_recording_ready"))
    body = {**load("event_recording_ready"), "event_id": "evt_other_delivery"}
    post_json(client, URL, body)
    [recording] = Call.objects.get().metadata["recordings"]
    assert recording["recording_id"] == "rec_4m2n8p"
    assert recording["size_bytes"] == 752044


def test_it_stores_unknown_kinds_and_answers_2xx(client, agent):
    body = {**load("event_call_answered"), "kind": "call.transferred", "event_id": "evt_x"}
    response = post_json(client, URL, body)
    assert response.status_code == 202
    assert CallEvent.objects.get().kind == "call.transferred"


def test_it_keeps_an_event_whose_optional_times_are_unreadable(client, agent):
    body = load("event_call_answered")
    body["data"] = {**body["data"], "answered_at": "soon"}
    assert post_json(client, URL, body).status_code == 200
    call = Call.objects.get()
    assert call.status == Status.IN_PROGRESS
    assert call.answered_at is not None


def test_it_reads_an_events_fields_before_the_call_takes_them():
    payload = load("event_call_completed")
    fields = read_event("call.completed", payload["data"], ENDED, "254")
    assert fields.answered_at == ANSWERED
    assert fields.ended_at == ENDED
    assert fields.duration_seconds == 47
    assert fields.hangup_cause == "NORMAL_CLEARING"
    assert fields.recording is None
    # Any spelling of the caller's number is one number; a time far off is no time at all.
    odd = {"from": "0712 345 678", "answered_at": "5138-01-01T00:00:00Z", "duration_seconds": "x"}
    fields = read_event("call.answered", odd, ENDED, "254")
    assert (fields.caller, fields.answered_at, fields.duration_seconds) == (
        "+254712345678",
        None,
        None,
    )
